"""The decisions of the tick (pure): given a job, what its executor reported and the moment, what
happens next. No I/O here; the engine carries the actions out.

The rules never fail a job because the controller did not answer: without a fresh observation
(``ctx.observed`` false) a job that depends on the scheduler simply waits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lz.core import dependencies, retry
from lz.core.job import Job
from lz.core.machine import Outcome, State
from lz.core.records import Observation
from lz.core.resources import format_time

WorkKind = Literal["build", "submit", "collect"]


@dataclass(frozen=True)
class Work:
    """Long work for the worker pool (one worker per job at a time)."""

    kind: WorkKind
    job_id: str


@dataclass(frozen=True)
class Fire:
    """A state transition, with the facts recorded alongside it."""

    job_id: str
    event: str
    expect: str
    facts: dict[str, Any] = field(default_factory=dict)
    detail: str | None = None
    guard: dict[str, Any] | None = None  # column values the decision relied on, re-checked at commit


@dataclass(frozen=True)
class Record:
    """Facts about a job that are not a change of state."""

    job_id: str
    facts: dict[str, Any]


@dataclass(frozen=True)
class Cancel:
    """Ask the executor to stop the job (idempotent): ``how`` is the request, cancel, stop or kill."""

    job_id: str
    how: str = "cancel"


@dataclass(frozen=True)
class Control:
    """Carry out a pending pause or resume request through the executor (idempotent)."""

    job_id: str
    request: str


@dataclass(frozen=True)
class StopWork:
    """Kill what a worker is running for a cancelled job (a container build can take an hour)."""

    job_id: str


Action = Work | Fire | Record | Cancel | StopWork | Control

_NEVER_SUBMITTED = {"executor_id": None, "submit_attempted_at": None}


@dataclass(frozen=True)
class TickContext:
    now: float
    observed: bool  # the executor answered this tick; without it, scheduler-bound jobs wait
    busy: frozenset[str] = frozenset()  # jobs a worker is advancing right now
    submit_grace_s: float = 30.0  # how long an unconfirmed submission may stay invisible
    lost_after_s: float = 120.0  # how long a submitted job may be invisible before it is lost
    queue_memory_s: float = 300.0  # how long the scheduler lists an ended job (SLURM's MinJobAge)
    retry_backoff_s: float = 10.0  # the wait before a second attempt, doubling for each later one
    retry_backoff_max_s: float = 600.0
    prerequisites: Mapping[str, Prerequisite] = field(default_factory=dict)  # the jobs named by --after
    native_dependencies: bool = False  # the executor takes them itself (SLURM's --dependency)


@dataclass(frozen=True)
class Prerequisite:
    """What a dependent job needs to know of a job it waits for."""

    outcome: str | None  # once it ended (its last attempt): the dependent may go, or never will
    scheduler_id: str | None = None  # where it can be named in the scheduler's own dependency (final attempt)


def decide(job: Job, seen: Observation | None, ctx: TickContext) -> list[Action]:
    """What to do with one job this tick."""
    if job.id in ctx.busy:
        return [StopWork(job.id)] if job.state == State.CANCELLING else []
    state = job.state
    if state in (State.RECEIVED, State.BUILDING):
        return [Work("build", job.id)]
    if state == State.COLLECTING:
        return [Work("collect", job.id)]
    if state == State.QUEUED:
        return _queued(job, seen, ctx)
    if state == State.RUNNING:
        return _running(job, seen, ctx)
    if state == State.PAUSED:
        return _paused(job, seen, ctx)
    if state == State.CANCELLING:
        return _cancelling(job, seen, ctx)
    return []


def _queued(job: Job, seen: Observation | None, ctx: TickContext) -> list[Action]:
    held_by = _dependencies(job, ctx) if job.spec.after else None
    if held_by is not None:
        return held_by
    if not job.submitted:
        if job.retry_at is not None and ctx.now < job.retry_at:  # back-off before the next attempt
            return []
        return [Work("submit", job.id)]
    if job.control == "pause":
        return [Control(job.id, "pause")]
    if not ctx.observed or seen is None:
        return []
    if seen.phase == "pending" and held(seen):  # held outside lz, or lz died before recording its own hold
        return [Fire(job.id, "pause", State.QUEUED, {"paused_at": ctx.now, "pending_reason": seen.reason,
                                                    "native_state": seen.native_state}, detail=seen.reason)]
    if seen.phase == "pending":
        return _note(job, seen, pending_reason=seen.reason)
    if seen.phase == "running":
        return [Fire(job.id, "started", State.QUEUED, {**_ids(job, seen), "started_at": ctx.now,
                                                       "pending_reason": None, "absent_since": None,
                                                       "native_state": seen.native_state})]
    if seen.phase == "ended":
        return _ended_or_retried(job, seen, ctx)
    # absent: the scheduler and the disk know nothing of it
    if job.executor_id is None and not seen.seen_before:
        return _unconfirmed(job, ctx)
    return _absent(job, ctx)


def _unconfirmed(job: Job, ctx: TickContext) -> list[Action]:
    """A submission whose fate is unknown (the daemon died around sbatch, or sbatch timed out) and
    that nobody lists. Had it reached the scheduler, it would be listed until ``queue_memory_s``
    after its end: if lz looked within that time and found nothing, it never arrived and is
    submitted again after the grace period. If lz first looked later, it may have come and gone
    (cancelled or failed while pending): it is never submitted twice, it ends lost. Once any trace
    of a start was seen (a pid file, a SLURM job of its name) the caller never comes here."""
    attempted = job.submit_attempted_at or ctx.now
    looked = job.absent_since if job.absent_since is not None and job.absent_since >= attempted else ctx.now
    if looked - attempted >= ctx.queue_memory_s:
        return [Fire(job.id, "ended", State.QUEUED, {
            "outcome": Outcome.LOST.value, "ended_at": ctx.now,
            "reason": "unknown whether its submission reached the scheduler, which no longer lists it: "
                      "not submitted twice",
        }, guard={"executor_id": None})]
    if ctx.now - attempted >= ctx.submit_grace_s:
        return [Work("submit", job.id)]
    return [] if looked != ctx.now else [Record(job.id, {"absent_since": ctx.now})]


def _running(job: Job, seen: Observation | None, ctx: TickContext) -> list[Action]:
    if job.control == "pause":
        return [Control(job.id, "pause")]
    if not ctx.observed or seen is None:
        return []
    if seen.phase == "running" and suspended(seen):  # suspended outside lz, or lz died before recording it
        return [Fire(job.id, "pause", State.RUNNING, {"paused_at": ctx.now, "native_state": seen.native_state},
                     detail=seen.native_state)]
    if seen.phase == "running":
        return _note(job, seen)
    if seen.phase == "pending":  # requeued by the scheduler (scontrol requeue, preemption, node failure)
        return _requeued(job, seen, ctx)
    if seen.phase == "ended":
        return _ended_or_retried(job, seen, ctx)
    return _absent(job, ctx)


def _paused(job: Job, seen: Observation | None, ctx: TickContext) -> list[Action]:
    """A held or suspended job: resumed on request, or when the scheduler shows it going again."""
    if job.control == "resume":
        return [Control(job.id, "resume")]
    if not ctx.observed or seen is None:
        return []
    if seen.phase == "running" and not suspended(seen):
        facts = resumed(job, ctx.now, native_state=seen.native_state)
        if job.started_at is None:  # released and started between two looks
            facts["started_at"] = ctx.now
        return [Fire(job.id, "resume", State.PAUSED, facts)]
    if seen.phase == "pending" and not held(seen):
        return [Fire(job.id, "release", State.PAUSED, resumed(job, ctx.now, pending_reason=seen.reason,
                                                              native_state=seen.native_state))]
    if seen.phase == "ended":
        return _ended_or_retried(job, seen, ctx)
    if seen.phase == "absent":
        return _absent(job, ctx)
    return _note(job, seen, pending_reason=seen.reason) if seen.phase == "pending" else _note(job, seen)


def resumed(job: Job, now: float, **facts: Any) -> dict[str, Any]:
    """Facts of a job that goes again: the pause's length joins the time not counted toward its limit."""
    paused = (job.paused_s or 0.0) + (max(0.0, now - job.paused_at) if job.paused_at is not None else 0.0)
    return {"paused_at": None, "paused_s": paused, "control": None, **facts}


def held(seen: Observation) -> bool:
    """SLURM lists a held pending job with reason JobHeldUser or JobHeldAdmin."""
    return (seen.reason or "").startswith("JobHeld")


def suspended(seen: Observation) -> bool:
    return (seen.native_state or "").upper() in ("SUSPENDED", "STOPPED")


def ended_by(job: Job) -> str:
    """Which request ended the job and who sent it: "stopped by alice", "cancelled by user"."""
    verb = {"stop": "stopped", "kill": "killed"}.get(job.control or "", "cancelled")
    return f"{verb} by {job.control_by or 'user'}"


def _cancelling(job: Job, seen: Observation | None, ctx: TickContext) -> list[Action]:
    cancelled = {"outcome": Outcome.CANCELLED.value, "reason": ended_by(job), "ended_at": ctx.now}
    if not job.submitted:
        # re-checked in the transaction: a submission that lands meanwhile must be cancelled, not forgotten
        return [Fire(job.id, "ended", State.CANCELLING, cancelled, guard=_NEVER_SUBMITTED)]
    if not ctx.observed or seen is None:
        return []
    if seen.phase == "ended":
        exit_code = seen.exit_code
        if seen.native_state == "EXITED" and exit_code is not None:
            # it finished by itself before the cancel reached it: report what really happened
            return [_ended(job, seen, ctx)]
        return [Fire(job.id, "ended", State.CANCELLING, {**cancelled, "exit_code": exit_code,
                                                         "native_state": seen.native_state})]
    if seen.phase == "absent":
        if job.executor_id is None and ctx.now - (job.submit_attempted_at or ctx.now) < ctx.submit_grace_s:
            return [Cancel(job.id, _how(job))]
        return [Fire(job.id, "ended", State.CANCELLING, cancelled)]
    return [Cancel(job.id, _how(job)), *_note(job, seen)]


def _how(job: Job) -> str:
    return job.control if job.control in ("stop", "kill") else "cancel"


def _ended(job: Job, seen: Observation, ctx: TickContext) -> Fire:
    outcome, reason = outcome_of(seen, job)
    if job.state != State.CANCELLING:
        reason = _final_reason(job, reason)
    facts = {
        **_ids(job, seen),
        "outcome": outcome.value,
        "reason": reason,
        "exit_code": seen.exit_code,
        "native_state": seen.native_state,
        "ended_at": ctx.now,
        "pending_reason": None,
    }
    if job.started_at is None:
        facts["started_at"] = ctx.now
    return Fire(job.id, "ended", job.state, facts, detail=reason)


def outcome_of(seen: Observation, job: Job) -> tuple[Outcome, str]:
    """The outcome of a job that ended, from the scheduler's state and the recorded exit status."""
    native = (seen.native_state or "").upper()
    code = seen.exit_code
    limit = job.spec.resources.time_s
    if native == "TIMEOUT":
        return Outcome.TIMED_OUT, f"time limit {format_time(limit)} reached" if limit else "time limit reached"
    if native == "DEADLINE":
        return Outcome.TIMED_OUT, "deadline reached"
    if native == "OUT_OF_MEMORY":
        return Outcome.FAILED, "out of memory"
    if native.startswith("CANCELLED"):
        if job.state == State.CANCELLING:
            return Outcome.CANCELLED, ended_by(job)
        return Outcome.CANCELLED, "cancelled outside lz (scancel by a user or an administrator)"
    if native in ("NODE_FAIL", "BOOT_FAIL"):
        return Outcome.FAILED, "node failure"
    if native == "PREEMPTED":
        return Outcome.FAILED, "preempted"
    if native == "REVOKED":
        return Outcome.FAILED, "revoked by the scheduler"
    if native == "ARRAY":  # a sweep: every task ended, the reason says how many succeeded (lz.core.array)
        return (Outcome.SUCCEEDED if code == 0 else Outcome.FAILED), seen.reason or f"exit code {code}"
    if code is None:
        return Outcome.FAILED, f"ended without an exit status ({native or 'unknown'})"
    if code == 0:
        return Outcome.SUCCEEDED, "exit code 0"
    return Outcome.FAILED, f"exit code {code}"


def _absent(job: Job, ctx: TickContext) -> list[Action]:
    if job.absent_since is None:
        return [Record(job.id, {"absent_since": ctx.now})]
    if ctx.now - job.absent_since >= ctx.lost_after_s:
        reason = "the scheduler lost the job: no queue entry, no record and no exit status"
        if retry.earns_retry(job.spec.retry, job.attempt, "lost"):
            return [_retry(job, ctx, "lost", reason)]
        return [Fire(job.id, "ended", job.state, {
            "outcome": Outcome.LOST.value,
            "reason": _final_reason(job, reason),
            "ended_at": ctx.now,
        })]
    return []


# -- retries (lz.core.retry) ------------------------------------------------------------------------
def _ended_or_retried(job: Job, seen: Observation, ctx: TickContext) -> list[Action]:
    """An attempt ended: the job ends with it, or its policy gives it another attempt."""
    outcome, reason = outcome_of(seen, job)
    cause = retry.cause_of(outcome.value, seen.native_state, seen.exit_code)
    if retry.earns_retry(job.spec.retry, job.attempt, cause):
        assert cause is not None
        return [_retry(job, ctx, cause, reason, exit_code=seen.exit_code, native_state=seen.native_state,
                       executor_id=seen.executor_id or job.executor_id)]
    return [_ended(job, seen, ctx)]


def _requeued(job: Job, seen: Observation, ctx: TickContext) -> list[Action]:
    """The scheduler put a running job back in its queue: that attempt is over. lz cancels the
    requeued copy (it would run with the old attempt's name and files) and either submits a new
    attempt or ends the job."""
    reason = f"requeued by the scheduler ({seen.reason or seen.native_state or 'pending again'})"
    if retry.earns_retry(job.spec.retry, job.attempt, "requeued"):
        return [Cancel(job.id), _retry(job, ctx, "requeued", reason, native_state=seen.native_state,
                                       executor_id=seen.executor_id or job.executor_id)]
    return [Cancel(job.id), Fire(job.id, "ended", job.state, {
        "outcome": Outcome.FAILED.value, "reason": _final_reason(job, reason), "ended_at": ctx.now,
        "native_state": seen.native_state, "pending_reason": None}, detail=reason)]


def _retry(job: Job, ctx: TickContext, cause: str, reason: str, **seen: Any) -> Fire:
    """Queued again, unsubmitted, for the next attempt. The attempt number and the record of the
    one that ended are committed in this transition, before any new submission (the guard fences
    a second decision on the same attempt); the submit step cancels and archives the old one."""
    ended = {"attempt": job.attempt, "cause": cause, "reason": reason, "started_at": job.started_at,
             "ended_at": ctx.now, **seen}
    wait = retry.delay_s(job.attempt, ctx.retry_backoff_s, ctx.retry_backoff_max_s)
    following = job.attempt + 1
    note = f"attempt {following} of {job.spec.retry.attempts} after {reason}; not before {wait:.0f}s"
    return Fire(job.id, "retry", job.state, {
        "attempt": following, "attempts": json.dumps([*past_attempts(job), ended]),
        "retry_at": ctx.now + wait, "executor_id": None, "submit_attempted_at": None, "absent_since": None,
        "native_state": None, "pending_reason": note, "paused_at": None,
    }, detail=f"attempt {job.attempt}: {reason}", guard={"attempt": job.attempt})


def past_attempts(job: Job) -> list[dict[str, Any]]:
    """The earlier attempts' records (``Job.attempts``), oldest first."""
    try:
        found = json.loads(job.attempts) if job.attempts else []
    except ValueError:
        return []
    return found if isinstance(found, list) else []


def _final_reason(job: Job, reason: str) -> str:
    """The reason a job ends with: which attempt, and why the earlier ones did not do."""
    if job.attempt == 1 and not job.spec.retry.retries:
        return reason
    earlier = retry.history_line(past_attempts(job))
    return (f"{reason} (attempt {job.attempt} of {job.spec.retry.attempts}"
            + (f"; earlier: {earlier}" if earlier else "") + ")")


# -- dependencies (lz.core.dependencies) -----------------------------------------------------------
def _dependencies(job: Job, ctx: TickContext) -> list[Action] | None:
    """None when nothing holds the job back; else what to do: wait (saying on whom), or end it
    because a prerequisite ended the way that rules it out (cancelling what was submitted)."""
    waiting = []
    for dep in job.spec.after:
        known = ctx.prerequisites.get(dep.job_id)
        if known is None:  # removed from the store meanwhile: nothing will ever tell
            return _unmet(job, ctx, f"dependency {dep.job_id} is unknown to this landing zone")
        verdict = dependencies.holds(dep.condition, known.outcome)
        if verdict is False:
            assert known.outcome is not None
            return _unmet(job, ctx, dependencies.unmet_reason(dep, known.outcome))
        if verdict is None and not (job.submitted or (ctx.native_dependencies and known.scheduler_id)):
            waiting.append(dep)
    if not waiting:
        return None
    why = dependencies.waiting_reason(waiting)
    return [Record(job.id, {"pending_reason": why})] if job.pending_reason != why else []


def prerequisite(job: Job) -> Prerequisite:
    """A job as its dependents see it: its outcome once its last attempt ended, and its SLURM id
    once it holds one that no later attempt will replace (a job that may still be retried is
    waited for by the engine, not by SLURM's --dependency)."""
    ended = job.state in (State.COLLECTING, State.CLEANED)
    final_attempt = job.attempt >= job.spec.retry.attempts
    native = job.executor == "slurm" and job.executor_id and final_attempt and job.state != State.CANCELLING
    return Prerequisite(job.outcome if ended else None, job.executor_id if native else None)


def _unmet(job: Job, ctx: TickContext, reason: str) -> list[Action]:
    facts = {"outcome": Outcome.FAILED.value, "reason": reason, "ended_at": ctx.now, "pending_reason": None}
    if not job.submitted:
        return [Fire(job.id, "ended", State.QUEUED, facts, detail=reason, guard=_NEVER_SUBMITTED)]
    return [Cancel(job.id), Fire(job.id, "ended", State.QUEUED, facts, detail=reason)]


def _ids(job: Job, seen: Observation) -> dict[str, Any]:
    if seen.executor_id and seen.executor_id != job.executor_id:
        return {"executor_id": seen.executor_id}
    return {}


def _note(job: Job, seen: Observation, **extra: Any) -> list[Action]:
    """Record what changed (adopted id, scheduler state, pending reason), nothing if nothing did."""
    facts: dict[str, Any] = {**_ids(job, seen), **extra}
    if seen.native_state != job.native_state:
        facts["native_state"] = seen.native_state
    if job.absent_since is not None:
        facts["absent_since"] = None
    facts = {k: v for k, v in facts.items() if getattr(job, k) != v}
    return [Record(job.id, facts)] if facts else []
