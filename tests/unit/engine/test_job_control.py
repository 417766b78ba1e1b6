"""Job control, pure parts: the rules for paused jobs and requests, SLURM argv and replies."""

from __future__ import annotations

import pytest

from lz.core.errors import ControllerUnavailable, ControlRefused, InvalidTransition
from lz.core.machine import Lifecycle
from lz.core.records import Observation
from lz.core.rules import Cancel, Control, Fire, decide, ended_by
from lz.slurm.commands import listpids_argv, scancel_signal_argv, scontrol_argv
from lz.slurm.parse import read_listpids, read_scontrol
from tests.unit.core.test_rules import CTX, NOW, job


def test_the_lifecycle_pauses_resumes_and_releases() -> None:
    life = Lifecycle()
    assert life.next_state("running", "pause") == "paused"
    assert life.next_state("queued", "pause") == "paused"
    assert life.next_state("paused", "resume") == "running"
    assert life.next_state("paused", "release") == "queued"
    assert life.next_state("paused", "cancel") == "cancelling"
    assert life.next_state("paused", "ended") == "collecting"
    with pytest.raises(InvalidTransition):
        life.next_state("collecting", "pause")


def test_a_recorded_request_is_carried_out_by_the_tick() -> None:
    assert decide(job("running", executor_id="5", control="pause"), None, CTX) == [Control("j1", "pause")]
    assert decide(job("queued", executor_id="5", control="pause"), None, CTX) == [Control("j1", "pause")]
    assert decide(job("paused", executor_id="5", control="resume"), None, CTX) == [Control("j1", "resume")]


def test_a_suspension_lz_did_not_record_is_adopted() -> None:
    """lz died between scontrol suspend and the transition, or an operator suspended the job."""
    [fire] = decide(job("running", executor_id="5"), Observation("running", "5", "SUSPENDED"), CTX)
    assert isinstance(fire, Fire) and fire.event == "pause" and fire.facts["paused_at"] == NOW
    [fire] = decide(job("queued", executor_id="5"), Observation("pending", "5", "PENDING", "JobHeldAdmin"), CTX)
    assert isinstance(fire, Fire) and fire.event == "pause"


def test_a_resumed_job_counts_its_pause_outside_the_time_limit() -> None:
    paused = job("paused", executor_id="5", started_at=NOW - 50, paused_at=NOW - 30, paused_s=5.0)
    [fire] = decide(paused, Observation("running", "5", "RUNNING"), CTX)
    assert isinstance(fire, Fire) and fire.event == "resume"
    assert fire.facts["paused_s"] == 35.0 and fire.facts["paused_at"] is None
    [fire] = decide(job("paused", executor_id="5", paused_at=NOW - 1), Observation("pending", "5", "PENDING", "Priority"), CTX)
    assert isinstance(fire, Fire) and fire.event == "release"
    held = job("paused", executor_id="5", paused_at=NOW - 1)
    assert all(not isinstance(a, Fire) for a in decide(held, Observation("pending", "5", "PENDING", "JobHeldUser"), CTX))


def test_stop_and_kill_are_cancels_that_say_how_and_who() -> None:
    stopping = job("cancelling", executor_id="5", control="stop", control_by="alice")
    assert decide(stopping, Observation("running", "5", "RUNNING"), CTX)[0] == Cancel("j1", "stop")
    [fire] = decide(stopping, Observation("ended", "5", "CANCELLED"), CTX)
    assert isinstance(fire, Fire) and fire.facts["reason"] == "stopped by alice"
    assert ended_by(job("cancelling", control="kill", control_by="hub user bob")) == "killed by hub user bob"
    assert ended_by(job("cancelling")) == "cancelled by user"


def test_slurm_argv() -> None:
    assert scancel_signal_argv(["7"], "TERM", full=False) == ["scancel", "--signal=TERM", "7"]
    assert scancel_signal_argv(["7", "8"], "KILL", full=True) == ["scancel", "--signal=KILL", "--full", "7", "8"]
    assert scontrol_argv("suspend", "7") == ["scontrol", "suspend", "7"]
    assert listpids_argv("7") == ["scontrol", "listpids", "7"]
    with pytest.raises(ValueError):
        scontrol_argv("requeue; rm", "7")


def test_scontrol_replies_recorded_from_slurm_22_05() -> None:
    read_scontrol("suspend", 0, "", "")
    read_scontrol("resume", 1, "", "Job is not suspended for job 212\n")  # already running: done
    with pytest.raises(ControlRefused, match="pending execution"):
        read_scontrol("suspend", 1, "", "Job is pending execution for job 213\n")
    with pytest.raises(ControlRefused, match="Access/permission denied"):
        read_scontrol("suspend", 1, "", "Access/permission denied for job 212\nslurm_suspend error: Access/permission denied\n")
    with pytest.raises(ControllerUnavailable):
        read_scontrol("hold", 1, "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n")


def test_listpids() -> None:
    text = "PID      JOBID    STEPID   LOCALID GLOBALID\n31846    212      batch    0       0\n31847    212      batch    -       -\n"
    assert read_listpids(0, text, "") == [31846, 31847]
    assert read_listpids(1, "", "scontrol: error: job 212 not running here") == []


def test_step_times_from_a_history() -> None:
    from lz.core.timeline import durations, totals

    steps = [("receive", "received", 0.0), ("build", "building", 1.0), ("built", "queued", 3.0),
             ("started", "running", 7.0), ("pause", "paused", 10.0), ("resume", "running", 16.0),
             ("ended", "collecting", 20.0), ("clean", "cleaned", 21.0)]
    assert durations(steps, 100.0) == [1.0, 2.0, 4.0, 3.0, 6.0, 4.0, 1.0, None]
    times = totals(steps, 100.0)
    assert (times["build_s"], times["queue_s"], times["run_s"], times["paused_s"], times["collect_s"]) == \
        (2.0, 4.0, 7.0, 6.0, 1.0)
    hub = [("submit", "received", 0.0), ("claim", "received", 5.0), *steps[1:], ("finish", "cleaned", 23.5)]
    times = totals(hub, 100.0)
    assert times["waiting_for_lz_s"] == 5.0 and times["upload_s"] == 2.5
    assert durations(steps[:4], 10.0)[-1] == 3.0  # the current step lasts until now
