"""Hypothesis drives the hub job's rules (lz.hub.protocol.lifecycle) through random interleavings
of claims by several landing zones, heartbeats, handed-back and expired leases (a fake clock),
stop/kill/pause/resume requests, cancels and finishes, stale ones included, over a few jobs, and
checks the hub's promise after every step against a small model of its own:

- no lost job: every job is pending, leased under a live or expirable lease, or finished; a
  pending job is claimable unless its user paused it, and every job can still end;
- one accepted result: a finished job never changes again, and a stale attempt's finish or
  heartbeat is refused;
- an accepted stop, kill or cancel is never forgotten: the job is never claimed again nor given
  a later attempt, and unless the attempt that held it finished first, it ends cancelled;
- a lost attempt (lease ran out, or a finish reporting ``lost``) is a failed attempt: the job
  runs again unless an end was asked or it has failed ``max_attempts`` times, when it ends lost;
  no job fails more than ``max_attempts`` times, nor runs more often (hand-backs aside);
- every step is a row of the table.

The same machine, run on a scratch copy of the rules with a fix reverted ("stop survives
requeue": an end asked read as ``cancel_requested`` alone, as hubs before the table did; a
``lost`` finish taken as final; attempts unbounded), must find the defect.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from lz.hub.protocol import lifecycle

JOBS = ("j0", "j1")
ZONES = (1, 2, 3)
LEASE_S = 30.0
PEOPLE = st.sampled_from(["alice", "bob"])
OUTCOMES = st.sampled_from(["succeeded", "failed", "cancelled", "lost", None])
Lease = tuple[str, int, int]  # job, landing zone, attempt


def _edges(rules: types.ModuleType) -> set[tuple[str, str, str]]:
    found = set()
    for row in rules.TRANSITIONS:
        for source in [row["source"]] if isinstance(row["source"], str) else row["source"]:
            found.add((row["trigger"], source, source if row["dest"] == "=" else row["dest"]))
    return found


class HubJobs(RuleBasedStateMachine):
    rules_module: types.ModuleType = lifecycle
    leases = Bundle("leases")

    def __init__(self) -> None:
        super().__init__()
        self.L = self.rules_module
        self.edges = _edges(self.L)
        self.now = 1000.0
        self.jobs: dict[str, Any] = {j: self.L.Snapshot() for j in JOBS}
        # the model: what the hub has accepted, kept apart from the rules under test
        self.attempt = {j: 1 for j in JOBS}
        self.holder: dict[str, tuple[int, int] | None] = {j: None for j in JOBS}  # current lease
        self.last_holder: dict[str, tuple[int, int] | None] = {j: None for j in JOBS}
        self.held = {j: False for j in JOBS}  # the user's latest pause/resume is a pause
        self.end_asked: dict[str, tuple[str, int]] = {}  # job: (what was asked, the attempt then)
        self.finished_by_zone: dict[str, int] = {}  # job: the attempt whose finish was accepted
        self.final: dict[str, Any] = {}
        self.failures = {j: 0 for j in JOBS}  # attempts that failed: leases run out, jobs lost
        self.runs = {j: 0 for j in JOBS}  # claims not handed back

    # -- applying a rule --------------------------------------------------------------------------
    def _apply(self, job_id: str, trigger: str, expect_ok: bool, step: Any) -> Any:
        before = self.jobs[job_id]
        try:
            after = step(before)
        except self.L.Refused as refused:
            assert not expect_ok, f"{trigger} of {job_id} refused unexpectedly: {refused} ({before})"
            return None
        assert expect_ok, f"{trigger} of {job_id} accepted, the model expected a refusal: {before} -> {after}"
        if after is not before:
            edge = (trigger, str(before.phase), str(after.phase))
            assert edge in self.edges, f"{edge} is no row of the table"
        if after.phase == "finished" and job_id not in self.final:
            self.final[job_id] = after
            self.holder[job_id] = None
        self.jobs[job_id] = after
        return after

    def _requeued_or_ended(self, job_id: str, job: Any) -> None:
        self.holder[job_id] = None
        if job.phase == "pending":
            self.attempt[job_id] += 1

    # -- the landing zones ------------------------------------------------------------------------
    @initialize(target=leases, zones=st.lists(st.sampled_from((None, *ZONES)), min_size=len(JOBS),
                                              max_size=len(JOBS)),
                maxes=st.lists(st.integers(1, 3), min_size=len(JOBS), max_size=len(JOBS)))
    def start(self, zones: list[int | None], maxes: list[int]) -> Any:
        """Some jobs start out claimed (fewer steps to the races), the others pending; each may
        fail one to three times."""
        self.jobs = {j: self.L.Snapshot(max_attempts=m) for j, m in zip(JOBS, maxes)}
        return multiple(*[self.claim(job_id, zone) for job_id, zone in zip(JOBS, zones) if zone is not None])

    @rule(target=leases, job_id=st.sampled_from(JOBS), zone=st.sampled_from(ZONES))
    def claim(self, job_id: str, zone: int) -> Any:
        ok = self.jobs[job_id].phase == "pending" and not self.held[job_id] and job_id not in self.end_asked
        job = self._apply(job_id, "claim", ok, lambda j: self.L.on_claim(j, zone, self.now, LEASE_S))
        if job is None:
            return multiple()
        assert job.attempt == self.attempt[job_id] and job.lease_expires == self.now + LEASE_S
        self.holder[job_id] = self.last_holder[job_id] = (zone, job.attempt)
        self.runs[job_id] += 1
        return (job_id, zone, job.attempt)

    @rule(lease=leases)
    def heartbeat(self, lease: Lease) -> None:
        job_id, zone, attempt = lease
        job = self._apply(job_id, "heartbeat", self.holder[job_id] == (zone, attempt),
                          lambda j: self.L.on_heartbeat(j, zone, attempt, self.now, LEASE_S))
        assert job is None or job.lease_expires == self.now + LEASE_S

    @rule(lease=leases)
    def release(self, lease: Lease) -> None:
        job_id, zone, attempt = lease
        job = self._apply(job_id, "release", self.holder[job_id] == (zone, attempt),
                          lambda j: self.L.on_release(j, zone, attempt, self.now))
        if job is not None:
            self.runs[job_id] -= job.phase == "pending"  # a hand-back is no run of its own
            self._requeued_or_ended(job_id, job)

    @rule(lease=leases, outcome=OUTCOMES)
    def finish(self, lease: Lease, outcome: str | None) -> None:
        self._finish(*lease, outcome)

    @rule(job_id=st.sampled_from(JOBS), zone=st.sampled_from(ZONES), offset=st.sampled_from([-1, 0, 1]),
          outcome=OUTCOMES)
    def finish_by_anyone(self, job_id: str, zone: int, offset: int, outcome: str | None) -> None:
        """A confused or late landing zone: any zone, an attempt near the job's."""
        self._finish(job_id, zone, max(1, self.attempt[job_id] + offset), outcome)

    def _finish(self, job_id: str, zone: int, attempt: int, outcome: str | None) -> None:
        current = self.holder[job_id] == (zone, attempt)
        repeat = (job_id in self.final and self.last_holder[job_id] == (zone, attempt)
                  and self.attempt[job_id] == attempt)
        before = self.jobs[job_id]
        job = self._apply(job_id, "finish", current or repeat,
                          lambda j: self.L.on_finish(j, zone, attempt, outcome, self.now))
        if repeat:
            assert job is before, "a repeated finish changed a finished job"
        elif job is not None and outcome == "lost":
            self._failed(job_id, job, "reported lost")
        elif job is not None:
            assert job.outcome == (outcome or "failed")
            self.finished_by_zone[job_id] = attempt

    def _failed(self, job_id: str, job: Any, how: str) -> None:
        """An attempt failed: the job runs again, unless an end was asked or it was its last."""
        self.failures[job_id] += 1
        last = self.failures[job_id] >= job.max_attempts
        if job_id in self.end_asked:
            expected = "finished"
        else:
            expected = "finished" if last else "pending"
        assert job.phase == expected, (
            f"{job_id}: a lost attempt ({how}, failure {self.failures[job_id]} of {job.max_attempts}) left it "
            f"{job.phase}, expected {expected}: {job}")
        if job.phase == "finished" and job_id not in self.end_asked:
            assert job.outcome == "lost", f"{job_id}: lost attempts used up, yet it ended {job.outcome}: {job}"
        self._requeued_or_ended(job_id, job)

    # -- time and the hub's sweep -------------------------------------------------------------------
    @rule(seconds=st.sampled_from([1.0, 10.0, 29.0, 31.0, 60.0]), sweep=st.booleans())
    def tick(self, seconds: float, sweep: bool) -> None:
        """Time passes; then, or later, the hub's periodic sweep requeues every lease that ran out
        (a late heartbeat before the sweep still renews a lease)."""
        self.now += seconds
        if sweep:
            self.sweep()

    @rule()
    def sweep(self) -> None:
        for job_id, job in list(self.jobs.items()):
            if self.L.expired(job, self.now):
                self._failed(job_id, self._apply(job_id, "expire", True, lambda j: self.L.on_expiry(j, self.now)),
                             "lease ran out")

    @rule(job_id=st.sampled_from(JOBS))
    def expire_too_early(self, job_id: str) -> None:
        job = self.jobs[job_id]
        ok = job.phase == "leased" and job.lease_expires < self.now
        job = self._apply(job_id, "expire", ok, lambda j: self.L.on_expiry(j, self.now))
        if job is not None:
            self._failed(job_id, job, "lease ran out")

    # -- the users -----------------------------------------------------------------------------------
    @rule(job_id=st.sampled_from(JOBS), by=PEOPLE)
    def cancel(self, job_id: str, by: str) -> None:
        attempt = self.attempt[job_id]
        if self._apply(job_id, "cancel", job_id not in self.final, lambda j: self.L.on_cancel(j, by, self.now)):
            self.end_asked.setdefault(job_id, ("cancel", attempt))

    @rule(job_id=st.sampled_from(JOBS), action=st.sampled_from(["stop", "kill"]), by=PEOPLE)
    def end_request(self, job_id: str, action: str, by: str) -> None:
        self._control(job_id, action, by)

    @rule(job_id=st.sampled_from(JOBS), action=st.sampled_from(["pause", "resume"]), by=PEOPLE)
    def hold_request(self, job_id: str, action: str, by: str) -> None:
        self._control(job_id, action, by)

    def _control(self, job_id: str, action: str, by: str) -> None:
        ends = action in ("stop", "kill")
        ok = job_id not in self.final and (ends or job_id not in self.end_asked)
        attempt = self.attempt[job_id]
        job = self._apply(job_id, action, ok, lambda j: self.L.on_control(j, action, by, self.now))
        if job is not None and ends:
            self.end_asked.setdefault(job_id, (action, attempt))
        elif job is not None:
            self.held[job_id] = action == "pause"

    # -- the promise -----------------------------------------------------------------------------------
    @invariant()
    def no_lost_job(self) -> None:
        for job_id, job in self.jobs.items():
            assert job.phase in ("pending", "leased", "finished"), job
            if job.phase == "pending":
                assert job.lease_owner is None and job.lease_expires is None, job
                assert job_id not in self.end_asked, (
                    f"{job_id}: the {self.end_asked[job_id][0]} accepted at attempt {self.end_asked[job_id][1]} "
                    f"is forgotten: the job waits to run again as attempt {job.attempt} ({job})")
                assert self.L.claimable(job) == (not self.held[job_id]), job
            elif job.phase == "leased":
                assert (job.lease_owner, job.attempt) == self.holder[job_id] and job.lease_expires is not None
            assert job.phase == "finished" or self._can_still_end(job), f"{job_id} can never end: {job}"

    @invariant()
    def one_accepted_result(self) -> None:
        for job_id, job in self.jobs.items():
            assert job.attempt == self.attempt[job_id], (job_id, job, self.attempt[job_id])
            if job_id in self.final:
                assert job == self.final[job_id], f"{job_id} changed after it finished: {self.final[job_id]} -> {job}"
                assert job.outcome is not None and job.lease_owner is None

    @invariant()
    def attempts_are_bounded(self) -> None:
        for job_id, job in self.jobs.items():
            assert self.failures[job_id] <= job.max_attempts, (
                f"{job_id} failed more than max_attempts ({job.max_attempts}) times: {self.failures[job_id]}")
            assert self.runs[job_id] <= job.max_attempts, (
                f"{job_id} ran more than max_attempts ({job.max_attempts}) times: {self.runs[job_id]}")
            assert job.failures == self.failures[job_id], (job_id, job, self.failures[job_id])

    @invariant()
    def an_accepted_end_is_never_forgotten(self) -> None:
        for job_id, (asked, attempt) in self.end_asked.items():
            job = self.jobs[job_id]
            assert job.attempt == attempt, f"{job_id}: {asked} accepted at attempt {attempt}, now attempt {job.attempt}"
            if job.phase == "leased":
                assert job.cancel_requested or job.control in ("stop", "kill"), f"{job_id}: the {asked} was overwritten: {job}"
            if job.phase == "finished" and self.finished_by_zone.get(job_id) != attempt:
                assert job.outcome == "cancelled", f"{job_id} ended {job.outcome} after a {asked}: {job}"

    def _can_still_end(self, job: Any) -> bool:
        """Once every landing zone falls silent and the user resumes what they paused, the job ends."""
        for _ in range(4):
            if job.phase == "finished":
                return True
            if job.phase == "leased":
                job = self.L.on_expiry(job, job.lease_expires + 1)
            elif self.L.claimable(job):
                job = self.L.on_finish(self.L.on_claim(job, 99, self.now, LEASE_S), 99, job.attempt, "succeeded",
                                       self.now)
            elif self.L.ending(job):
                job = self.L.settle(job, self.now)
            else:
                job = self.L.on_control(job, "resume", "someone", self.now)
        return job.phase == "finished"


QUICK = settings(max_examples=200, stateful_step_count=40, deadline=None, suppress_health_check=list(HealthCheck))


def test_random_interleavings_keep_the_promise() -> None:
    run_state_machine_as_test(HubJobs, settings=QUICK)


# -- the reverted fix must be found ----------------------------------------------------------------------
REVERTS = {  # the fix, and what hubs before the table did instead
    # a lease that ran out (or was handed back) looks only at cancel_requested, as claims.requeue_expired did
    "requeue": ("if not next_phase(trigger, replace(job, outcome=outcome) if outcome else job).final:",
                "if not next_phase(trigger, replace(job, outcome=outcome, control=None)).final:"),
    # an end asked is cancel_requested alone everywhere: requeue, claim and pause/resume too
    "ending": ("return job.cancel_requested or job.control in (Control.STOP, Control.KILL)",
               "return job.cancel_requested"),
    # a landing zone's "lost" was taken as the job's final outcome
    "lost": ("return job.outcome == LOST and not ending(job) and not exhausted(job)", "return False"),
    # attempts unbounded: a lease that keeps running out requeues the job for ever
    "unbounded": ("return job.failures + 1 >= job.max_attempts", "return False"),
}


def reverted_lifecycle(old: str, new: str) -> types.ModuleType:
    """A scratch copy of the lifecycle module with ``old`` replaced by ``new``."""
    source = inspect.getsource(lifecycle)
    assert old in source, f"{old!r} is no longer in lifecycle.py: update the revert"
    name = f"lz_hub_lifecycle_reverted_{abs(hash((old, new)))}"
    module = types.ModuleType(name)
    sys.modules[name] = module  # dataclasses look their module up while the classes are made
    exec(compile(source.replace(old, new), f"<{name}>", "exec"), module.__dict__)
    return module


HUNT = settings(max_examples=1000, stateful_step_count=40, deadline=None, database=None, derandomize=True,
                phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # found, not shrunk


@pytest.mark.parametrize("revert", sorted(REVERTS))
def test_the_reverted_fix_is_found(revert: str) -> None:
    class WithoutStopSurvivesRequeue(HubJobs):
        rules_module = reverted_lifecycle(*REVERTS[revert])

    with pytest.raises(AssertionError, match="forgotten|overwritten|accepted at attempt|model expected a refusal|a lost attempt|max_attempts"):
        run_state_machine_as_test(WithoutStopSurvivesRequeue, settings=HUNT)
