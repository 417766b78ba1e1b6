"""The job source port: something that may have new jobs for this landing zone."""

from __future__ import annotations

from typing import Protocol


class JobSource(Protocol):
    name: str

    def poll(self, now: float) -> int:
        """Bring in whatever new jobs are ready (through intake), without blocking the tick;
        return how many arrived. Long waits (a hub's long-poll) belong on the source's own thread."""
        ...
