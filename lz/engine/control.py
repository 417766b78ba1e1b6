"""Job control requests: stop, kill, pause, resume (``lz stop|kill|pause|resume``).

Intent before effect: the request is a column on the job (``control``, ``control_by``,
``control_at``), committed before any signal. Stop and kill are cancels that remember how
(the tick's ``Cancel`` then calls ``Executor.stop``/``kill`` until the job ended); pause and
resume are carried out at once by the caller (so a refusal is one line on the user's terminal)
and again by the tick while the request stays recorded (a crash between the signal and the
transition). Both the CLI and the engine go through ``carry_out``.
"""

from __future__ import annotations

import logging

from lz.core.errors import ControllerUnavailable, ControlRefused, InvalidTransition
from lz.core.job import Job
from lz.core.machine import State
from lz.core.rules import resumed
from lz.engine.workspace import Workspace
from lz.executors.base import Executor
from lz.store.jobs import JobStore

log = logging.getLogger(__name__)

REQUESTS = ("stop", "kill", "pause", "resume")


def request(store: JobStore, job_id: str, what: str, by: str) -> Job:
    """Record a request (the intent); stop and kill also move the job to ``cancelling``."""
    if what not in REQUESTS:
        raise ValueError(f"unknown request {what!r}")
    if what in ("stop", "kill"):
        return store.cancel(job_id, how=what, by=by)
    job = store.get(job_id)
    if what == "pause":
        if job.state not in (State.QUEUED, State.RUNNING):
            raise InvalidTransition(f"job {job.id} is {job.state}: only a queued or running job can be paused")
        if not job.submitted:
            raise InvalidTransition(f"job {job.id} is not submitted yet: pause it once it is queued")
    elif job.state != State.PAUSED:
        raise InvalidTransition(f"job {job.id} is {job.state}, not paused: nothing to resume")
    store.record(job.id, control=what, control_by=by, control_at=store.clock())
    return store.get(job.id)


def carry_out(store: JobStore, executor: Executor, workspace: Workspace, job: Job) -> Job:
    """Signal the job as its recorded pause or resume request says, then record the transition.
    A refusal clears the request and raises ControlRefused (the job unchanged); an unreachable
    controller leaves the request for the next tick."""
    what = job.control
    tracked = workspace.tracked(job)
    started = job.started_at is not None or job.state == State.RUNNING
    try:
        if what == "pause" and job.state in (State.QUEUED, State.RUNNING):
            executor.pause(tracked, started=started)
            return store.fire(job.id, "pause", expect=job.state, detail=f"requested by {job.control_by}",
                              control=None, paused_at=store.clock())
        if what == "resume" and job.state == State.PAUSED:
            executor.resume(tracked, started=started)
            event = "resume" if started else "release"
            return store.fire(job.id, event, expect=State.PAUSED, detail=f"requested by {job.control_by}",
                              **resumed(job, store.clock()))
    except ControlRefused:
        _forget(store, job)
        raise
    except ControllerUnavailable as exc:
        log.info("job %s: %s not carried out yet: %s", job.id, what, exc)
        return job
    except InvalidTransition as exc:  # moved meanwhile (ended, or another process did it): nothing to do
        log.info("job %s: %s", job.id, exc)
        return store.get(job.id)
    _forget(store, job)  # a request that no longer fits the job's state
    return store.get(job.id)


def _forget(store: JobStore, job: Job) -> None:
    store.record(job.id, control=None, control_by=None, control_at=None)
