"""Endpoint pool: several base_urls serving the same model, least-loaded dispatch, routing around failures."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass


@dataclass(slots=True)
class Endpoint:
    """One base_url with its live load and health."""

    base_url: str
    in_flight: int = 0
    down_until: float = 0.0
    failures: int = 0
    served: int = 0

    def healthy(self, now: float) -> bool:
        return self.down_until <= now


class EndpointPool:
    """Hands out the least-loaded healthy endpoint; one that fails at the connection level is benched.

    A benched endpoint comes back after a cool-down that doubles with each consecutive failure
    (capped), so a replica that was restarted rejoins without anyone intervening. ``per_endpoint_limit``
    caps in-flight requests per replica; callers wait for a free slot rather than overload one.
    ``prefer`` (a subset of ``base_urls``) keeps the traffic on those replicas while any of them is healthy and
    fails over to the others only when none is: how distributed workers each drive their own share of replicas.
    """

    def __init__(self, base_urls: list[str], *, per_endpoint_limit: int | None = None,
                 cooldown_s: float = 1.0, max_cooldown_s: float = 30.0, prefer: list[str] | None = None) -> None:
        if not base_urls:
            raise ValueError("an endpoint pool needs at least one base_url")
        self.endpoints = [Endpoint(u.rstrip("/")) for u in base_urls]
        wanted = {u.rstrip("/") for u in prefer or ()}
        unknown = wanted - {e.base_url for e in self.endpoints}
        if unknown:
            raise ValueError(f"preferred endpoints must be among the base_urls: {sorted(unknown)}")
        self.preferred = [e for e in self.endpoints if e.base_url in wanted]
        self.per_endpoint_limit = per_endpoint_limit
        self.cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self._rr = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def _pick(self) -> Endpoint | None:
        now = time.monotonic()
        eps = self.endpoints
        if self.preferred and any(e.healthy(now) for e in self.preferred):
            eps = self.preferred  # every preferred replica benched: the others serve meanwhile
        if len(eps) == 1:
            ep = eps[0]
            return ep if self.per_endpoint_limit is None or ep.in_flight < self.per_endpoint_limit else None
        limit = self.per_endpoint_limit
        best: Endpoint | None = None
        n = len(eps)
        self._rr = (self._rr + 1) % n
        for i in range(n):  # rotate the start so equal loads spread round-robin
            ep = eps[(self._rr + i) % n]
            if not ep.healthy(now) or (limit is not None and ep.in_flight >= limit):
                continue
            if best is None or ep.in_flight < best.in_flight:
                best = ep
        if best is None:
            if any(e.healthy(now) for e in eps):
                return None  # healthy replicas are only busy: wait for a slot rather than hit a benched one
            # everything benched: try the one that comes back first rather than fail outright
            candidates = [e for e in eps if limit is None or e.in_flight < limit]
            if candidates:
                best = min(candidates, key=lambda e: e.down_until)
        return best

    async def acquire(self) -> Endpoint:
        """The endpoint to send the next request to (waits only when every replica is at its cap)."""
        ep = self._pick()
        while ep is None:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            await fut
            ep = self._pick()
        ep.in_flight += 1
        return ep

    def other_healthy(self, ep: Endpoint) -> bool:
        """Whether a replica other than ``ep`` is currently healthy (a failed request can move there now)."""
        now = time.monotonic()
        return any(e is not ep and e.healthy(now) for e in self.endpoints)

    def release(self, ep: Endpoint, *, failed: bool = False) -> None:
        """Return a slot; ``failed=True`` (connection-level failure, 5xx) benches the endpoint for a while."""
        ep.in_flight -= 1
        if failed:
            ep.failures += 1
            ep.down_until = time.monotonic() + min(self.cooldown_s * 2 ** (ep.failures - 1), self.max_cooldown_s)
        else:
            ep.served += 1
            ep.failures = 0
            ep.down_until = 0.0
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                break
