"""Retries and dependencies through the gateway (`lz run --container slurm`), on the real Slurm:
a job requeued by ``scontrol requeue``, one whose node went down, a ``--dependency`` chain."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone, script_job
from tests.integration.slurm_cluster import requires_slurm, slurm_jobs_named

pytestmark = [pytest.mark.slurm, pytest.mark.integration, requires_slurm]

# the second attempt finds the first one's marker in the work directory (kept across attempts)
SCRIPT = ("if [ -e first-ran ]; then echo second run; exit 0; fi\n"
          "touch first-ran; echo first run; sleep 120\n")


def gateway(tmp_path: Path) -> LandingZone:
    return LandingZone(tmp_path / "lz", container="slurm", tick=0.3, run_args=["--runtime", "none", "--name", "test"],
                       config="observe_interval_s = 0.5\nretry_backoff_s = 0.5\nlost_after_s = 30\n")


@pytest.fixture
def lz(tmp_path: Path):  # type: ignore[no-untyped-def]
    zone = gateway(tmp_path)
    zone.start()
    yield zone
    zone.stop()


def wait_running(lz: LandingZone, job_id: str, timeout: float = 30) -> dict:  # type: ignore[type-arg]
    """Until the job's first attempt runs and has written its marker (its stdout says so)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = lz.status(job_id)
        if job["state"] == "running" and "first run" in lz.cli("logs", job_id).stdout:
            return job  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never ran: {lz.status(job_id)}")


def node() -> str:
    return subprocess.run(["sinfo", "-h", "-N", "-o", "%N"], capture_output=True, text=True, check=True,
                          timeout=30).stdout.split()[0]


def scontrol(*args: str) -> None:
    done = subprocess.run(["scontrol", *args], timeout=30, capture_output=True, text=True)
    assert done.returncode == 0, f"scontrol {' '.join(args)}: {done.stderr.strip()}"


def resume(name: str) -> None:
    """Back to service (it may already be: ReturnToService=2 takes a node back once it registers)."""
    state = subprocess.run(["sinfo", "-h", "-N", "-n", name, "-o", "%T"], capture_output=True, text=True,
                           timeout=30).stdout.strip()
    if state.rstrip("*~#").startswith(("down", "drain", "fail")):
        scontrol("update", f"nodename={name}", "state=resume")


def test_a_job_requeued_by_scontrol_is_retried_and_succeeds(lz: LandingZone, tmp_path: Path) -> None:
    job_id = lz.submit(script_job(tmp_path / "jobs", "requeued", SCRIPT, "retries = 1\n"))
    first = wait_running(lz, job_id)
    scontrol("requeue", first["slurm_job_id"])
    job = lz.wait_all_cleaned([job_id], timeout=60)[job_id]
    assert (job["outcome"], job["retry"]["attempt"]) == ("succeeded", 2), job
    assert job["reason"].startswith("exit code 0 (attempt 2 of 2; earlier: #1 requeued by the scheduler")
    [earlier] = job["retry"]["earlier"]
    assert earlier["cause"] == "requeued" and earlier["executor_id"] == first["slurm_job_id"]
    assert job["slurm_job_id"] != first["slurm_job_id"]
    assert len(slurm_jobs_named(f"lz-{job_id}")) == 1 and len(slurm_jobs_named(f"lz-{job_id}.a2")) == 1
    assert lz.cli("logs", job_id, "--attempt", "1").stdout == "first run\n"
    assert lz.cli("logs", job_id).stdout == "second run\n"
    assert lz.leftovers() == []


def test_a_job_whose_node_went_down_is_retried_once_the_node_is_back(lz: LandingZone, tmp_path: Path) -> None:
    """``scontrol update nodename=N state=down`` kills the job (SLURM requeues it, or ends it
    NODE_FAIL); lz submits attempt 2, which waits for the node; the node is resumed, it succeeds.
    The node is always resumed (this test runs under the heavy lock, like every Slurm test)."""
    job_id = lz.submit(script_job(tmp_path / "jobs", "node-down", SCRIPT, "retries = 2\n"))
    wait_running(lz, job_id)
    name = node()
    try:
        scontrol("update", f"nodename={name}", "state=down", "reason=lz-retry-test")
        deadline = time.monotonic() + 30
        while lz.status(job_id)["retry"]["attempt"] < 2:
            assert time.monotonic() < deadline, lz.status(job_id)
            time.sleep(0.2)
    finally:
        resume(name)
    job = lz.wait_all_cleaned([job_id], timeout=90)[job_id]
    assert (job["outcome"], job["retry"]["attempt"]) == ("succeeded", 2), job
    assert job["retry"]["earlier"][0]["cause"] in ("requeued", "node_fail")
    assert lz.cli("logs", job_id).stdout == "second run\n"


def test_retries_zero_fails_once_and_a_dependency_chain_uses_sbatch_dependency(lz: LandingZone, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    failing = lz.submit(script_job(jobs, "fails", "sleep 2; exit 3\n", 'retries = 0\nretry_on = ["exit:3"]\n'))
    after = lz.submit(script_job(jobs, "after-any", "echo ran\n"), "--after", f"{failing}:any")
    never = lz.submit(script_job(jobs, "after-ok", "echo ran\n"), "--after", failing)
    # submitted at once with --dependency: SLURM itself holds them
    deadline = time.monotonic() + 20
    while not (lz.status(after)["slurm_job_id"] and lz.status(never)["slurm_job_id"]):
        assert time.monotonic() < deadline, (lz.status(after), lz.status(never))
        time.sleep(0.2)
    reasons = subprocess.run(["squeue", "-h", "-j", f"{lz.status(after)['slurm_job_id']},{lz.status(never)['slurm_job_id']}",
                              "-o", "%r"], capture_output=True, text=True, timeout=30).stdout.split()
    assert set(reasons) <= {"Dependency", "DependencyNeverSatisfied"} and reasons, reasons
    done = lz.wait_all_cleaned([failing, after, never], timeout=60)
    assert (done[failing]["outcome"], done[failing]["reason"], done[failing]["retry"]["attempt"]) == ("failed", "exit code 3", 1)
    assert len(slurm_jobs_named(f"lz-{failing}")) == 1 and not slurm_jobs_named(f"lz-{failing}.a2")
    assert done[after]["outcome"] == "succeeded"
    assert (done[never]["outcome"], done[never]["reason"]) == ("failed", f"dependency {failing} failed")
    assert lz.leftovers() == []
