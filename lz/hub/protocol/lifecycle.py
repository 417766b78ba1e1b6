"""The hub job's lifecycle: one table of phases and transitions, and pure rules over a snapshot.

A hub job is *pending* (a landing zone of its Station may claim it), *leased* (one landing zone
holds it until ``lease_expires``; the attempt number it was claimed under fences every later
heartbeat, report, upload and finish) or *finished* (one outcome, for good). The local lifecycle
(``lz.core.machine``) runs inside a lease; this one is what the hub promises across landing zones that
crash, drain or stop answering:

- *one accepted result*: only the current holder's attempt may finish the job; a lease that ran
  out or was handed back bumps the attempt, so a late finish of the old one is refused (``Stale``);
- *no lost job*: a job not finished is claimable, held by its user's pause (a resume makes it
  claimable), or leased under a lease that expires unless it is renewed;
- *an accepted end survives a requeue*: a cancel, stop or kill recorded on a leased job ends it
  cancelled when the lease expires or is handed back, instead of queueing it to run again (hubs
  before this table looked only at ``cancel_requested`` there and forgot a stop or a kill);
- *a lost attempt is a failed attempt, and failures are bounded*: a lease that ran out, or a
  finish whose outcome is ``lost`` (the landing zone's machine crashed under the job and its
  daemon came back within the lease), queues the job again under a new attempt, and the results
  that attempt may have uploaded are not accepted; after ``max_attempts`` failed attempts the job
  ends ``lost`` for good. A hand-back by a draining landing zone is no failure.

Requests on a held job are data on the job (``cancel_requested``, the latest ``control`` and its
``control_seq``), delivered with each heartbeat and kept across a requeue. The table says which
trigger each phase accepts, under which conditions (the named predicates below) and where it
leads; the ``on_*`` rules apply it to a frozen ``Snapshot`` and return the next one, or raise
``Refused`` (``Stale`` when the caller's lease is no longer the job's). The server writes a
snapshot's ``changes`` as one UPDATE guarded by the old phase and attempt; the diagram is drawn
from the same table (``lz diagram``, ``lz.ops.diagram``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields, replace
from typing import Any

from lz.core.errors import InvalidTransition


class Phase(enum.StrEnum):
    PENDING = "pending"
    LEASED = "leased"
    FINISHED = "finished"

    @property
    def final(self) -> bool:
        """Nothing changes a finished job any more."""
        return self is Phase.FINISHED

    @property
    def claimable(self) -> bool:
        """Only a pending job can be claimed (and only if ``claimable(job)``: no pause, no end asked)."""
        return self is Phase.PENDING


class Control(enum.StrEnum):
    """What a user may ask of a job besides a cancel; the latest request is kept on the job."""

    STOP = "stop"
    KILL = "kill"
    PAUSE = "pause"
    RESUME = "resume"

    @property
    def ends(self) -> bool:
        """A stop or kill ends the job: once accepted it is never forgotten."""
        return self in (Control.STOP, Control.KILL)


CANCELLED = "cancelled"  # the outcome of a job ended by a request (lz.core.machine.Outcome's word)
LOST = "lost"  # a landing zone lost the job (its machine crashed under it): a failed attempt, retried
DEFAULT_OUTCOME = "failed"  # a finish that names no outcome
DEFAULT_MAX_ATTEMPTS = 3  # a Station's, unless its owner sets another; a job's is at most its Station's
PHASES: list[str] = [p.value for p in Phase]
INITIAL = Phase.PENDING.value

# trigger, source(s), dest ("=": stays where it is), conditions/unless (named predicates below,
# exclusive between the rows of one trigger) and why.
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "claim", "source": "pending", "dest": "leased", "unless": ["paused", "ending", "waiting"],
     "why": "a landing zone takes it under a lease; the attempt number fences all it sends later"},
    {"trigger": "heartbeat", "source": "leased", "dest": "=",
     "why": "the holder (same landing zone, same attempt) renews its lease and hears the requests"},
    {"trigger": "finish", "source": "leased", "dest": "finished", "unless": "retryable",
     "why": "the holder's result, accepted once and only from the current attempt"},
    {"trigger": "finish", "source": "leased", "dest": "pending", "conditions": "retryable",
     "why": "the holder lost the job (its machine crashed): attempt + 1, that attempt's results refused"},
    {"trigger": "release", "source": "leased", "dest": "pending", "unless": "ending",
     "why": "a draining landing zone hands it back: attempt + 1, not counted as a failure"},
    {"trigger": "release", "source": "leased", "dest": "finished", "conditions": "ending",
     "why": "an accepted cancel, stop or kill survives the hand-back: the job ends cancelled"},
    {"trigger": "expire", "source": "leased", "dest": "pending", "unless": ["ending", "exhausted"],
     "why": "the lease ran out: attempt + 1 fences the silent holder off, another zone may claim it"},
    {"trigger": "expire", "source": "leased", "dest": "finished", "conditions": "ending",
     "why": "stop survives requeue: an accepted cancel, stop or kill ends it; it never runs again"},
    {"trigger": "expire", "source": "leased", "dest": "finished", "conditions": "exhausted", "unless": "ending",
     "why": "the last attempt it may have failed too: it ends lost, its reason lists every attempt"},
    {"trigger": "cancel", "source": "pending", "dest": "finished", "why": "nobody runs it: it ends at once"},
    {"trigger": "cancel", "source": "leased", "dest": "=", "why": "recorded; the holder stops it"},
    {"trigger": "stop", "source": "pending", "dest": "finished", "why": "nobody runs it: it ends at once"},
    {"trigger": "stop", "source": "leased", "dest": "=", "why": "recorded; the holder stops it gracefully"},
    {"trigger": "kill", "source": "pending", "dest": "finished", "why": "nobody runs it: it ends at once"},
    {"trigger": "kill", "source": "leased", "dest": "=", "why": "recorded; the holder kills it"},
    {"trigger": "pause", "source": ["pending", "leased"], "dest": "=", "unless": "ending",
     "why": "recorded; the holder suspends it, a waiting job is held (not claimable) until resumed"},
    {"trigger": "resume", "source": ["pending", "leased"], "dest": "=", "unless": "ending",
     "why": "recorded; the holder resumes it, a held waiting job is claimable again"},
    {"trigger": "settle", "source": "pending", "dest": "finished", "conditions": "ending",
     "why": "a waiting job that carries an end request (left so by older hubs) ends cancelled"},
    {"trigger": "unmet", "source": "pending", "dest": "finished", "conditions": "waiting",
     "why": "a prerequisite (--after) ended the way that rules the job out: it ends failed, never claimed"},
]

MACHINE: dict[str, Any] = {
    "states": PHASES,
    "transitions": [{k: v for k, v in row.items() if k != "why"} for row in TRANSITIONS],
    "initial": INITIAL,
    "auto_transitions": False,
}
"""The table as the ``transitions`` library takes it (what the diagram is drawn from)."""

EVENTS: tuple[str, ...] = tuple(dict.fromkeys(row["trigger"] for row in TRANSITIONS))


class Refused(InvalidTransition):
    """A trigger the job's phase or its pending requests do not accept (the server answers 409)."""


class Stale(Refused):
    """Fencing: the caller's lease (landing zone and attempt) is no longer the job's; it drops its copy."""


@dataclass(frozen=True)
class Snapshot:
    """What the lifecycle needs of a hub job: the ``hub_jobs`` columns of the same names, except
    ``cancel_by`` (who asked to cancel a held job), which has no column yet (reasons say "a user").
    ``ran_on`` is the landing zone of the current attempt: a requeue clears it, so a zone can
    never pass for the finisher of an attempt it did not hold. ``failures`` counts the attempts
    that failed (lease ran out, job lost); ``max_attempts`` bounds them."""

    phase: Phase = Phase.PENDING
    attempt: int = 1
    lease_owner: int | None = None
    lease_expires: float | None = None
    ran_on: int | None = None
    cancel_requested: bool = False
    cancel_by: str | None = None
    control: str | None = None
    control_by: str | None = None
    control_seq: int = 0
    outcome: str | None = None
    reason: str | None = None
    ended_at: float | None = None
    failures: int = 0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    waiting_on: str | None = None  # prerequisites (--after) still to end well: not claimable meanwhile

    @classmethod
    def of(cls, row: Any) -> Snapshot:
        """The snapshot of a database row (any object with those attributes; missing ones default)."""
        values: dict[str, Any] = {f.name: getattr(row, f.name, f.default) for f in fields(cls)}
        return cls(**{**values, "phase": Phase(values["phase"]), "cancel_requested": bool(values["cancel_requested"]),
                      "control_seq": values["control_seq"] or 0, "failures": values["failures"] or 0,
                      "max_attempts": values["max_attempts"] or DEFAULT_MAX_ATTEMPTS})


def changes(before: Snapshot, after: Snapshot) -> dict[str, Any]:
    """The columns a rule changed (phase as its string), for one UPDATE guarded by ``before``'s
    phase and attempt: the rule was decided on what that guard still matches, or on nothing."""
    return {f.name: str(new) if f.name == "phase" else new for f in fields(Snapshot)
            if (new := getattr(after, f.name)) != getattr(before, f.name)}


# -- conditions: the facts of a job the table's rows are chosen by ---------------------------------
def ending(job: Snapshot) -> bool:
    """An accepted cancel, stop or kill: the job must end, whichever attempt holds it."""
    return job.cancel_requested or job.control in (Control.STOP, Control.KILL)


def paused(job: Snapshot) -> bool:
    """The latest request is a pause. It outlives a requeue, and a waiting job may be paused too:
    no landing zone may claim it until its user resumes it (or cancels it). Dropping the pause
    at a requeue would start, on another landing zone, a job its user asked to hold; refusing a
    resume of a waiting job would leave it held for ever."""
    return job.control == Control.PAUSE


def exhausted(job: Snapshot) -> bool:
    """The attempt now failing is the last the job may have: with it, ``max_attempts`` failed."""
    return job.failures + 1 >= job.max_attempts


def retryable(job: Snapshot) -> bool:
    """A finish that reports the job lost (``job.outcome`` is the one being reported) queues it
    again, unless its user asked for its end or it has no attempt left."""
    return job.outcome == LOST and not ending(job) and not exhausted(job)


def waiting(job: Snapshot) -> bool:
    """It waits for prerequisites (``--after``) to end; the hub's sweep clears it or ends the job."""
    return bool(job.waiting_on)


def claimable(job: Snapshot) -> bool:
    """A landing zone may claim it now."""
    return job.phase.claimable and not paused(job) and not ending(job) and not waiting(job)


def expired(job: Snapshot, now: float) -> bool:
    """The lease ran out and nobody has reclaimed it yet."""
    return job.phase is Phase.LEASED and job.lease_expires is not None and job.lease_expires < now


def holds(job: Snapshot, owner: int, attempt: int) -> bool:
    """The fencing check: ``owner``'s lease under ``attempt`` is the job's current one."""
    return job.phase is Phase.LEASED and job.lease_owner == owner and job.attempt == attempt


_CONDITIONS = {"paused": paused, "ending": ending, "exhausted": exhausted, "retryable": retryable,
               "waiting": waiting}


def next_phase(trigger: str, job: Snapshot) -> Phase:
    """Where the table takes ``job`` on ``trigger``; ``Refused`` when no row accepts it."""
    for row in TRANSITIONS:
        if row["trigger"] == trigger and job.phase in _names(row["source"]) and _met(row, job):
            return job.phase if row["dest"] == "=" else Phase(row["dest"])
    raise Refused(_refusal(trigger, job))


def _names(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else value


def _met(row: dict[str, Any], job: Snapshot) -> bool:
    return (all(_CONDITIONS[c](job) for c in _names(row.get("conditions")))
            and not any(_CONDITIONS[c](job) for c in _names(row.get("unless"))))


# -- the rules ---------------------------------------------------------------------------------------
def on_claim(job: Snapshot, owner: int, now: float, lease_s: float) -> Snapshot:
    """``owner`` takes the job under a lease; the job's attempt is the lease's fencing token."""
    next_phase("claim", job)
    return replace(job, phase=Phase.LEASED, lease_owner=owner, lease_expires=now + lease_s, ran_on=owner)


def on_heartbeat(job: Snapshot, owner: int, attempt: int, now: float, lease_s: float) -> Snapshot:
    """The holder renews its lease. One past its time that nobody has reclaimed yet is renewed too:
    the sweep and the heartbeat race under the same attempt guard, and the first to commit wins."""
    _fence(job, owner, attempt)
    next_phase("heartbeat", job)
    return replace(job, lease_expires=now + lease_s)


def on_release(job: Snapshot, owner: int, attempt: int, now: float) -> Snapshot:
    """The holder hands the job back (it drains): queued again under a new attempt, or ended."""
    _fence(job, owner, attempt)
    return _requeued(job, "release", now, "its landing zone drained")


def on_expiry(job: Snapshot, now: float) -> Snapshot:
    """The lease ran out, a failed attempt: queued again under a new attempt, ended cancelled if an
    end was asked, or ended lost when it was the last attempt the job may have."""
    if job.phase is Phase.LEASED and not expired(job, now):
        raise Refused(f"the lease of attempt {job.attempt} has not run out")
    return _requeued(job, "expire", now, "its landing zone stopped answering", failed=True)


def on_finish(job: Snapshot, owner: int, attempt: int, outcome: str | None, now: float = 0.0) -> Snapshot:
    """The holder's result, accepted once and only from the current attempt. A repeat from the
    attempt that ended the job (a finish acknowledged late, or one arriving after its lease ran
    out with an end asked) returns the job unchanged: the outcome stays the one accepted first.

    A finish reporting the job ``lost`` is a failed attempt, like a lease that ran out: the job is
    queued again under a new attempt (its results are not accepted), ends cancelled if its user
    asked for its end, or ends lost when the attempts are used up."""
    if job.phase.final and job.ran_on == owner and job.attempt == attempt:
        return job
    _fence(job, owner, attempt)
    reported = replace(job, outcome=outcome or DEFAULT_OUTCOME)
    if next_phase("finish", reported).final and reported.outcome != LOST:
        return replace(reported, phase=Phase.FINISHED, lease_owner=None, lease_expires=None)
    return _requeued(job, "finish", now, "its landing zone lost it", failed=True, outcome=reported.outcome)


def on_cancel(job: Snapshot, by: str, now: float) -> Snapshot:
    """A waiting job ends cancelled at once; a held one records the request (kept across a requeue)."""
    if next_phase("cancel", job).final:
        return _ended(job, f"cancelled by {by}", now)
    return job if job.cancel_requested else replace(job, cancel_requested=True, cancel_by=by)


def on_control(job: Snapshot, action: str, by: str, now: float) -> Snapshot:
    """A stop or kill ends a waiting job at once; otherwise the request is recorded as the job's
    latest, with a new ``control_seq`` (the holder carries each out once). Once a stop or kill is
    accepted, a pause or resume is refused (it would overwrite it); a kill may follow a stop."""
    if action not in _CONTROLS:
        raise Refused(f"unknown request {action!r} (known: {', '.join(Control)})")
    if next_phase(action, job).final:
        return _ended(job, f"{_PAST[action]} by {by}", now)
    return replace(job, control=action, control_by=by, control_seq=job.control_seq + 1)


def settle(job: Snapshot, now: float) -> Snapshot:
    """A waiting job that carries an end request (requeued so by an older hub) ends cancelled."""
    next_phase("settle", job)
    return _ended(job, f"{_asked(job)} while it waited", now)


def on_unmet(job: Snapshot, reason: str, now: float) -> Snapshot:
    """A waiting job whose prerequisite ended the wrong way ends failed, with that reason."""
    next_phase("unmet", job)
    return replace(job, phase=Phase.FINISHED, outcome=DEFAULT_OUTCOME, reason=reason, ended_at=now, waiting_on=None)


_CONTROLS = frozenset(c.value for c in Control)
_PAST = {"stop": "stopped", "kill": "killed"}


def _fence(job: Snapshot, owner: int, attempt: int) -> None:
    if not holds(job, owner, attempt):
        raise Stale(f"attempt {attempt} is no longer leased to this landing zone (the job is {job.phase}, "
                    f"attempt {job.attempt})")


def _requeued(job: Snapshot, trigger: str, now: float, why: str, *, failed: bool = False,
              outcome: str | None = None) -> Snapshot:
    """Queued again under a new attempt, or ended: cancelled when an end was asked, lost when this
    failed attempt was the last. ``outcome``: what a finish reported (the table reads it)."""
    free = replace(job, lease_owner=None, lease_expires=None, failures=job.failures + failed)
    if not next_phase(trigger, replace(job, outcome=outcome) if outcome else job).final:
        return replace(free, phase=Phase.PENDING, attempt=job.attempt + 1, ran_on=None)
    if ending(job):
        return _ended(free, f"{_asked(job)}; {why}", now)
    return replace(_ended(free, f"{why} on attempt {job.attempt}: {free.failures} of {job.max_attempts} "
                                f"attempts failed", now), outcome=LOST)


def _ended(job: Snapshot, reason: str, now: float) -> Snapshot:
    return replace(job, phase=Phase.FINISHED, lease_owner=None, lease_expires=None, outcome=CANCELLED,
                   reason=reason, ended_at=now)


def _asked(job: Snapshot) -> str:
    """Who asked for the job's end, in words (the reason a cancelled job shows)."""
    if job.cancel_requested:
        return f"cancelled by {job.cancel_by or 'a user'}"
    return f"{_PAST.get(job.control or '', 'ended')} by {job.control_by or 'a user'}"


def _refusal(trigger: str, job: Snapshot) -> str:
    if trigger not in EVENTS:
        return f"unknown event {trigger!r}"
    if job.phase.final:
        return f"the job is already finished ({job.outcome}); {trigger} is not possible any more"
    if job.phase is Phase.PENDING and ending(job):
        return f"the job waits to be ended ({_asked(job)}); {trigger} is not possible"
    if ending(job):
        return f"the job is being ended ({_asked(job)}); {trigger} is not possible any more"
    if paused(job) and trigger == "claim":
        return f"the job is paused by {job.control_by or 'a user'}: it waits for a resume"
    return f"a {job.phase} job cannot take {trigger!r}"


def parts() -> tuple[list[str], list[tuple[str, str, str]]]:
    """The phases and the edges (source, dest, label), a label being the trigger and its
    conditions as the ``transitions`` library writes them (``claim [!paused & !ending]``)."""
    edges = []
    for row in TRANSITIONS:
        sources = [row["source"]] if isinstance(row["source"], str) else row["source"]
        guards = [*_listed(row.get("conditions")), *(f"!{c}" for c in _listed(row.get("unless")))]
        label = row["trigger"] + (f" [{' & '.join(guards)}]" if guards else "")
        edges += [(source, source if row["dest"] == "=" else row["dest"], label) for source in sources]
    return list(PHASES), edges


def _listed(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else list(value)
