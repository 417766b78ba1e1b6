"""The hub's abuse limits as request handlers apply them: per-address rate limits (counted in
the database, ``lz.hub.server.domain.rate_limits``, so all hub processes share them), and two
bounds of one process: password checks at once (argon2id takes 64 MiB each) and long-poll
claims at once per token. Beyond a bound the answer comes at once (429/503 with Retry-After),
never a queue that grows with the callers."""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from lz.hub.server.domain import rate_limits
from lz.hub.server.errors import Busy, TooMany

if TYPE_CHECKING:
    from lz.hub.server.hub import Hub


def address(request: Request) -> str:
    """Who asks, as the limits count them: the client's address, an IPv6 one by its /64 (one
    host usually holds a whole /64, so counting single addresses would count nothing)."""
    host = request.client.host if request.client else "unknown"
    try:
        parsed = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


async def per_address(hub: Hub, request: Request, what: str, limit: int) -> None:
    """Count one ``what`` from the request's address; TooMany past ``limit`` per window."""
    rule = rate_limits.Rule(limit, hub.config.rate_window_s)
    wait = await run_in_threadpool(hub.write, rate_limits.hit, f"{what}-from:{address(request)}", hub.now(), rule)
    if wait:
        raise TooMany(f"too many {what} requests from your address: try again in {_human(wait)}", wait)


async def per_key(hub: Hub, key: str, what: str, limit: int) -> None:
    """The same for any other key (a signed-in user, ...)."""
    rule = rate_limits.Rule(limit, hub.config.rate_window_s)
    wait = await run_in_threadpool(hub.write, rate_limits.hit, key, hub.now(), rule)
    if wait:
        raise TooMany(f"too many {what} requests: try again in {_human(wait)}", wait)


def _human(seconds: float) -> str:
    return f"{int(seconds + 0.999)} s" if seconds < 120 else f"{int(seconds / 60 + 0.999)} min"


class Slots:
    """At most ``size`` holders at once in this process; one more is refused at once (Busy)."""

    def __init__(self, size: int, what: str):
        self._free = threading.BoundedSemaphore(size)
        self.what = what

    @contextmanager
    def held(self) -> Iterator[None]:
        if not self._free.acquire(blocking=False):
            raise Busy(f"the hub is busy with other {self.what}: try again in a second", 1.0)
        try:
            yield
        finally:
            self._free.release()


class PerKeyCap:
    """At most ``size`` holders at once per key in this process (long polls per token)."""

    def __init__(self, size: int, what: str, per: str, retry_after_s: float = 5.0):
        self.size = size
        self.what = what
        self.per = per
        self.retry_after_s = retry_after_s
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    @contextmanager
    def held(self, key: str) -> Iterator[None]:
        with self._lock:
            if self._held[key] >= self.size:
                raise TooMany(f"at most {self.size} {self.what} at once {self.per}: wait for one to end",
                              self.retry_after_s)
            self._held[key] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[key] -= 1
                if self._held[key] <= 0:
                    del self._held[key]

    def holding(self, key: str) -> int:
        return self._held[key]
