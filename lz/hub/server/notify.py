"""Wake-ups for long polls: a submission in this process wakes its waiting claims at once;
claims waiting on another process's submissions find them by re-checking the database every
``recheck_s`` (no busy polling, well under a second, correct behind a load balancer)."""

from __future__ import annotations

import asyncio


class Notifier:
    def __init__(self, recheck_s: float = 0.25):
        self.recheck_s = recheck_s
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Callable from any thread (the submit handler runs in the thread pool)."""
        loop, event = self._loop, self._event
        if loop is None or event is None:
            return
        loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        """Until the next notification or ``min(timeout, recheck_s)``."""
        event = self._event
        if event is None:
            await asyncio.sleep(min(timeout, self.recheck_s))
            return
        try:
            await asyncio.wait_for(event.wait(), min(timeout, self.recheck_s))
        except TimeoutError:
            pass
