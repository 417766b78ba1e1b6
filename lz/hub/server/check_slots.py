"""A bound on the checks of uploads (a job's archive, a zone's results) one hub process runs at
once. Each check decompresses and unpacks an archive (CPU, scratch disk): without a bound, many
uploads at once would make one process run as many checks as it has threads. A request waits
for a slot a little while (a coroutine, not a thread), then is refused with 503 and Retry-After."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from lz.hub.server.errors import Busy

_POLL_S = 0.05


class CheckSlots:
    def __init__(self, slots: int, wait_s: float):
        self._free = threading.BoundedSemaphore(slots)
        self.slots = slots
        self.wait_s = wait_s

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the ``async with`` block, or raise ``Busy`` after ``wait_s``."""
        deadline = time.monotonic() + self.wait_s
        while not self._free.acquire(blocking=False):
            if time.monotonic() >= deadline:
                raise Busy(f"the hub is checking {self.slots} uploads already; try again shortly",
                           retry_after_s=max(1, round(self.wait_s)))
            await anyio.sleep(_POLL_S)
        try:
            yield
        finally:
            self._free.release()
