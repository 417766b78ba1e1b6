"""Each rule of the hub job's lifecycle (lz.hub.protocol.lifecycle), and the table it reads."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from types import SimpleNamespace

import pytest
from transitions import Machine, MachineError

from lz.core.errors import InvalidTransition, UserError
from lz.hub.protocol.lifecycle import (
    CANCELLED,
    EVENTS,
    MACHINE,
    PHASES,
    TRANSITIONS,
    Control,
    Phase,
    Refused,
    Snapshot,
    Stale,
    changes,
    claimable,
    ending,
    exhausted,
    expired,
    next_phase,
    on_cancel,
    on_claim,
    on_control,
    on_expiry,
    on_finish,
    on_heartbeat,
    on_release,
    paused,
    retryable,
    settle,
)

LEASE_S = 30.0
ZONE, OTHER = 1, 2


def leased(now: float = 0.0, **facts: object) -> Snapshot:
    return on_claim(Snapshot(**facts), ZONE, now, LEASE_S)  # type: ignore[arg-type]


# -- facts on the phases -------------------------------------------------------------------------------
def test_only_finished_is_final_and_only_pending_is_claimable() -> None:
    assert [p for p in Phase if p.final] == [Phase.FINISHED]
    assert [p for p in Phase if p.claimable] == [Phase.PENDING]
    assert [c for c in Control if c.ends] == [Control.STOP, Control.KILL]


def test_refusals_are_user_errors_and_stale_is_a_refusal() -> None:
    assert issubclass(Stale, Refused) and issubclass(Refused, InvalidTransition) and issubclass(Refused, UserError)


# -- claim and heartbeat ------------------------------------------------------------------------------------
def test_a_claim_leases_the_job_under_its_attempt() -> None:
    job = on_claim(Snapshot(attempt=3), ZONE, 100.0, LEASE_S)
    assert (job.phase, job.attempt, job.lease_owner, job.lease_expires, job.ran_on) == (
        Phase.LEASED, 3, ZONE, 130.0, ZONE)


def test_a_held_or_finished_job_cannot_be_claimed() -> None:
    with pytest.raises(Refused, match="cannot take 'claim'"):
        on_claim(leased(), OTHER, 1.0, LEASE_S)
    with pytest.raises(Refused, match="already finished"):
        on_claim(on_cancel(Snapshot(), "bob", 1.0), OTHER, 1.0, LEASE_S)


def test_a_heartbeat_renews_the_lease_of_the_current_attempt_only() -> None:
    job = on_heartbeat(leased(), ZONE, 1, 20.0, LEASE_S)
    assert job.lease_expires == 50.0
    assert on_heartbeat(job, ZONE, 1, 60.0, LEASE_S).lease_expires == 90.0  # late but not yet reclaimed
    with pytest.raises(Stale):
        on_heartbeat(job, OTHER, 1, 20.0, LEASE_S)
    with pytest.raises(Stale):
        on_heartbeat(job, ZONE, 2, 20.0, LEASE_S)
    with pytest.raises(Stale):
        on_heartbeat(Snapshot(), ZONE, 1, 20.0, LEASE_S)


# -- release and expiry -----------------------------------------------------------------------------------
def test_a_released_job_is_queued_again_under_a_new_attempt() -> None:
    job = on_release(leased(), ZONE, 1, 5.0)
    assert (job.phase, job.attempt, job.lease_owner, job.lease_expires, job.ran_on) == (
        Phase.PENDING, 2, None, None, None)
    assert claimable(job)
    with pytest.raises(Stale):
        on_release(leased(), ZONE, 2, 5.0)


def test_an_expired_lease_queues_the_job_again_and_fences_the_old_attempt() -> None:
    job = leased()
    with pytest.raises(Refused, match="has not run out"):
        on_expiry(job, LEASE_S)  # expires only once past lease_expires
    assert not expired(job, LEASE_S) and expired(job, LEASE_S + 1)
    job = on_expiry(job, LEASE_S + 1)
    assert (job.phase, job.attempt) == (Phase.PENDING, 2) and claimable(job)
    with pytest.raises(Refused, match="cannot take 'expire'"):
        on_expiry(job, 1000.0)


@pytest.mark.parametrize(("ask", "reason"), [
    (lambda j: on_control(j, "stop", "alice", 1.0), "stopped by alice"),
    (lambda j: on_control(j, "kill", "alice", 1.0), "killed by alice"),
    (lambda j: on_cancel(j, "bob", 1.0), "cancelled by bob"),
    (lambda j: replace(j, cancel_requested=True), "cancelled by a user"),  # a row without cancel_by
], ids=["stop", "kill", "cancel", "cancel-by-unknown"])
@pytest.mark.parametrize("lost", ["expire", "release"])
def test_stop_survives_requeue(ask: Callable[[Snapshot], Snapshot], reason: str, lost: str) -> None:
    """The bug of hubs before this table: an accepted stop or kill was forgotten at a requeue."""
    job = ask(leased())
    assert job.phase is Phase.LEASED and ending(job)
    job = on_expiry(job, 100.0) if lost == "expire" else on_release(job, ZONE, 1, 100.0)
    assert (job.phase, job.outcome, job.attempt, job.ended_at) == (Phase.FINISHED, CANCELLED, 1, 100.0)
    assert job.reason is not None and job.reason.startswith(reason + "; its landing zone ")


def test_pause_survives_requeue_and_holds_the_job_until_resumed() -> None:
    job = on_expiry(on_control(leased(), "pause", "alice", 1.0), 100.0)
    assert (job.phase, job.attempt, job.control) == (Phase.PENDING, 2, "pause")
    assert paused(job) and not claimable(job)
    with pytest.raises(Refused, match="paused by alice"):
        on_claim(job, OTHER, 101.0, LEASE_S)
    job = on_control(job, "resume", "alice", 102.0)
    assert claimable(job) and job.control_seq == 2
    assert on_claim(job, OTHER, 103.0, LEASE_S).lease_owner == OTHER


def test_a_waiting_job_may_be_paused_and_then_cancelled() -> None:
    job = on_control(Snapshot(), "pause", "alice", 1.0)
    assert job.phase is Phase.PENDING and not claimable(job)
    assert on_cancel(job, "alice", 2.0).outcome == CANCELLED


# -- finish ---------------------------------------------------------------------------------------------
def test_a_finish_is_accepted_once_from_the_current_attempt() -> None:
    job = on_finish(leased(), ZONE, 1, "succeeded")
    assert (job.phase, job.outcome, job.lease_owner, job.lease_expires) == (Phase.FINISHED, "succeeded", None, None)
    assert on_finish(job, ZONE, 1, "failed") is job  # a repeat: the first outcome stays
    with pytest.raises(Stale):
        on_finish(job, OTHER, 1, "failed")
    assert on_finish(leased(), ZONE, 1, None).outcome == "failed"


def test_a_stale_attempt_cannot_finish_the_job() -> None:
    requeued = on_expiry(leased(), 100.0)
    with pytest.raises(Stale, match="attempt 1 is no longer leased"):
        on_finish(requeued, ZONE, 1, "succeeded")
    again = on_claim(requeued, OTHER, 101.0, LEASE_S)
    with pytest.raises(Stale):
        on_finish(again, ZONE, 1, "succeeded")
    assert on_finish(again, OTHER, 2, "succeeded").outcome == "succeeded"


def test_a_finish_after_the_hub_ended_the_job_changes_nothing() -> None:
    ended = on_expiry(on_control(leased(), "stop", "alice", 1.0), 100.0)
    assert on_finish(ended, ZONE, 1, "succeeded") is ended
    cancelled_while_waiting = on_cancel(on_expiry(leased(), 100.0), "bob", 101.0)
    for attempt in (1, 2):  # its own, now stale; and the one it never held (found by the property test)
        with pytest.raises(Stale):
            on_finish(cancelled_while_waiting, ZONE, attempt, "succeeded")


def test_a_lost_finish_is_a_failed_attempt_the_job_runs_again() -> None:
    job = on_finish(leased(), ZONE, 1, "lost", 50.0)
    assert (job.phase, job.attempt, job.failures, job.lease_owner, job.ran_on, job.outcome) == (
        Phase.PENDING, 2, 1, None, None, None)
    with pytest.raises(Stale):  # the lost attempt's word counts no more
        on_finish(job, ZONE, 1, "lost", 51.0)
    assert claimable(job)


def test_a_lost_finish_with_an_end_asked_ends_cancelled() -> None:
    job = on_finish(on_control(leased(), "stop", "alice", 1.0), ZONE, 1, "lost", 50.0)
    assert (job.phase, job.outcome, job.attempt) == (Phase.FINISHED, CANCELLED, 1)
    assert job.reason == "stopped by alice; its landing zone lost it"


@pytest.mark.parametrize("how", ["expire", "lost"])
def test_after_max_attempts_failures_the_job_ends_lost(how: str) -> None:
    job = Snapshot(max_attempts=2)
    for attempt, now in ((1, 100.0), (2, 200.0)):
        job = on_claim(job, ZONE, now, LEASE_S)
        job = on_expiry(job, now + LEASE_S + 1) if how == "expire" else on_finish(job, ZONE, attempt, "lost", now + 1)
    assert (job.phase, job.outcome, job.failures, job.attempt) == (Phase.FINISHED, "lost", 2, 2)
    assert "2 of 2 attempts failed" in (job.reason or "")
    assert job.ended_at is not None


def test_a_hand_back_is_no_failed_attempt() -> None:
    job = Snapshot(max_attempts=1)
    for attempt in (1, 2, 3):
        job = on_release(on_claim(job, ZONE, 1.0, LEASE_S), ZONE, attempt, 2.0)
    assert (job.phase, job.failures, job.attempt) == (Phase.PENDING, 0, 4)


# -- cancel and control requests -------------------------------------------------------------------------
def test_cancel_ends_a_waiting_job_at_once_and_is_recorded_on_a_held_one() -> None:
    job = on_cancel(Snapshot(), "bob", 7.0)
    assert (job.phase, job.outcome, job.reason, job.ended_at) == (Phase.FINISHED, CANCELLED, "cancelled by bob", 7.0)
    with pytest.raises(Refused, match="already finished"):
        on_cancel(job, "bob", 8.0)
    held = on_cancel(leased(), "bob", 7.0)
    assert (held.phase, held.cancel_requested, held.cancel_by) == (Phase.LEASED, True, "bob")
    assert on_cancel(held, "carol", 8.0) is held  # asked once is enough; the first asker stays


@pytest.mark.parametrize(("action", "word"), [("stop", "stopped"), ("kill", "killed")])
def test_stop_and_kill_end_a_waiting_job_at_once(action: str, word: str) -> None:
    job = on_control(Snapshot(), action, "alice", 3.0)
    assert (job.phase, job.outcome, job.reason) == (Phase.FINISHED, CANCELLED, f"{word} by alice")


def test_requests_on_a_held_job_are_recorded_with_a_new_sequence_number() -> None:
    job = leased()
    for seq, action in enumerate(["pause", "resume", "stop", "kill"], start=1):
        job = on_control(job, action, "alice", float(seq))
        assert (job.phase, job.control, job.control_by, job.control_seq) == (Phase.LEASED, action, "alice", seq)


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_an_accepted_end_is_never_overwritten_by_a_pause_or_resume(action: str) -> None:
    for end in (on_control(leased(), "stop", "alice", 1.0), on_cancel(leased(), "bob", 1.0)):
        with pytest.raises(Refused, match="being ended"):
            on_control(end, action, "carol", 2.0)
    assert on_control(on_control(leased(), "stop", "alice", 1.0), "kill", "alice", 2.0).control == "kill"


def test_unknown_or_late_requests_are_refused() -> None:
    with pytest.raises(Refused, match="unknown request 'explode'"):
        on_control(leased(), "explode", "alice", 1.0)
    with pytest.raises(Refused, match="already finished"):
        on_control(on_finish(leased(), ZONE, 1, "succeeded"), "stop", "alice", 1.0)
    with pytest.raises(Refused, match="unknown event"):
        next_phase("explode", Snapshot())


def test_settle_ends_a_waiting_job_left_with_an_end_request_by_an_older_hub() -> None:
    left = Snapshot(attempt=2, control="stop", control_by="alice", control_seq=1)
    assert not claimable(left)
    job = settle(left, 9.0)
    assert (job.phase, job.outcome, job.reason) == (Phase.FINISHED, CANCELLED, "stopped by alice while it waited")
    with pytest.raises(Refused):
        settle(Snapshot(), 9.0)


# -- snapshots and rows -----------------------------------------------------------------------------
def test_a_snapshot_reads_a_row_and_gives_back_the_changed_columns() -> None:
    row = SimpleNamespace(phase="leased", attempt=2, lease_owner=ZONE, lease_expires=40.0, ran_on=ZONE,
                          cancel_requested=0, control="stop", control_by="alice", control_seq=None,
                          outcome=None, reason=None, ended_at=None, spec="{}")
    job = Snapshot.of(row)
    assert (job.phase, job.cancel_requested, job.control_seq, job.cancel_by) == (Phase.LEASED, False, 0, None)
    assert changes(job, on_expiry(job, 50.0)) == {
        "phase": "finished", "lease_owner": None, "lease_expires": None, "outcome": CANCELLED,
        "reason": "stopped by alice; its landing zone stopped answering", "ended_at": 50.0, "failures": 1}
    assert changes(job, job) == {}


# -- the table --------------------------------------------------------------------------------------
def test_every_phase_reaches_finished() -> None:
    graph: dict[str, set[str]] = {p: set() for p in PHASES}
    for row in TRANSITIONS:
        for source in [row["source"]] if isinstance(row["source"], str) else row["source"]:
            graph[source].add(source if row["dest"] == "=" else row["dest"])
    for start in PHASES:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node not in seen:
                seen.add(node)
                todo.extend(graph[node])
        assert Phase.FINISHED.value in seen, start
    assert graph[Phase.FINISHED.value] == set()


def test_every_row_says_why() -> None:
    assert all(len(row["why"]) > 10 for row in TRANSITIONS)


_CASES = list(itertools.product(PHASES, EVENTS, [False, True], [False, True], [False, True], [False, True]))


@pytest.fixture(scope="module")
def machine() -> Machine:
    return Machine(model=None, ignore_invalid_triggers=False, **MACHINE)


@pytest.mark.parametrize(("phase", "trigger", "is_paused", "is_ending", "is_exhausted", "is_lost"), _CASES)
def test_the_rules_read_the_table_as_the_transitions_library_does(
        machine: Machine, phase: str, trigger: str, is_paused: bool, is_ending: bool, is_exhausted: bool,
        is_lost: bool) -> None:
    """The table drives both the rules (next_phase) and the diagram (transitions): they agree."""
    job = Snapshot(phase=Phase(phase), cancel_requested=is_ending, control="pause" if is_paused else None,
                   failures=2 if is_exhausted else 0, max_attempts=3, outcome="lost" if is_lost else None)
    model = SimpleNamespace(paused=is_paused, ending=is_ending, exhausted=exhausted(job), retryable=retryable(job),
                            waiting=False)
    machine.add_model(model, initial=phase)
    try:
        try:
            theirs: str | None = model.state if model.trigger(trigger) else None  # False: no row's conditions held
        except MachineError:
            theirs = None
    finally:
        machine.remove_model(model)
    try:
        ours: str | None = next_phase(trigger, job).value
    except Refused:
        ours = None
    assert ours == theirs


def test_a_job_waiting_for_prerequisites_is_not_claimable_and_an_unmet_one_ends_failed() -> None:
    from lz.hub.protocol.lifecycle import claimable, on_unmet

    job = Snapshot(waiting_on="abc")
    assert not claimable(job) and next_phase("unmet", job) is Phase.FINISHED
    with pytest.raises(Refused):
        next_phase("claim", job)
    ended = on_unmet(job, "dependency abc failed", 5.0)
    assert (ended.phase, ended.outcome, ended.reason, ended.waiting_on) == (
        Phase.FINISHED, "failed", "dependency abc failed", None)
    with pytest.raises(Refused):
        on_unmet(Snapshot(), "x", 5.0)
