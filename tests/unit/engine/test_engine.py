"""The tick and its steps over fake executor, runtime, pool and clock: every decision meets its
side effect here without a thread, a process or a scheduler."""

from __future__ import annotations

from pathlib import Path

import pytest

from lz.core.records import Observation
from tests.unit.fakes import FakeExecutor, FakeRuntime, Harness


@pytest.fixture
def lz(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_a_job_goes_from_received_to_cleaned(lz: Harness) -> None:
    job_id = lz.add()
    lz.tick()  # build
    assert lz.state(job_id) == "queued" and lz.runtime.builds == [job_id]
    assert (lz.workspace.fresh_paths(job_id).work / "input.txt").read_text() == "data\n"
    lz.tick()  # submit
    assert lz.executor.submitted == [job_id] and lz.store.get(job_id).executor_id == "101"
    lz.executor.seen[job_id] = Observation("running", "101", "RUNNING")
    lz.clock.advance(5)
    lz.tick()
    assert lz.state(job_id) == "running"
    paths = lz.workspace.fresh_paths(job_id)
    (paths.work / "out.txt").write_text("result\n")
    lz.executor.seen[job_id] = Observation("ended", "101", "COMPLETED", exit_code=0)
    lz.clock.advance(5)
    lz.tick()  # ended -> collecting
    assert lz.state(job_id) == "collecting"
    lz.tick()  # collected and cleaned by a worker
    job = lz.store.get(job_id)
    assert (job.state, job.outcome) == ("cleaned", "succeeded")
    assert not paths.root.exists() and not lz.workspace.spooled(job_id).exists()
    assert lz.workspace.results(job_id).is_dir()
    events = [t.event for t in lz.store.history(job_id)]
    assert events == ["receive", "build", "built", "started", "ended", "clean"]


def test_wake_ups_start_work_at_once_but_never_query_the_controller_more(lz: Harness) -> None:
    first = lz.add("a")
    lz.tick()
    lz.tick()
    assert lz.executor.submitted == [first]
    observed = lz.executor.observed
    for name in "bcdefghij":  # a burst of submissions, each waking the daemon
        lz.add(name)
        lz.tick()
        lz.clock.advance(0.2)
    lz.tick()
    assert len(lz.executor.submitted) == 10  # every job built and submitted without waiting a tick
    assert lz.executor.observed - observed <= 1  # 2 s of wake-ups: at most one query (interval 5 s)
    assert lz.engine.watcher.health().calls["observe"] == lz.executor.observed


def test_a_controller_outage_is_waited_out_not_failed(lz: Harness) -> None:
    job_id = lz.add()
    lz.tick()
    lz.tick()
    lz.executor.down = True
    for _ in range(20):
        lz.clock.advance(10)
        lz.tick()
    job = lz.store.get(job_id)
    assert job.state == "queued" and job.outcome is None
    status = lz.store.status()
    assert status.controller_down_since is not None and "Unable to contact" in (status.controller_error or "")
    queries_while_down = lz.executor.observed
    assert queries_while_down < 12  # backing off, not once per tick
    second = lz.add("second")
    lz.tick()
    lz.tick()
    assert second not in lz.executor.submitted  # no submission while the controller is backed off
    lz.executor.down = False
    lz.executor.seen[job_id] = Observation("running", "101", "RUNNING")
    lz.clock.advance(120)
    lz.tick()
    lz.tick()
    assert lz.state(job_id) == "running" and lz.store.status().controller_down_since is None
    assert second in lz.executor.submitted


def test_defect_2_a_submission_that_lands_during_the_tick_is_cancelled_not_forgotten(lz: Harness) -> None:
    """The tick read the job as cancelling and never submitted; the submit step finished before
    the tick's commit. The job must not be ended (its process would run on, uncancelled)."""
    job_id = lz.add()
    lz.tick()
    lz.store.cancel(job_id)  # queued -> cancelling, before any submission
    real_active = lz.store.active

    def active_then_submission_lands() -> list:  # type: ignore[type-arg]
        jobs = real_active()
        lz.store.record(job_id, submit_attempted_at=lz.clock(), executor_id="555")
        return jobs

    lz.store.active = active_then_submission_lands  # type: ignore[method-assign]
    lz.tick(run=False)
    lz.store.active = real_active  # type: ignore[method-assign]
    assert lz.state(job_id) == "cancelling"
    lz.executor.seen[job_id] = Observation("running", "555", "RUNNING")
    lz.clock.advance(5)
    lz.tick(run=False)
    assert [t.executor_id for t in lz.executor.cancelled] == ["555"]


def test_suspected_a_a_job_that_started_is_never_submitted_again(lz: Harness) -> None:
    """The daemon died between starting a job and recording its handle, and the job vanished
    without an exit status: it ran once, so it ends as lost instead of running twice."""
    job_id = lz.add()
    lz.tick()
    lz.store.record(job_id, submit_attempted_at=lz.clock())  # the intent, and then the crash
    lz.executor.seen[job_id] = Observation("absent", None, seen_before=True)
    for _ in range(40):
        lz.clock.advance(5)
        lz.tick()
    job = lz.store.get(job_id)
    assert lz.executor.submitted == []
    assert (job.state, job.outcome) == ("cleaned", "lost")


def test_an_unconfirmed_submission_that_never_reached_the_scheduler_is_submitted_again(lz: Harness) -> None:
    job_id = lz.add()
    lz.tick()
    lz.store.record(job_id, submit_attempted_at=lz.clock())
    lz.executor.seen[job_id] = Observation("absent", None)
    for _ in range(10):
        lz.clock.advance(5)
        lz.tick()
    assert lz.executor.submitted == [job_id]


def test_suspected_b_a_refused_submission_cancels_by_name_first(tmp_path: Path) -> None:
    lz = Harness(tmp_path, executor=FakeExecutor(refuse="Invalid account"))
    job_id = lz.add()
    lz.tick()
    lz.tick()
    lz.tick()
    assert [(t.job_id, t.executor_id) for t in lz.executor.cancelled] == [(job_id, None)]
    job = lz.store.get(job_id)
    assert (job.state, job.outcome) == ("cleaned", "failed") and "Invalid account" in (job.reason or "")


def test_a_failed_build_ends_failed_with_its_reason_and_leaves_nothing(tmp_path: Path) -> None:
    lz = Harness(tmp_path, runtime=FakeRuntime(fail="RUN false: exit 1"))
    job_id = lz.add()
    lz.tick()
    lz.tick()
    job = lz.store.get(job_id)
    assert (job.state, job.outcome) == ("cleaned", "failed") and "RUN false" in (job.reason or "")
    assert not lz.workspace.fresh_paths(job_id).root.exists()
    assert (lz.workspace.results(job_id) / "build.log").read_text() == "building\n"


def test_the_local_executor_capacity_limits_submissions(tmp_path: Path) -> None:
    lz = Harness(tmp_path, executor=FakeExecutor(slots=2))
    ids = [lz.add(str(i)) for i in range(4)]
    lz.tick()
    lz.tick()
    assert len(lz.executor.submitted) == 2 and set(lz.executor.submitted) <= set(ids)


def test_submissions_a_crash_left_unconfirmed_are_made_again_when_they_fill_every_slot(tmp_path: Path) -> None:
    """A daemon killed while both of its 2 slots' submissions were in flight (intent committed, no
    process): each unconfirmed job counts as holding a slot, and its submission again is the work
    that slot waits for. It was refused for want of a free slot, so both jobs stayed queued for
    ever (CI: test_local_crash_at[submit.intent], two queued jobs and a silent daemon for 180 s)."""
    lz = Harness(tmp_path, executor=FakeExecutor(slots=2))
    ids = [lz.add(str(i)) for i in range(2)]
    real_submit = lz.steps.submit

    def intent_then_crash(job_id: str):  # type: ignore[no-untyped-def]
        lz.store.record(job_id, submit_attempted_at=lz.clock())
        return None

    lz.steps.submit = intent_then_crash  # type: ignore[method-assign]
    for _ in range(4):
        lz.tick()
    assert all(lz.store.get(i).submit_attempted_at is not None for i in ids) and lz.executor.submitted == []
    lz.steps.submit = real_submit  # type: ignore[method-assign]
    for job_id in ids:  # no process, no pid file: neither reached the executor
        lz.executor.seen[job_id] = Observation("absent", None)
    for _ in range(10):  # past the submit grace
        lz.clock.advance(5)
        lz.tick()
    assert sorted(lz.executor.submitted) == sorted(ids)


def test_cancel_of_a_received_job_ends_it_without_work(lz: Harness) -> None:
    job_id = lz.add()
    lz.store.cancel(job_id)
    lz.tick()
    lz.tick()
    job = lz.store.get(job_id)
    assert (job.state, job.outcome) == ("cleaned", "cancelled") and lz.runtime.builds == []


def test_usage_is_recorded_at_its_own_interval(lz: Harness) -> None:
    job_id = lz.add()
    lz.tick()
    lz.tick()
    lz.executor.seen[job_id] = Observation("running", "101", "RUNNING")
    lz.clock.advance(5)
    lz.tick()
    lz.clock.advance(5)
    lz.tick()
    job = lz.store.get(job_id)
    assert job.cpu_seconds == 1.0 and job.max_rss_bytes == 1024


def test_every_transition_reaches_the_listeners(lz: Harness) -> None:
    seen: list[tuple[str, str]] = []

    class Recorder:
        def on_transition(self, job, transition) -> None:  # type: ignore[no-untyped-def]
            seen.append((transition.from_state, transition.to_state))

        def on_controller(self, event) -> None:  # type: ignore[no-untyped-def]
            pass

    lz.store.listeners.add(Recorder())
    lz.add()
    lz.tick()
    assert seen == [("received", "building"), ("building", "queued")]


def test_housekeeping_removes_what_a_crash_left_and_purges_old_results(lz: Harness) -> None:
    job_id = lz.add()
    lz.store.cancel(job_id)
    lz.tick()
    lz.tick()
    orphan = lz.workspace.spooled("deadbeef00")
    orphan.mkdir(parents=True)
    lz.clock.advance(7200)
    assert str(orphan) in lz.zone.housekeeping.recover()
    assert lz.workspace.results(job_id).exists()
    lz.clock.advance(31 * 86400)
    assert lz.zone.housekeeping.purge_expired_results(lz.clock()) == [job_id]


def test_a_dead_intakes_copy_is_removed_at_once_and_a_live_ones_is_kept(lz: Harness) -> None:
    from lz.host.intake_lock import intake_in_flight

    spool = lz.workspace.spool_dir
    spool.mkdir(parents=True, exist_ok=True)
    dead = [spool / ".incoming-deadbeef01-0a0b0c", spool / "deadbeef02"]  # killed before its rename; before its row
    for entry in dead:
        (entry / "run.sh").parent.mkdir()
        (entry / "run.sh").write_text("true\n")
    assert sorted(lz.zone.housekeeping.recover()) == sorted(map(str, dead))  # young, but no intake runs
    live = spool / ".incoming-deadbeef03-0a0b0c"
    with intake_in_flight(spool):  # an lz submit copying right now: its young copy stays
        live.mkdir()
        assert lz.zone.housekeeping.recover() == []
        lz.clock.advance(7200)
        assert lz.zone.housekeeping.recover() == [str(live)]  # an hour old: no intake takes that long


def test_defect_8_a_full_results_disk_backs_off_per_job_and_says_why(lz: Harness, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import lz.engine.steps as steps_module
    from lz.core.errors import CollectionError

    real_collect = steps_module.collect
    attempts: list[float] = []

    def full_disk(*args, **kwargs):  # type: ignore[no-untyped-def]
        attempts.append(lz.clock())
        if len(attempts) < 3:
            raise CollectionError("no space left on device writing results under /r (1 MiB needed, 0 free)")
        return real_collect(*args, **kwargs)

    monkeypatch.setattr(steps_module, "collect", full_disk)
    job_id = lz.add()
    lz.store.cancel(job_id)
    for _ in range(40):  # 40 ticks, 0.1 s apart: a retry per tick would be 40 attempts
        lz.tick()
        lz.clock.advance(0.1)
    job = lz.store.get(job_id)
    assert job.state == "collecting" and "no space left" in (job.pending_reason or "")
    assert len(attempts) <= 3
    lz.clock.advance(60)
    lz.tick()
    lz.clock.advance(60)
    lz.tick()
    job = lz.store.get(job_id)
    assert job.state == "cleaned" and job.pending_reason is None and len(attempts) == 3


def test_a_hub_volume_not_mapped_here_fails_the_job_before_it_runs(lz: Harness) -> None:
    from lz.core.value_class import replace
    from lz.core.volumes import Volume

    job_id = lz.add()
    spec = replace(lz.store.get(job_id).spec, volumes=(Volume("ref", "", "/data", "ro"),))
    import json

    from sqlalchemy import update

    from lz.store.models import jobs

    with lz.store.engine.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job_id).values(spec=json.dumps(spec.to_dict())))
    lz.store._specs.clear()
    for _ in range(3):
        lz.tick()
    job = lz.store.get(job_id)
    assert (job.state, job.outcome) == ("cleaned", "failed") and lz.executor.submitted == []
    assert "volume ref: not mapped on this landing zone" in (job.reason or "")


def test_where_a_look_is_free_a_submission_and_an_end_are_seen_at_once(lz: Harness) -> None:
    """Issue 23: the local executor's look costs no controller call, so a job is seen running
    right after its submission and ended right after its process, not an interval later."""
    lz.executor.free_looks = True
    job_id = lz.add()
    lz.tick()
    lz.tick()
    assert lz.executor.submitted == [job_id]
    lz.executor.seen[job_id] = Observation("running", "101", "RUNNING")
    lz.tick()  # the clock has not moved: the nudge of the submission made the look due
    assert lz.state(job_id) == "running"
    lz.executor.seen[job_id] = Observation("ended", "101", "EXITED", exit_code=0)
    lz.tick()
    assert lz.state(job_id) == "running"  # nothing nudged: the interval holds
    lz.engine.watcher.nudge()  # what the executor's end callback does
    lz.tick()
    assert lz.state(job_id) == "collecting"


def test_a_scheduler_is_still_asked_once_per_interval_whatever_nudges(lz: Harness) -> None:
    job_id = lz.add()
    lz.tick()
    lz.tick()
    observed = lz.executor.observed
    for _ in range(5):
        lz.engine.watcher.nudge()
        lz.tick()
    assert lz.executor.observed - observed <= 1 and lz.state(job_id) == "queued"


def test_ticks_of_wake_ups_rewrite_the_status_once_per_heartbeat(lz: Harness) -> None:
    """Issue 23: a tick per event wrote the status row (a WAL fsync) every time."""
    lz.tick()
    first = lz.store.status().last_tick
    for _ in range(5):
        lz.clock.advance(0.5)
        lz.tick()
    assert lz.store.status().last_tick == first
    lz.clock.advance(3.0)  # 5.5 s after the first: due
    lz.tick()
    assert lz.store.status().last_tick == lz.clock()
    lz.executor.down = True  # a change of health is written at once
    lz.add()
    for _ in range(3):  # build, submit (refused: the controller is down), the tick that writes it
        lz.tick()
    assert lz.store.status().controller_down_since is not None


def test_the_jobs_a_look_finds_ended_are_moved_in_one_transaction(lz: Harness) -> None:
    """Issue 23: one commit (one fsync) per tick, not one per job the look found moved."""
    from sqlalchemy import event

    ids = [lz.add(name) for name in "abc"]
    lz.tick()
    lz.tick()
    for n, job_id in enumerate(ids):
        lz.executor.seen[job_id] = Observation("ended", str(101 + n), "COMPLETED", exit_code=0)
    lz.clock.advance(3)  # past the look's interval, short of the status row's heartbeat
    writes: list[str] = []
    event.listen(lz.store.engine, "commit", lambda conn: writes.append("w") if conn.get_execution_options().get(
        "lz_write") else None)
    lz.tick(run=False)
    assert {lz.state(job_id) for job_id in ids} == {"collecting"}
    assert writes == ["w"]
    lz.tick()  # the wake-up the ends caused: their collections
    assert {lz.state(job_id) for job_id in ids} == {"cleaned"}
    before = len(writes)
    lz.tick()  # nothing to move, nothing to record: no transaction at all
    assert len(writes) == before
