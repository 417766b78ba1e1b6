"""Exponential back-off for an unwell controller (pure: the caller passes the time)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    base_s: float = 2.0
    cap_s: float = 300.0
    failures: int = 0
    down_since: float | None = None
    next_try: float = 0.0

    def ready(self, now: float) -> bool:
        """Time for the next try; also when the clock was stepped back beyond the longest wait."""
        return now >= self.next_try or self.next_try - now > self.cap_s

    def failed(self, now: float) -> None:
        self.failures += 1
        self.down_since = self.down_since if self.down_since is not None else now
        self.next_try = now + min(self.cap_s, self.base_s * 2 ** (self.failures - 1))

    def succeeded(self) -> None:
        self.failures = 0
        self.down_since = None
        self.next_try = 0.0

    @property
    def healthy(self) -> bool:
        return self.failures == 0
