"""The async chat-model client: any OpenAI-compatible endpoint (vLLM, OpenAI, a pool of replicas).

The client owns everything about HTTP: retries with exponential backoff that honour ``Retry-After``,
per-request timeouts, rate limits (requests/s with asyncio-throttle, in-flight requests with a
semaphore), and dispatch over a pool of base_urls. Sampling parameters are passed through untouched.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from rm_gallery.client.completion import Completion, MalformedResponse, completion_from_response
from rm_gallery.client.errors import EndpointUnreachable, ModelAPIError, ModelError, redact
from rm_gallery.client.pool import EndpointPool
from rm_gallery.client.transport import make_transport

SystemRolePolicy = Literal["native", "merge"]
Messages = list[dict[str, str]]


@runtime_checkable
class ChatModel(Protocol):
    """What graders need from a model: a name, a cache identity and one async call."""

    model: str

    @property
    def cache_identity(self) -> str: ...

    async def complete(self, messages: Messages, **params: Any) -> Completion: ...


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter; a server's ``Retry-After`` is a floor, capped at ``max_wait``."""

    max_retries: int = 5
    base: float = 0.5
    max_backoff: float = 30.0
    max_wait: float = 120.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = random.uniform(0, min(self.max_backoff, self.base * 2**attempt))
        if retry_after is not None:
            backoff = max(backoff, retry_after)
        return min(backoff, self.max_wait)


@dataclass
class ClientStats:
    """Counters a run summary reports: requests sent, retries, and failures by status or kind."""

    requests: int = 0
    retries: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    retry_wait_s: float = 0.0


def apply_system_policy(messages: Messages, policy: SystemRolePolicy) -> Messages:
    """``merge`` folds system turns into the first user turn, for judge models that reject a system role."""
    if policy == "native" or not any(m["role"] == "system" for m in messages):
        return messages
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [m for m in messages if m["role"] != "system"]
    for i, m in enumerate(rest):
        if m["role"] == "user":
            rest[i] = {"role": "user", "content": f"{system}\n\n{m['content']}"}
            return rest
    return [{"role": "user", "content": system}, *rest]


class OpenAIChatModel:
    """An async client for one model behind one or more OpenAI-compatible base_urls.

    Args:
        model: the model name the server expects.
        base_url: a URL or a list of URLs of replicas serving the same model (default
            ``$OPENAI_BASE_URL`` or OpenAI's).
        api_key: default ``$OPENAI_API_KEY``; never written to caches, results or logs.
        timeout: seconds per request attempt.
        retry: a :class:`RetryPolicy`, or ``max_retries`` for the default policy.
        requests_per_second / max_in_flight: rate limits across all replicas.
        max_in_flight_per_endpoint: cap per replica (the pool waits for a slot instead of overloading one).
        prefer_endpoints: a subset of ``base_url`` to send to while any of it is healthy (the rest is failover);
            distributed workers each get their own share of the replicas this way, with one cache identity.
        system_role: ``"native"`` or ``"merge"`` (fold system text into the first user turn).
        transport: ``"auto"`` (the lean HTTP/1.1 client for ``http://``, aiohttp for ``https://``),
            ``"http11"``, ``"aiohttp"`` or ``"openai"`` (the official SDK, one client per endpoint).
        params: default sampling parameters merged under each call's parameters.
        is_local: run ``model`` (a local folder) in-process with transformers instead of over HTTP
            (RM-Gallery's documented flag); returns a :class:`~rm_gallery.local.backend.TransformersChatModel`.
    """

    def __new__(cls, model: str = "", *args: Any, is_local: bool = False, **kwargs: Any) -> Any:
        if is_local:
            from rm_gallery.local.backend import TransformersChatModel

            keep = {k: v for k, v in kwargs.items() if k in ("system_role", "params")}
            return TransformersChatModel(model, **keep)
        return super().__new__(cls)

    def __init__(
        self,
        model: str,
        base_url: str | list[str] | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        max_retries: int | None = None,
        requests_per_second: float | None = None,
        max_in_flight: int | None = None,
        max_in_flight_per_endpoint: int | None = None,
        system_role: SystemRolePolicy = "native",
        transport: Literal["auto", "http11", "aiohttp", "openai"] = "auto",
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        is_local: bool = False,
        prefer_endpoints: list[str] | None = None,
    ) -> None:
        if system_role not in ("native", "merge"):
            raise ValueError(f"system_role must be 'native' or 'merge', got {system_role!r}")
        urls = base_url if isinstance(base_url, list) else [
            base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"]
        self.model = model
        self.base_urls = [u.rstrip("/") for u in urls]
        self.timeout = timeout
        self.retry = retry or RetryPolicy(**({} if max_retries is None else {"max_retries": max_retries}))
        self.system_role: SystemRolePolicy = system_role
        self.transport_kind = transport
        self.params = dict(params or {})
        self.stats = ClientStats()
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._secrets = tuple(s for s in (key,) if s)
        self._transport = make_transport(transport, key, headers)
        self._pool = EndpointPool(self.base_urls, per_endpoint_limit=max_in_flight_per_endpoint,
                                  prefer=prefer_endpoints)
        self._rps = requests_per_second
        self._throttler: Any = None
        self._max_in_flight = max_in_flight
        self._sem: asyncio.Semaphore | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIChatModel(model={self.model!r}, base_url={self.base_urls!r})"

    @property
    def cache_identity(self) -> str:
        """Model name and endpoints (sorted), never the key: what makes two answers interchangeable."""
        return f"{self.model}@{','.join(sorted(self.base_urls))}"

    @property
    def pool(self) -> EndpointPool:
        return self._pool

    async def complete(self, messages: Messages, **params: Any) -> Completion:
        """Send one chat request (with retries) and return its parsed Completion."""
        payload: dict[str, Any] = {"model": self.model,
                                   "messages": apply_system_policy(messages, self.system_role)}
        if self.params:
            payload.update(self.params)
        payload.update(params)
        if self._max_in_flight is None:
            return await self._send(payload)
        if self._sem is None:
            self._sem = asyncio.Semaphore(self._max_in_flight)
        async with self._sem:
            return await self._send(payload)

    async def _send(self, payload: dict[str, Any]) -> Completion:
        policy = self.retry
        stats = self.stats
        attempt = 0
        while True:
            if self._rps is not None:
                if self._throttler is None:
                    from asyncio_throttle import Throttler

                    self._throttler = Throttler(rate_limit=max(1, int(self._rps)), period=max(1, int(self._rps))
                                                / self._rps)
                await self._throttler.acquire()
            ep = await self._pool.acquire()
            stats.requests += 1
            t0 = time.perf_counter()
            try:
                body = await self._transport.chat(ep.base_url, payload, self.timeout)
                completion = completion_from_response(body, latency_s=time.perf_counter() - t0)
            except (ModelError, MalformedResponse) as exc:
                err = exc if isinstance(exc, ModelError) else ModelAPIError(
                    f"{ep.base_url}: {exc}", retryable=True, endpoint=ep.base_url)
                # Connection failures and 5xx bench the replica; 429 and timeouts are load, not sickness.
                benched = err.retryable and (err.status is None or err.status >= 500) and err.kind != "timeout"
                self._pool.release(ep, failed=benched)
                stats.failures[str(err.status or err.kind)] += 1
                if not err.retryable or attempt >= policy.max_retries:
                    if attempt:
                        err.args = (f"{err.args[0]} (after {attempt + 1} attempts)",)
                    if self._secrets:
                        err.args = (redact(str(err.args[0]), self._secrets),)
                    raise err from None
                # A sick replica with a healthy sibling: fail over at once instead of backing off.
                wait = 0.0 if benched and self._pool.other_healthy(ep) else policy.delay(attempt, err.retry_after)
                stats.retries += 1
                stats.retry_wait_s += wait
                attempt += 1
                await asyncio.sleep(wait)
                continue
            self._pool.release(ep)
            return completion

    async def acomplete(self, prompt: str | Messages, **params: Any) -> Completion:
        """RM-Gallery style: a string prompt becomes one user turn."""
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        return await self.complete(messages, **params)

    async def check_reachable(self, timeout: float = 5.0) -> None:
        """Raise :class:`EndpointUnreachable` if no base_url accepts a connection (any HTTP status counts)."""
        errors = []
        for url in self.base_urls:
            try:
                await self._transport.get(url, "/models", timeout)
                return
            except ModelError as e:
                errors.append(str(e))
        raise EndpointUnreachable(redact("; ".join(errors), self._secrets))

    async def aclose(self) -> None:
        await self._transport.aclose()


__all__ = ["ChatModel", "ClientStats", "OpenAIChatModel", "RetryPolicy", "SystemRolePolicy",
           "apply_system_policy"]
