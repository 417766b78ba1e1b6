"""The tick: load the active jobs, look at them through the watcher, decide (pure rules), apply.

The tick itself never waits on a build, a submission or a collection: those are handed to the
worker pool (one worker per job at a time) and the tick moves on. Wake-ups (a new job, a cancel, a
finished step) run the tick again at once; they start work, they never cause an extra query to
the controller, because the watcher keeps its own interval.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from lz.core.errors import InvalidTransition
from lz.core.events import Listeners, TickEvent
from lz.core.job import Job
from lz.core.machine import State
from lz.core.rules import (
    Action,
    Cancel,
    Control,
    Fire,
    Prerequisite,
    Record,
    StopWork,
    TickContext,
    Work,
    decide,
    prerequisite,
)
from lz.engine.housekeeping import Housekeeping
from lz.engine.notify_channel import NotificationReader
from lz.engine.steps import Steps
from lz.engine.watcher import Watcher
from lz.engine.workspace import Workspace
from lz.host.faults import crash_point
from lz.host.workpool import WorkPool
from lz.store.jobs import JobStore

log = logging.getLogger(__name__)

WATCHED = (State.QUEUED, State.RUNNING, State.PAUSED, State.CANCELLING)


@dataclass(frozen=True)
class TickSettings:
    submit_grace_s: float = 30.0  # how long an unconfirmed submission may stay invisible
    lost_after_s: float = 120.0  # how long a submitted job may be invisible before it is lost
    capacity: int | None = None  # jobs the executor may hold at once; None: the scheduler queues
    queue_memory_s: float = 300.0  # how long the scheduler lists an ended job (SLURM's MinJobAge)
    retry_backoff_s: float = 10.0  # before a second attempt; doubling, at most retry_backoff_max_s
    retry_backoff_max_s: float = 600.0
    native_dependencies: bool = False  # the executor maps --after itself (SLURM's --dependency)
    heartbeat_s: float = 5.0  # how often the zone's status row is rewritten while nothing changes


class Engine:
    def __init__(self, store: JobStore, watcher: Watcher, steps: Steps, pool: WorkPool, workspace: Workspace,
                 *, clock: Callable[[], float], settings: TickSettings = TickSettings(),
                 housekeeping: Housekeeping | None = None,
                 listeners: Listeners | None = None, notifications: NotificationReader | None = None):
        self.store = store
        self.watcher = watcher
        self.steps = steps
        self.pool = pool
        self.workspace = workspace
        self.clock = clock
        self.settings = settings
        self.housekeeping = housekeeping
        self.listeners = listeners or Listeners()
        self.notifications = notifications
        self._written_health: tuple[float | None, str | None] | None = None
        self._written_at = float("-inf")

    def tick(self) -> None:
        """One tick; listeners hear how long it took (metrics), whatever it decided."""
        started = time.monotonic()
        now = self.clock()
        active = self._tick(now)
        self.listeners.tick(TickEvent(at=now, seconds=time.monotonic() - started, active=active))

    def next_look_in(self) -> float | None:
        """Seconds until the watcher wants to ask the controller (the ticker wakes then)."""
        return self.watcher.next_look_in()

    def _tick(self, now: float) -> int:
        busy = self.pool.busy() | self.steps.resting(now)  # before the jobs: a step ending in between shows
        jobs = self.store.active()
        watched = [j for j in jobs if j.state in WATCHED and j.submitted and j.id not in busy]
        look = self.watcher.look([self.workspace.tracked(j) for j in watched])
        ctx = TickContext(now=now, observed=look.fresh, busy=busy, submit_grace_s=self.settings.submit_grace_s,
                          lost_after_s=self.settings.lost_after_s, queue_memory_s=self.settings.queue_memory_s,
                          retry_backoff_s=self.settings.retry_backoff_s,
                          retry_backoff_max_s=self.settings.retry_backoff_max_s,
                          prerequisites=self._prerequisites(jobs),
                          native_dependencies=self.settings.native_dependencies)
        actions = [action for job in jobs for action in decide(job, look.seen.get(job.id), ctx)]
        self.apply(actions, {j.id: j for j in jobs})
        running = [j for j in jobs if j.state == State.RUNNING and j.id not in busy]
        self._record_usage(running)
        self._read_notifications([j for j in jobs if j.state in WATCHED and j.work_dir], now)
        self._heartbeat(now)
        if self.housekeeping is not None:
            self.housekeeping.tick(now)
        return len(jobs)

    def _prerequisites(self, jobs: Sequence[Job]) -> dict[str, Prerequisite]:
        """What the queued dependents need to know of the jobs they wait for: the active ones from
        this tick's list, the others (ended long ago) from the store, read only while needed."""
        wanted = {d.job_id for j in jobs if j.state == State.QUEUED and j.spec.after for d in j.spec.after}
        if not wanted:
            return {}
        by_id = {j.id: j for j in jobs if j.id in wanted}
        by_id.update(self.store.some(wanted - set(by_id)))
        return {job_id: prerequisite(job) for job_id, job in by_id.items()}

    def apply(self, actions: Sequence[Action], jobs: dict[str, Job]) -> None:
        """The tick's transitions and facts first, all in one transaction (no side effect sits
        between them: the rules never give one job a transition and something to do in one tick,
        and a cancel's facts were always committed before the cancel), then the rest: controls,
        work for the pool, cancels."""
        records: dict[str, dict[str, object]] = {}
        for action in actions:
            if isinstance(action, Record):
                records.setdefault(action.job_id, {}).update(action.facts)
        fires = [action for action in actions if isinstance(action, Fire)]
        fired = []
        if fires or records:  # most ticks have neither: no transaction at all
            with self.store.batch():
                fired = [action for action in fires if self._fire(action)]
                self.store.record_many(records)
        if any(action.event == "ended" for action in fired):
            crash_point("ended.fired")
        if any(action.event in ("ended", "built") for action in fired):
            self.steps.wake()
        cancels: dict[str, list[Job]] = {"cancel": [], "stop": [], "kill": []}
        submits = self._submit_budget(jobs.values())
        for action in actions:
            if isinstance(action, Cancel):
                cancels[action.how].append(jobs[action.job_id])
            elif isinstance(action, Control):
                self._control(jobs[action.job_id])
            elif isinstance(action, StopWork):
                if self.steps.stop_build(action.job_id):
                    log.info("job %s: cancelled, stopped its build", action.job_id)
            elif isinstance(action, Work):
                if action.kind == "submit" and not _holds_a_slot(jobs.get(action.job_id)):
                    if submits <= 0:
                        continue
                    submits -= 1
                self.pool.submit(action.kind, action.job_id, _bind(self.steps.run, action.kind, action.job_id))
        for how, chosen in cancels.items():
            self.watcher.cancel([self.workspace.tracked(j) for j in chosen], how)
        if any(cancels.values()):
            crash_point("cancel.sent")

    def _control(self, job: Job) -> None:
        """A pause or resume still recorded (the CLI died before it was done): carry it out."""
        from lz.core.errors import ControlRefused
        from lz.engine.control import carry_out

        try:
            carry_out(self.store, self.watcher.executor, self.workspace, job)
        except ControlRefused as exc:
            log.warning("job %s: %s", job.id, exc)

    def _submit_budget(self, jobs: Iterable[Job]) -> int:
        """How many submissions this tick: none while the controller is backed off; the local
        executor's free slots; any number where the scheduler queues."""
        if not self.watcher.available:
            return 0
        if self.settings.capacity is None:
            return 1 << 30
        holding = sum(1 for j in jobs if j.state in WATCHED and j.submitted)
        return max(0, self.settings.capacity - holding)

    def _fire(self, action: Fire) -> bool:
        """Whether it was fired (committed with the tick's batch)."""
        try:
            self.store.fire(action.job_id, action.event, expect=action.expect, detail=action.detail,
                            guard=action.guard, **action.facts)
        except InvalidTransition as exc:  # the job moved meanwhile (a cancel or a submit won): next tick
            log.info("job %s: %s", action.job_id, exc)
            return False
        return True

    def _record_usage(self, running: list[Job]) -> None:
        usage = self.watcher.usage([self.workspace.tracked(j) for j in running])
        by_id = {j.id: j for j in running}
        changed = {}
        for job_id, u in usage.items():
            job = by_id.get(job_id)
            if job is None:
                continue
            facts = {"cpu_seconds": u.cpu_seconds,
                     "max_rss_bytes": max(u.max_rss_bytes or 0, job.max_rss_bytes or 0) or None}
            if (job.cpu_seconds, job.max_rss_bytes) != (facts["cpu_seconds"], facts["max_rss_bytes"]):
                changed[job_id] = facts
        self.store.record_many(changed)

    def _read_notifications(self, jobs: list[Job], now: float) -> None:
        """Whatever the jobs' channels hold now (non-blocking, bounded); a failure is logged and
        never stops the tick."""
        if self.notifications is None:
            return
        try:
            self.notifications.poll(jobs, now)
        except Exception:  # noqa: BLE001 - a notification is never worth a tick
            log.exception("reading job notifications")

    def _heartbeat(self, now: float) -> None:
        """The zone's status row: at once when the controller's health changed, else at most once
        per ``heartbeat_s``. A wake-up runs a tick per event (a submission, a job's end), and a
        write transaction (an fsync of the WAL) per tick was most of the writes of a short job."""
        health = self.watcher.health()
        changed = (health.down_since, health.error) != self._written_health
        if not changed and 0 <= now - self._written_at < self.settings.heartbeat_s:
            return
        self.store.set_status(last_tick=now, controller_down_since=health.down_since,
                              controller_error=health.error, controller_calls=health.calls)
        self._written_health, self._written_at = (health.down_since, health.error), now

    def shutdown(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait)
        if self.notifications is not None:
            self.notifications.close()


def _bind(step: Callable[[str, str], None], kind: str, job_id: str) -> Callable[[], None]:
    return lambda: step(kind, job_id)


def _holds_a_slot(job: Job | None) -> bool:
    """A submission made again after a crash left it unconfirmed (intent recorded, no process
    found): the job is already counted in ``_submit_budget``'s holding, and this is the slot's work.
    Charged again, two such jobs on two slots waited for each other for ever."""
    return job is not None and job.submitted
