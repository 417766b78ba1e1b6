"""Hypothesis drives the tick's rules through random interleavings (scheduler states, cancels,
workers finishing between the tick's two reads, daemon crashes and restarts, controller outages,
time passing) and checks the promise without processes: no job submitted or started twice, none
cleaned while its SLURM job still runs, every transition valid, ended jobs stay ended, and once
the faults stop every job is cleaned and nothing lz started is left running.

The same machine, run on a scratch copy of the rules with one fix reverted, must find the defect:
that is what keeps this test honest (defect 2 and suspected (a) of issue 8). The soak, 2,000
interleavings of 80 steps (72 s), is ``bench/property_soak.py``.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import lz.core.rules
from lz.core.errors import InvalidTransition
from lz.core.job import Job
from lz.core.machine import State
from tests import figures
from tests.unit.rules_model import (
    MIN_JOB_AGE,
    Decide,
    Scheduler,
    Store,
    Worker,
    action_kind,
    is_busy_first,
    reverted_rules,
)

JOBS = ("j0", "j1")  # j0 starts received, j1 already built (queued): fewer steps to the races
WATCHED = (State.QUEUED, State.RUNNING, State.PAUSED, State.CANCELLING)
ENDS = ("RUNNING", "COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "NODE_FAIL")


class LandingZoneMachine(RuleBasedStateMachine):
    decide: Decide = staticmethod(lz.core.rules.decide)  # type: ignore[assignment]
    busy_first = True  # the engine asks the pool who is busy before it loads the jobs

    def __init__(self) -> None:
        super().__init__()
        self.now = 1_000_000.0
        self.violations: list[str] = []
        self.store = Store(self._check_fire)
        self.scheduler = Scheduler()
        self.workers: dict[str, Worker] = {}
        self.local = False
        self.ended: dict[str, tuple[str, str | None]] = {}

    @initialize(local=st.booleans())
    def jobs(self, local: bool) -> None:
        """j0 received, j1 already built; ``local``: the local executor (a dead process is listed
        nowhere, only its files remain) instead of SLURM (squeue lists an ended job MinJobAge)."""
        self.local = self.scheduler.local = local
        for job_id in JOBS:
            self.store.create(job_id, self.now)
        self.store.fire("j1", "build", work_dir="/w/j1")
        self.store.fire("j1", "built", executor="slurm")

    def _check_fire(self, job: Job, event: str) -> None:
        if event == "clean" and self.scheduler.live(job.id):
            self.violations.append(f"{job.id} cleaned while its SLURM job still runs, no cancel sent")

    # -- the tick, with workers' commits between its two reads ------------------------------------
    @rule(between=st.integers(0, 4), index=st.integers(0, 3))
    def tick(self, between: int = 0, index: int = 0) -> None:
        first = frozenset(self.workers) if self.busy_first else self.store.active()
        if between and self.workers:
            self._advance(sorted(self.workers)[index % len(self.workers)], between, False)
        busy, jobs = (first, self.store.active()) if self.busy_first else (frozenset(self.workers), first)
        self._act(busy, jobs)

    def _act(self, busy: frozenset[str], jobs: list[Job]) -> None:
        up = self.scheduler.up
        seen = {j.id: self.scheduler.observe(j) for j in jobs
                if up and j.state in WATCHED and j.submitted and j.id not in busy}
        memory = float("inf") if self.local else MIN_JOB_AGE
        ctx = lz.core.rules.TickContext(now=self.now, observed=up, busy=busy, queue_memory_s=memory)
        snapshot = {j.id: j for j in jobs}
        records: dict[str, dict[str, Any]] = {}
        for job in jobs:
            for action in type(self).decide(job, seen.get(job.id), ctx):
                kind = action_kind(action)
                if kind == "Record":
                    records.setdefault(job.id, {}).update(action.facts)
                elif kind == "Fire":
                    try:
                        self.store.fire(job.id, action.event, expect=action.expect, guard=action.guard,
                                        **action.facts)
                    except InvalidTransition:
                        pass
                elif kind == "Control" and up:
                    self._control(job, action.request)
                elif kind == "Cancel" and up:
                    self.scheduler.cancel(snapshot[job.id], self.now)
                elif kind == "Work" and job.id not in self.workers and (action.kind != "submit" or up):
                    self.workers[job.id] = Worker(action.kind)
        for job_id, facts in records.items():
            self.store.record(job_id, **facts)

    def _control(self, job: Job, what: str) -> None:
        """``lz.engine.control.carry_out``: signal, then the transition; a job that is gone forgets it."""
        if not self.scheduler.control(job, what):
            self.store.record(job.id, control=None)
            return
        started = job.started_at is not None or job.state == State.RUNNING
        event = "pause" if what == "pause" else ("resume" if started else "release")
        facts = {"control": None, "paused_at": self.now} if what == "pause" else lz.core.rules.resumed(job, self.now)
        self._try(job.id, event, job.state, **facts)

    # -- workers: one commit at a time -----------------------------------------------------------
    @precondition(lambda self: self.workers)
    @rule(index=st.integers(0, 3), commits=st.integers(1, 4), answer_lost=st.booleans())
    def a_worker_advances(self, index: int, commits: int, answer_lost: bool) -> None:
        self._advance(sorted(self.workers)[index % len(self.workers)], commits, answer_lost)

    def _advance(self, job_id: str, commits: int, answer_lost: bool) -> None:
        for _ in range(commits):
            if job_id in self.workers:
                self.worker_advances(job_id, answer_lost)

    def worker_advances(self, job_id: str, answer_lost: bool) -> None:
        worker = self.workers[job_id]
        getattr(self, f"_{worker.kind}")(job_id, worker, answer_lost)
        if not worker.go:
            del self.workers[job_id]

    def _build(self, job_id: str, worker: Worker, _: bool) -> None:
        if self.store.jobs[job_id].state == State.RECEIVED:
            self._try(job_id, "build", State.RECEIVED, work_dir=f"/w/{job_id}")
        self._try(job_id, "built", State.BUILDING, executor="slurm")
        worker.go = False

    def _submit(self, job_id: str, worker: Worker, answer_lost: bool) -> None:
        job = self.store.jobs[job_id]
        if worker.stage == 0:  # Steps.submit reads the job
            worker.go = job.state == State.QUEUED and job.executor_id is None
        elif worker.stage == 1:  # ... commits its intent
            self.store.record(job_id, submit_attempted_at=self.now)
        elif worker.stage == 2:  # ... calls sbatch (an answer lost to a timeout may still have queued it)
            if self.scheduler.up:
                worker.answer = self.scheduler.sbatch(job_id)  # type: ignore[attr-defined]
            else:
                if answer_lost:
                    self.scheduler.sbatch(job_id)
                worker.go = False
        else:  # ... records the id
            self.store.record(job_id, executor_id=worker.answer)  # type: ignore[attr-defined]
            worker.go = False
        worker.stage += 1

    def _collect(self, job_id: str, worker: Worker, _: bool) -> None:
        self._try(job_id, "clean", State.COLLECTING)
        worker.go = False

    def _try(self, job_id: str, event: str, expect: str, **facts: Any) -> None:
        try:
            self.store.fire(job_id, event, expect=expect, **facts)
        except InvalidTransition:
            pass

    # -- the world -------------------------------------------------------------------------------
    @rule(job_id=st.sampled_from(JOBS), how=st.sampled_from(["cancel", "stop", "kill"]))
    def user_cancels(self, job_id: str, how: str) -> None:
        self.store.cancel(job_id, self.now, how)

    @rule(job_id=st.sampled_from(JOBS), what=st.sampled_from(["pause", "resume"]), at_once=st.booleans())
    def user_pauses_or_resumes(self, job_id: str, what: str, at_once: bool) -> None:
        """``lz pause|resume``: the request recorded, carried out by the CLI (or, if it died, the tick)."""
        if self.store.request(job_id, what, self.now) and at_once and self.scheduler.up:
            self._control(self.store.jobs[job_id], what)

    @rule(event=st.sampled_from(["daemon crashes", "controller down", "controller up", "scheduler moves",
                                 "ended job ages out", "time passes"]),
          index=st.integers(0, 9), native=st.sampled_from(ENDS), seconds=st.sampled_from([1.0, 10.0, 40.0, 150.0]))
    def world(self, event: str, index: int, native: str, seconds: float) -> None:
        entries = self.scheduler.entries
        if event == "daemon crashes":  # and restarts: what it held in memory is gone
            self.workers.clear()
        elif event.startswith("controller"):
            self.scheduler.up = event == "controller up"
        elif event == "scheduler moves" and entries:
            self.scheduler.advance(entries[index % len(entries)], native, self.now)
        elif event == "ended job ages out":
            age = 0.0 if self.local else MIN_JOB_AGE
            ended = [e for e in entries if e.phase == "ended" and not e.aged_out and self.now - e.ended_at >= age]
            if ended:
                ended[index % len(ended)].aged_out = True
        elif event == "time passes":
            self.now += seconds

    # -- the promise -----------------------------------------------------------------------------
    @invariant()
    def nothing_twice_nothing_forgotten(self) -> None:
        twice = {j: n for j, n in self.scheduler.submissions.items() if n > 1}
        assert not twice, f"submitted more than once: {twice}"
        assert not {j: n for j, n in self.scheduler.started.items() if n > 1}, "started more than once"
        assert not self.violations, self.violations

    @invariant()
    def ended_jobs_stay_ended(self) -> None:
        for job_id, job in self.store.jobs.items():
            if job_id in self.ended:
                assert (job.state, job.outcome) == self.ended[job_id], f"{job_id} moved after cleaned"
            elif job.state == State.CLEANED:
                self.ended[job_id] = (job.state, job.outcome)

    def teardown(self) -> None:
        """Faults stop: the controller answers, every job the scheduler holds finishes; then every
        job must be cleaned, with nothing of lz's still running."""
        self.scheduler.up = True
        for entry in self.scheduler.entries:  # an operator releases whatever is still held
            entry.held = False
        for _ in range(40):
            for job_id in list(self.workers):
                while job_id in self.workers:
                    self.worker_advances(job_id, False)
            for entry in self.scheduler.entries:
                self.scheduler.advance(entry, "RUNNING", self.now)
                self.scheduler.advance(entry, "COMPLETED", self.now)
            self.tick()
            self.nothing_twice_nothing_forgotten()
            self.now += 50.0
        stuck = {j.id: j.state for j in self.store.jobs.values() if j.state != State.CLEANED}
        assert not stuck, f"never cleaned once the faults stopped: {stuck}"
        assert not [e for e in self.scheduler.entries if e.phase in ("pending", "running")]


QUICK = settings(max_examples=150, stateful_step_count=40, deadline=None,
                 suppress_health_check=list(HealthCheck))


def test_the_engine_reads_busy_workers_before_the_jobs() -> None:
    assert is_busy_first(), "Engine.tick must call pool.busy() before store.active() (defect 2)"


def test_random_interleavings_keep_the_promise() -> None:
    run_state_machine_as_test(LandingZoneMachine, settings=QUICK)
    figures.add("property test", interleavings_tried=QUICK.max_examples, lost=0, duplicated=0, leftovers=0)


# -- reverted fixes must be found ------------------------------------------------------------------
class WithoutDefect2Fix(LandingZoneMachine):
    """Jobs loaded before the busy workers, and no "never submitted" guard on the cancel's end."""

    decide = staticmethod(reverted_rules(("guard=_NEVER_SUBMITTED", "guard=None")))
    busy_first = False


class WithoutSuspectedAFix(LandingZoneMachine):
    """An absent job resubmitted although a trace of its start was seen."""

    decide = staticmethod(reverted_rules(("job.executor_id is None and not seen.seen_before",
                                          "job.executor_id is None")))


HUNT = settings(max_examples=5000, stateful_step_count=40, deadline=None, database=None, derandomize=True,
                phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # found, not shrunk: minutes saved


@pytest.fixture
def no_local_constants() -> Any:
    """The hunt draws the same examples whatever ran before it in this process: Hypothesis (6.13x
    on) also draws constants it found in the project's imported modules, a pool that grows with
    every test that imports one more module, and with it a derandomized hunt missed suspected (a)
    after the rest of this file (issue 23's unit runs). Pinned to no local constants, restored
    after; left as it is where Hypothesis's internals differ."""
    try:
        from hypothesis.internal.conjecture import providers as found
        saved = (found._local_constants, found._sys_modules_len)
        found._local_constants = type(found._local_constants)()
        found._sys_modules_len = len(sys.modules)
        found.CONSTANTS_CACHE.cache.clear()
    except (ImportError, AttributeError, TypeError):
        yield
        return
    try:
        yield
    finally:
        found._local_constants, found._sys_modules_len = saved
        found.CONSTANTS_CACHE.cache.clear()


@pytest.mark.slow
@pytest.mark.usefixtures("no_local_constants")
@pytest.mark.parametrize(("machine", "symptom"), [
    (WithoutDefect2Fix, "cleaned while its SLURM job still runs"),
    (WithoutSuspectedAFix, "submitted more than once"),
], ids=["defect-2", "suspected-a"])
def test_a_reverted_fix_is_found(machine: type[LandingZoneMachine], symptom: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exception) as found:  # noqa: PT011 (an AssertionError, or a group of them)
        run_state_machine_as_test(machine, settings=HUNT)
    failures = list(getattr(found.value, "exceptions", [found.value]))
    assert any(symptom in str(f) for f in failures), failures
    figures.add("property test", reverted_fixes_found=1)
    with capsys.disabled():
        print(f"\n{machine.__name__}: {failures[0]}\n" + "\n".join(getattr(failures[0], "__notes__", [])))
