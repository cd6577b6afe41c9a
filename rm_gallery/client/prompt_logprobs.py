"""Log-probabilities of a given continuation from a vLLM server (``prompt_logprobs``), no generation needed.

What ReasonGenRM's data pipeline needs at scale: P(reason | user) and P(verdict | user, reason) for many
sampled chains. The prefix and the continuation are tokenized separately by the server (``/tokenize``,
no special tokens added), their ids are sent as one prompt to ``/v1/completions`` with ``prompt_logprobs=0``
and ``max_tokens=1``, and the log-probabilities of the continuation's own tokens are read back. Tokenizing
the two parts separately is what the in-process scorer does too, so both score the same token sequence.

vLLM-specific (``/tokenize`` and ``prompt_logprobs`` are vLLM extensions of the OpenAI API).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from rm_gallery.client.completion import MalformedResponse
from rm_gallery.client.transport import AiohttpTransport

#: Tokenized texts a scorer keeps (prefixes repeat across the chains of one sample).
TOKENIZE_CACHE = 256


def server_root(base_url: str) -> str:
    """``http://host:port`` from ``http://host:port/v1``: vLLM serves ``/tokenize`` at the root."""
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def continuation_logprobs_from(response: Mapping[str, Any], token_ids: Sequence[int], start: int) -> list[float]:
    """The log-probability of each prompt token from ``start`` on, read from a completions response.

    ``prompt_logprobs`` has one entry per prompt token (``None`` for the first), each a mapping from token id
    (a string in JSON) to ``{"logprob": ...}`` that holds at least the actual token.
    """
    try:
        entries = response["choices"][0]["prompt_logprobs"]
    except (KeyError, IndexError, TypeError):
        raise MalformedResponse("the server returned no prompt_logprobs (is it vLLM?)") from None
    if not isinstance(entries, list) or len(entries) != len(token_ids):
        raise MalformedResponse(f"prompt_logprobs has {len(entries) if isinstance(entries, list) else 'no'} "
                                f"entries for {len(token_ids)} prompt tokens")
    out = []
    for position in range(start, len(token_ids)):
        entry = entries[position]
        item = entry.get(str(token_ids[position])) if isinstance(entry, Mapping) else None
        if not isinstance(item, Mapping) or not isinstance(item.get("logprob"), (int, float)):
            raise MalformedResponse(f"prompt_logprobs lacks the prompt's own token at position {position}")
        out.append(float(item["logprob"]))
    return out


class PromptLogprobScorer:
    """``await scorer.continuation_logprobs(prefix, continuation)`` against one vLLM server.

    Args:
        base_url: the server's OpenAI base URL (``http://host:port/v1``).
        model: the served model name.
        api_key: sent as a bearer token, never logged.
        timeout: seconds per request.
        max_in_flight: requests at once (each scoring call makes three).
    """

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, timeout: float = 120.0,
                 max_in_flight: int = 16) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self._transport = AiohttpTransport(api_key)
        self._max_in_flight = max_in_flight
        self._sem: asyncio.Semaphore | None = None
        # The K chains of a sample share their user prefix: keep recent tokenizations (bounded, oldest out).
        self._tokens: OrderedDict[str, list[int]] = OrderedDict()

    def __repr__(self) -> str:
        return f"PromptLogprobScorer(model={self.model!r}, base_url={self.base_url!r})"

    async def _post(self, base: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self._max_in_flight)
        async with self._sem:
            return await self._transport.post_json(base, path, payload, self.timeout)

    async def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text`` as the server's tokenizer splits it, without special tokens."""
        cached = self._tokens.get(text)
        if cached is not None:
            self._tokens.move_to_end(text)
            return cached
        body = await self._post(server_root(self.base_url), "/tokenize",
                                {"model": self.model, "prompt": text, "add_special_tokens": False})
        tokens = body.get("tokens")
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            raise MalformedResponse(f"{server_root(self.base_url)}/tokenize returned no token list")
        self._tokens[text] = tokens
        if len(self._tokens) > TOKENIZE_CACHE:
            self._tokens.popitem(last=False)
        return tokens

    async def continuation_logprobs(self, prefix: str, continuation: str) -> list[float]:
        """log P(token | everything before it) for each token of ``continuation`` after ``prefix``."""
        pre, cont = await asyncio.gather(self.tokenize(prefix), self.tokenize(continuation))
        if not pre:
            raise ValueError("the prefix must not be empty: the first prompt token has no log-probability")
        ids = pre + cont
        body = await self._post(self.base_url, "/completions",
                                {"model": self.model, "prompt": ids, "max_tokens": 1, "temperature": 0.0,
                                 "prompt_logprobs": 0})
        return continuation_logprobs_from(body, ids, len(pre))

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> PromptLogprobScorer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
