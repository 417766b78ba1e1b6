"""Named crash points: a test hook that makes the process die at one exact instant, as SIGKILL would.

``LZ_CRASH_AT=<point>[:<n>]`` makes the process exit at once (``os._exit(137)``: no cleanup, no
flush, no ``finally``) the n-th time (default: the first) it passes ``crash_point(<point>)``. The
points sit between each committed state and its side effect, and between each side effect and
its commit, so the fault-point suite (``tests/integration/test_fault_points.py``) can prove that a
restart finishes every job exactly once whatever instant the daemon died at.

Unset, every call is one global read and a return. A point name that is not in ``POINTS`` is a
bug: ``crash_point`` refuses it, and so does ``arm`` (an unknown name in the variable would
otherwise make a test pass by never crashing).
"""

from __future__ import annotations

import os
from _thread import allocate_lock  # threading.Lock itself; ``import threading`` costs every lz submit 0.5 ms

POINTS: tuple[str, ...] = (
    "migrate.step",  # an Alembic revision applied, its transaction not committed
    "migrate.applied",  # Alembic done (it commits its own transaction), before upgrade() returns
    "build.fired",  # `build` committed (work_dir recorded), nothing staged yet
    "build.done",  # image built and snapshot taken, `built` not committed
    "submit.archived",  # a retry: the previous attempt cancelled and its logs moved aside, nothing recorded
    "submit.intent",  # submit_attempted_at committed, sbatch / the process not started
    "submit.answered",  # sbatch answered / the local process started, executor_id not recorded
    "submit.recorded",  # executor_id recorded, before the step returns (and the pool wakes the tick)
    "cancel.sent",  # scancel / SIGTERM sent, the tick's later commits not made
    "ended.fired",  # `ended` committed, nothing collected yet
    "collect.archived",  # results written to the results store, nothing recorded
    "collect.stored",  # the same instant, just before the work directory and spool are removed (results_at
    # is recorded with ``clean``: the stored result is its own record)
    "clean.removed",  # work directory and spool removed, `clean` not committed
    # the hub (lz hub serve): each committed, its answer not sent (the caller retries or times out);
    # tests/integration/test_hub_fault_points.py
    "hub.submit.stored",  # a submitted job's bundle and row committed
    "hub.claim.committed",  # a claim's leases committed
    "hub.upload.stored",  # an attempt's results file in place
    "hub.finish.recorded",  # an attempt's finish committed
    # the hub agent (``lz run --hub``): tests/integration/test_agent_fault_points.py
    "agent.claim.answered",  # the hub answered a claim with jobs, no claim recorded in the outbox
    "agent.bundle.downloaded",  # the bundle is in the incoming area, intake not run
    "agent.intake.committed",  # the local job is stored, the claim not linked to it
    "agent.results.archived",  # the results archive is in the outgoing area, not uploaded
    "agent.results.uploaded",  # the hub has the results, the finish not sent
    "agent.finish.sent",  # the hub answered the finish, the claim still open in the outbox
    "agent.finish.acknowledged",  # the claim forgotten, before the claimer is told there is room
)

EXIT_STATUS = 137  # what a shell reports for a SIGKILLed process
ENV = "LZ_CRASH_AT"


class _Plan:
    def __init__(self, point: str, nth: int):
        self.point = point
        self.left = nth
        self.lock = allocate_lock()


_UNREAD = _Plan(POINTS[0], 0)
_plan: _Plan | None = _UNREAD  # the variable is read at the first passage (or by arm_from_environment)


def parse(spec: str) -> tuple[str, int]:
    """``point`` or ``point:n`` -> (point, n); ValueError with one line for anything else."""
    point, _, count = spec.strip().partition(":")
    if point not in POINTS:
        raise ValueError(f"{ENV}: unknown crash point {point!r} (known: {', '.join(POINTS)})")
    try:
        nth = int(count) if count else 1
    except ValueError:
        raise ValueError(f"{ENV}: {count!r} is not a count (use {point}:N)") from None
    if nth < 1:
        raise ValueError(f"{ENV}: the count must be 1 or more, not {nth}")
    return point, nth


def arm(spec: str | None) -> None:
    """Crash at ``spec`` from now on (None: disarm). The daemon and the CLI call this with the
    environment variable at start."""
    global _plan
    _plan = _Plan(*parse(spec)) if spec else None


def arm_from_environment() -> None:
    arm(os.environ.get(ENV) or None)


def crash_point(name: str) -> None:
    """Die here, at once, if this is the armed point's n-th passage; otherwise nothing."""
    plan = _plan
    if plan is None:
        return
    if plan is _UNREAD:
        arm_from_environment()
        plan = _plan
        if plan is None:
            return
    if name not in POINTS:
        raise ValueError(f"crash point {name!r} is not registered in lz.host.faults.POINTS")
    if name != plan.point:
        return
    with plan.lock:
        plan.left -= 1
        if plan.left != 0:
            return
    os.write(2, f"lz: crash point {name} reached ({ENV}): exiting as if killed\n".encode())
    os._exit(EXIT_STATUS)
