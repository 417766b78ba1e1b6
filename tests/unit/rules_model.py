"""A landing zone without processes, for the property test: the store (a dict, fired through the
real ``Lifecycle`` with ``expect`` and ``guard`` checked as ``JobStore.fire`` does), a simulated
scheduler, worker steps cut into their real commits, and a tick cut where the engine reads twice.

Only what cannot exist in a unit test is simulated; the decisions are ``lz.core.rules.decide`` itself
(or a scratch copy of it with one fix reverted, to show the property test finds the defect).
"""

from __future__ import annotations

import inspect
import sys
import types
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import lz.core.rules
from lz.core.errors import InvalidTransition
from lz.core.job import Job, JobSpec
from lz.core.machine import TERMINAL, Lifecycle, State
from lz.core.records import Observation
from lz.core.resources import Resources
from lz.core.value_class import replace

Decide = Callable[[Job, Observation | None, Any], list[Any]]
LIVE = ("pending", "running")
MIN_JOB_AGE = 300.0  # squeue lists an ended job this long (SLURM's default MinJobAge)


def new_job(job_id: str, now: float) -> Job:
    return Job(id=job_id, name=job_id, state="received", outcome=None, reason=None, exit_code=None, source="cli",
               spec=JobSpec(name=job_id, command=("true",), resources=Resources(time_s=600)),
               work_dir=None, created_at=now, updated_at=now, started_at=None, ended_at=None, executor=None,
               executor_id=None, submit_attempted_at=None, native_state=None, pending_reason=None,
               absent_since=None, cpu_seconds=None, max_rss_bytes=None, results_at=None)


class Store:
    """The job table and the transition log; every change of state goes through ``fire``."""

    def __init__(self, on_fire: Callable[[Job, str], None]):
        self.jobs: dict[str, Job] = {}
        self.log: dict[str, list[tuple[str, str, str]]] = {}
        self.lifecycle = Lifecycle()
        self.on_fire = on_fire

    def create(self, job_id: str, now: float) -> None:
        self.jobs[job_id] = new_job(job_id, now)
        self.log[job_id] = [("", "received", "receive")]

    def active(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.state not in TERMINAL]

    def fire(self, job_id: str, event: str, expect: Any = None, guard: Mapping[str, Any] | None = None,
             **facts: Any) -> None:
        job = self.jobs[job_id]
        if expect is not None and job.state not in ((expect,) if isinstance(expect, str) else tuple(expect)):
            raise InvalidTransition(f"{job_id} is {job.state}, not {expect}")
        for column, value in (guard or {}).items():
            if getattr(job, column) != value:
                raise InvalidTransition(f"{job_id} changed meanwhile ({column})")
        new_state = self.lifecycle.next_state(job.state, event)
        self.on_fire(job, event)
        self.jobs[job_id] = replace(job, state=new_state, **facts)
        self.log[job_id].append((job.state, new_state, event))

    def record(self, job_id: str, **facts: Any) -> None:
        self.jobs[job_id] = replace(self.jobs[job_id], **facts)

    def cancel(self, job_id: str, now: float, how: str = "cancel") -> None:
        """``JobStore.cancel``: any non-terminal state; stop and kill remember how."""
        job = self.jobs[job_id]
        if job.state in TERMINAL:
            return
        facts: dict[str, Any] = {"outcome": "cancelled", "reason": "cancelled by user", "ended_at": now} \
            if job.state == "received" else {}
        if how != "cancel" or job.state not in ("cancelling", "collecting"):
            facts.update(control=how, control_by="tester", control_at=now)
        self.fire(job_id, "cancel", expect=job.state, **facts)

    def request(self, job_id: str, what: str, now: float) -> bool:
        """``lz.engine.control.request`` for pause and resume: recorded only where it fits the state."""
        job = self.jobs[job_id]
        fits = (job.state in ("queued", "running") and job.submitted) if what == "pause" else job.state == "paused"
        if fits:
            self.record(job_id, control=what, control_by="tester", control_at=now)
        return fits


@dataclass
class Entry:
    """One SLURM job in the simulated controller."""

    job_id: str
    slurm_id: str
    phase: str = "pending"  # pending, running, ended
    native: str = "PENDING"
    aged_out: bool = False
    ended_at: float = 0.0
    held: bool = False  # scontrol hold (pending) or suspend (running): lz pause


@dataclass
class Scheduler:
    entries: list[Entry] = field(default_factory=list)
    submissions: Counter[str] = field(default_factory=Counter)
    started: Counter[str] = field(default_factory=Counter)  # runs that began (the wrapper's pid file)
    exit_codes: dict[str, int] = field(default_factory=dict)  # the wrapper's exit file, per job
    cancels: Counter[str] = field(default_factory=Counter)
    up: bool = True
    local: bool = False  # the local executor: a job starts at once, and once dead is listed nowhere

    def sbatch(self, job_id: str) -> str:
        self.submissions[job_id] += 1
        entry = Entry(job_id, str(1000 + len(self.entries)))
        self.entries.append(entry)
        if self.local:
            self.advance(entry, "RUNNING", 0.0)
        return entry.slurm_id

    def live(self, job_id: str) -> list[Entry]:
        return [e for e in self.entries if e.job_id == job_id and e.phase in LIVE]

    def advance(self, entry: Entry, native: str, now: float) -> None:
        """pending -> running; running/pending -> an end state (COMPLETED and FAILED leave an exit file)."""
        if entry.held and native == "RUNNING":
            return  # a held job does not start, a suspended one does not finish by itself
        if entry.phase == "pending" and native == "RUNNING":
            entry.phase, entry.native = "running", "RUNNING"
            self.started[entry.job_id] += 1
        elif entry.phase in LIVE and native != "RUNNING":
            if native in ("COMPLETED", "FAILED") and (entry.phase != "running" or entry.held):
                return  # only a job that ran exits by itself
            entry.phase, entry.native, entry.ended_at, entry.aged_out = "ended", native, now, self.local
            if native in ("COMPLETED", "FAILED"):
                self.exit_codes[entry.job_id] = 0 if native == "COMPLETED" else 1

    def cancel(self, job: Job, now: float) -> None:
        """scancel by id, or by name when no id was recorded: every live entry of the job ends."""
        self.cancels[job.id] += 1
        for entry in self.live(job.id):
            if job.executor_id is None or entry.slurm_id == job.executor_id:
                entry.phase, entry.native, entry.ended_at, entry.aged_out = "ended", "CANCELLED", now, self.local

    def control(self, job: Job, what: str) -> bool:
        """scontrol hold/suspend (or SIGSTOP) and release/resume; False when the job is not live."""
        live = [e for e in self.live(job.id) if e.slurm_id == job.executor_id or job.executor_id is None]
        for entry in live:
            entry.held = what == "pause"
        return bool(live)

    def observe(self, job: Job) -> Observation:
        """``SlurmExecutor.observe`` for one job: squeue by name, then the exit and pid files."""
        visible = [e for e in self.entries if e.job_id == job.id and not e.aged_out]
        entry = next((e for e in visible if e.slurm_id == job.executor_id), None) or \
            max(visible, key=lambda e: int(e.slurm_id), default=None)
        code = self.exit_codes.get(job.id)
        if entry is None:
            if code is not None:
                return Observation("ended", job.executor_id, "EXITED", exit_code=code)
            return Observation("absent", job.executor_id, seen_before=self.started[job.id] > 0)
        if entry.phase == "ended":
            return Observation("ended", entry.slurm_id, entry.native, None,
                               code if code is not None else None, seen_before=True)
        if entry.held:
            native, reason = ("SUSPENDED", None) if entry.phase == "running" else ("PENDING", "JobHeldUser")
            return Observation(entry.phase, entry.slurm_id, native, reason, seen_before=True)
        return Observation(entry.phase, entry.slurm_id, entry.native, seen_before=True)


@dataclass
class Worker:
    """One step of the worker pool, cut at its commits: it advances one commit at a time."""

    kind: str
    stage: int = 0
    go: bool = True


def reverted_rules(*edits: tuple[str, str]) -> Decide:
    """``lz.core.rules.decide`` from a scratch copy of its source with ``old`` replaced by ``new``."""
    source = inspect.getsource(lz.core.rules)
    for old, new in edits:
        assert old in source, f"{old!r} is no longer in lz/core/rules.py: update the revert"
        source = source.replace(old, new)
    name = f"lz_rules_reverted_{abs(hash(edits))}"
    module = types.ModuleType(name)
    sys.modules[name] = module  # dataclasses look their module up while the classes are made
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module.decide  # type: ignore[no-any-return]


def is_busy_first() -> bool:
    """Whether ``Engine.tick`` asks the pool who is busy before it loads the jobs (the defect-2 fix)."""
    engine = __import__("lz.engine.tick", fromlist=["Engine"]).Engine
    source = inspect.getsource(getattr(engine, "_tick", engine.tick))
    return source.index("self.pool.busy()") < source.index("self.store.active()")


def action_kind(action: object) -> str:
    return type(action).__name__  # a reverted copy of the rules has its own classes


def live_jobs_never_submitted(store: Store, scheduler: Scheduler) -> list[str]:
    return [j for j, job in store.jobs.items() if job.state == State.CLEANED and scheduler.live(j)]
