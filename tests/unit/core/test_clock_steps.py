"""A wall clock stepped back (NTP, ``date -s``) must not stop the daemon looking at its jobs, nor
stretch a controller back-off; found by the clock drill (``tests/integration/test_outages.py``)."""

from pathlib import Path

from lz.core.backoff import Backoff
from lz.core.layout import JobPaths
from lz.core.records import Observation, Tracked
from lz.engine.watcher import Watcher
from lz.executors.base import Executor


class Answers(Executor):
    def submit(self, job, argv):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def observe(self, jobs):  # type: ignore[no-untyped-def]
        return {j.job_id: Observation("running") for j in jobs}

    def cancel(self, jobs):  # type: ignore[no-untyped-def]
        pass


def test_the_watcher_keeps_looking_after_the_clock_steps_back() -> None:
    now = [10_000.0]
    watcher = Watcher(Answers(), clock=lambda: now[0], interval_s=5, usage_interval_s=30, backoff_max_s=60)
    assert watcher.look([]).fresh
    tracked = [Tracked("j1", None, JobPaths.under(Path("/nonexistent"), "j1"))]
    assert watcher.look(tracked).fresh
    now[0] -= 3600
    assert watcher.look(tracked).fresh


def test_a_back_off_is_not_stretched_by_a_clock_stepped_back() -> None:
    backoff = Backoff(base_s=2, cap_s=60)
    backoff.failed(10_000.0)
    assert not backoff.ready(10_001.0)
    assert backoff.ready(10_000.0 - 3600)
