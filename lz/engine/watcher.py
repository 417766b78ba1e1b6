"""The one place that asks the executor about jobs (in the spirit of submitit's InfoWatcher).

Every status and usage query for all jobs goes through here, at most once per ``min_interval_s``
whatever wakes the daemon: a wake-up starts builds and submissions at once, never an extra
``squeue``. The gap between two queries adapts: right after a submission, or a query that found a
job in a new phase, the next one comes after ``min_interval_s`` (a 1-s job is seen ended a second
or two after it ended, not a whole interval later); each query that finds nothing new doubles the
gap, up to ``interval_s``. While more jobs wait in the scheduler's queue (pending) than two rounds
of those running, the gap grows whatever happens: the scheduler starts them without lz, and seeing
the others end sooner would only cost calls, so behind such a backlog it may grow past the
interval, up to ``BACKLOG_STRETCH`` intervals, but never past the time the backlog should take to
drain at the rate jobs started between the last two looks (200 queued 1-s jobs on 2 CPUs: an
``squeue`` every 15 s, then closer as the queue shortens); once the queue is down to its last two
rounds, the tail is followed at the floor (two, so that a gap grown to the interval still finds
the last round before it ends). While
the controller is down the watcher backs off (exponentially, capped) and says so; a timeout is
never a failed job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from lz.core.backoff import Backoff
from lz.core.errors import ControllerUnavailable
from lz.core.events import ControllerEvent, Listeners
from lz.core.records import Observation, Tracked, Usage
from lz.executors.base import Executor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Look:
    """One tick's view: ``fresh`` when the executor answered for every given job just now."""

    fresh: bool
    seen: dict[str, Observation] = field(default_factory=dict)


@dataclass(frozen=True)
class Health:
    """The controller as the watcher last found it (for ``lz status``)."""

    down_since: float | None
    error: str | None
    calls: dict[str, int]


class Watcher:
    def __init__(self, executor: Executor, *, clock: Callable[[], float], interval_s: float,
                 usage_interval_s: float, backoff_max_s: float, listeners: Listeners | None = None,
                 min_interval_s: float | None = None):
        """``min_interval_s``: the shortest gap (default ``interval_s``: a fixed interval)."""
        self.executor = executor
        self.clock = clock
        self.interval_s = interval_s
        self.min_interval_s = min(interval_s, min_interval_s if min_interval_s is not None else interval_s)
        self._gap_s = self.min_interval_s  # the wait before the next look, between the two
        self._backlog_cap_s = BACKLOG_STRETCH * interval_s if self.min_interval_s < interval_s else interval_s
        self._phases: dict[str, str] = {}  # each watched job's phase at the last look
        self._backlog = False  # whether the last look found more jobs pending than two rounds of the running
        self._watching = False  # whether the last tick had jobs out (a look will be wanted)
        self.usage_interval_s = usage_interval_s
        self.backoff = Backoff(cap_s=backoff_max_s)
        self.listeners = listeners or Listeners()
        self.calls: dict[str, int] = {"observe": 0, "usage": 0, "cancel": 0}
        self._last_look = float("-inf")
        self._last_usage = float("-inf")
        self._error: str | None = None

    # -- queries ---------------------------------------------------------------------------------
    def look(self, jobs: Sequence[Tracked]) -> Look:
        """A fresh observation when the interval has passed and the controller is not backed off;
        otherwise a stale look (the rules then leave scheduler-bound jobs alone)."""
        now = self.clock()
        self._watching = bool(jobs)
        if not self.backoff.ready(now) or not self._due(now):
            return Look(fresh=False)
        if not jobs:
            return Look(fresh=True)
        since = now - self._last_look
        self._last_look = now
        self.calls["observe"] += 1
        try:
            seen = self.executor.observe(jobs)
        except ControllerUnavailable as exc:
            self.failed(exc)
            return Look(fresh=False)
        self.succeeded()
        self._adapt(seen, since)
        return Look(fresh=True, seen=seen)

    def _due(self, now: float) -> bool:
        """The adaptive gap has passed (less its jitter), and never less than a floor below the
        interval (the jitter forgives tick alignment; a floor is a promise to the controller)."""
        return _due(now, self._last_look, self._gap_s) and not 0 <= now - self._last_look < self._floor_s

    @property
    def _floor_s(self) -> float:
        return self.min_interval_s if self.min_interval_s < self.interval_s else 0.0

    def _adapt(self, seen: dict[str, Observation], since: float) -> None:
        """The floor again when a job is in a new phase (the queue moves: more will follow) and
        the queue is not backed up; behind a backed-up queue twice the last gap, up to the
        stretched cap and to the backlog's expected drain; else twice the last gap, up to the
        interval. ``since``: seconds since the look before."""
        phases: dict[str, str] = {job_id: o.phase for job_id, o in seen.items()}
        moved = any(self._phases.get(job_id) != phase for job_id, phase in phases.items())
        started = sum(1 for job_id, phase in phases.items()  # since the look before, seen by it or not
                      if phase != "pending" and self._phases.get(job_id, "pending") == "pending")
        self._phases = phases
        waiting = sum(1 for phase in phases.values() if phase == "pending")
        excess = waiting - 2 * sum(1 for phase in phases.values() if phase == "running")
        self._backlog = excess > 0
        if moved and not self._backlog:
            self._gap_s = self.min_interval_s
        elif self._backlog:  # the queue drains at the rate jobs left it: look before its last two rounds
            drain_s = excess * since / started if started and 0 < since < float("inf") else float("inf")
            self._gap_s = max(self.min_interval_s, min(self._backlog_cap_s, 2 * self._gap_s, drain_s))
        else:
            self._gap_s = min(self.interval_s, 2 * self._gap_s)

    def next_look_in(self) -> float | None:
        """Seconds until a look is due, or None when no job is out to look at or the controller is
        backed off (the regular tick tries again). The ticker wakes then: a tick of 5 s would
        otherwise hold back a look due 2 s after a submission."""
        if not self._watching or not self.backoff.healthy:
            return None
        due = self._last_look + max(self._floor_s, self._gap_s * (1 - JITTER))
        return max(0.0, due - self.clock())

    def nudge(self) -> None:
        """Something happened to a job (a submission, a process that ended): where a look costs no
        controller call (the local executor), the next tick looks at once; a scheduler's
        controller is asked after the floor (``min_interval_s``) since its last look, no sooner."""
        if self.executor.free_looks:
            self._last_look = float("-inf")
        elif not self._backlog:  # behind a backed-up queue a new job would wait anyway
            self._gap_s = self.min_interval_s
            self._watching = True

    def usage(self, jobs: Sequence[Tracked]) -> dict[str, Usage]:
        """CPU time and memory of running jobs, at most once per usage interval; advisory."""
        now = self.clock()
        if not jobs or not self.backoff.ready(now) or not _due(now, self._last_usage, self.usage_interval_s):
            return {}
        self._last_usage = now
        self.calls["usage"] += 1
        try:
            return self.executor.usage(jobs)
        except ControllerUnavailable:
            return {}

    def cancel(self, jobs: Sequence[Tracked], how: str = "cancel") -> None:
        """Ask the executor to stop jobs (idempotent): ``how`` is cancel, stop (graceful) or kill;
        a controller outage only defers it."""
        if not jobs or not self.backoff.ready(self.clock()):
            return
        self.calls["cancel"] += 1
        try:
            if how == "stop":
                self.executor.stop(jobs)
            elif how == "kill":
                self.executor.kill(jobs)
            else:
                self.executor.cancel(jobs)
        except ControllerUnavailable as exc:
            self.failed(exc)

    # -- health ----------------------------------------------------------------------------------
    @property
    def available(self) -> bool:
        """Whether the controller may be called now (not backing off)."""
        return self.backoff.ready(self.clock())

    def failed(self, exc: Exception) -> None:
        """A call (from here or a submission) found the controller unreachable: back off."""
        now = self.clock()
        first = self.backoff.healthy
        self.backoff.failed(now)
        self._error = str(exc)
        if first:
            log.warning("controller unreachable: %s (backing off, jobs keep their state)", exc)
            self.listeners.controller(ControllerEvent("down", now, error=self._error))

    def succeeded(self) -> None:
        if not self.backoff.healthy:
            log.warning("controller answers again")
            self.backoff.succeeded()
            self._error = None
            self.listeners.controller(ControllerEvent("up", self.clock()))

    def health(self) -> Health:
        return Health(self.backoff.down_since, self._error, dict(self.calls))


BACKLOG_STRETCH = 3
"""How many intervals apart looks may grow behind a backed-up queue: the scheduler starts those
jobs without lz, and an end seen later only delays its collection, never the queue."""

JITTER = 0.05
"""Part of an interval forgiven: ticks start a little early or late, and a tick that found the
interval 10 ms short would otherwise skip a whole period (squeue every 10 s at a 5 s tick)."""


def _due(now: float, last: float, interval_s: float) -> bool:
    """Whether an interval has passed (less its jitter); a clock stepped back (NTP, ``date -s``)
    counts as passed, or the daemon would stop looking at its jobs until the clock caught up."""
    elapsed = now - last
    return elapsed >= interval_s * (1 - JITTER) or elapsed < 0
