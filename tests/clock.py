"""The one fake clock of the tests: time moves only when the test says, so a lease that expires,
a backoff that ends or a job past its limit is a line in the test, not a sleep."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Clock:
    """Wall time (``clock()``, ``clock.now``) and a monotonic reading (``clock.monotonic()``).
    ``advance`` moves both, as time passing does; ``step`` moves the wall time alone, as NTP or
    an admin's ``date -s`` does, which is what the code must survive without a monotonic jump."""

    now: float = field(default_factory=time.time)
    mono: float = 1_000.0

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.mono += seconds

    def step(self, seconds: float) -> None:
        self.now += seconds
