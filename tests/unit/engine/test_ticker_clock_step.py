"""The daemon's tick survives a wall-clock step (issue 20, item 4 for the engine): APScheduler 3
plans on the wall clock, so after the clock is set back an hour its next run is an hour away; the
ticker's watchdog, on the monotonic clock, ticks after two periods instead."""

import threading
import time
from datetime import UTC, datetime, timedelta

from lz.daemon import Ticker


class CountingEngine:
    def __init__(self) -> None:
        self.ticks = 0
        self.ticked = threading.Event()

    def tick(self) -> None:
        self.ticks += 1
        self.ticked.set()

    def next_look_in(self) -> float | None:
        return None


def test_a_stalled_schedule_is_woken_by_the_watchdog() -> None:
    engine = CountingEngine()
    ticker = Ticker(engine, 0.2)  # type: ignore[arg-type]
    ticker.start()
    try:
        assert engine.ticked.wait(5)
        # what a step back of an hour does: APScheduler's next run is an hour away
        ticker.scheduler.modify_job("tick", next_run_time=datetime.now(UTC) + timedelta(hours=1))
        before = engine.ticks
        time.sleep(1.5)
        assert engine.ticks >= before + 1, "the tick stalled with the wall clock"
    finally:
        ticker.stop()
