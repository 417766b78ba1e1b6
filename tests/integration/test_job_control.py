"""lz stop, kill, pause and resume of real jobs: the local executor and the real Slurm."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone, wait_until
from tests.integration.slurm_cluster import requires_slurm

pytestmark = [pytest.mark.integration]

TRAPPING = """trap 'echo partial > partial.txt; exit 143' TERM
echo started > started.txt
i=0
while [ $i -lt 600 ]; do i=$((i+1)); echo $i > count.txt; sleep 0.2; done
"""
"""Writes partial results when asked to stop (SIGTERM); counts while it runs."""

DEAF = """trap '' TERM
echo started > started.txt
while true; do sleep 0.2; done
"""
"""Ignores SIGTERM: only a kill ends it."""


def folder(root: Path, name: str, script: str, *, time_limit: str | None = None, cpus: int = 1) -> Path:
    job = root / name
    job.mkdir(parents=True)
    (job / "run.sh").write_text(script)
    limit = f'time = "{time_limit}"\n' if time_limit else ""
    (job / "lz.toml").write_text(f'name = "{name}"\ncommand = ["sh", "run.sh"]\n[resources]\ncpus = {cpus}\n{limit}')
    return job


def work_file(lz: LandingZone, job_id: str, name: str) -> Path | None:
    found = list(lz.workdir.rglob(f"*{job_id}*/{name}")) or [p for p in lz.workdir.rglob(name) if job_id in str(p)]
    return found[0] if found else None


def started(lz: LandingZone, job_id: str, timeout: float = 60) -> None:
    wait_until(lambda: work_file(lz, job_id, "started.txt") is not None, timeout, f"job {job_id} to start")


def ended(lz: LandingZone, job_id: str, timeout: float = 120) -> dict:  # type: ignore[type-arg]
    return lz.wait_all_cleaned([job_id], timeout=timeout)[job_id]


def results(lz: LandingZone, job_id: str, tmp_path: Path) -> Path:
    out = tmp_path / "results" / job_id
    lz.cli("results", job_id, "-o", str(out))
    return out


@pytest.fixture
def local(tmp_path: Path) -> Iterator[LandingZone]:
    lz = LandingZone(tmp_path / "lz", config="local_slots = 4\nobserve_interval_s = 1\n")
    lz.start()
    yield lz
    lz.stop()


def test_local_stop_keeps_partial_results(local: LandingZone, tmp_path: Path) -> None:
    job_id = local.submit(folder(tmp_path / "jobs", "stopme", TRAPPING))
    started(local, job_id)
    assert "cancelling" in local.cli("stop", job_id).stdout
    job = ended(local, job_id)
    assert job["outcome"] == "cancelled" and job["reason"].startswith("stopped by "), job
    out = results(local, job_id, tmp_path)
    assert (out / "partial.txt").read_text() == "partial\n"


def test_local_kill_ends_a_job_that_ignores_sigterm(local: LandingZone, tmp_path: Path) -> None:
    job_id = local.submit(folder(tmp_path / "jobs", "killme", DEAF))
    started(local, job_id)
    local.cli("kill", job_id)
    job = ended(local, job_id)
    assert job["outcome"] == "cancelled" and job["reason"].startswith("killed by "), job
    at = {h["event"]: datetime.fromisoformat(h["at"]).timestamp() for h in local.status(job_id)["history"]}
    assert at["ended"] - at["cancel"] < 8, f"a kill does not wait for the stop's grace period: {at}"
    assert (results(local, job_id, tmp_path) / "started.txt").exists()


def test_local_pause_and_resume_and_time_limit(local: LandingZone, tmp_path: Path) -> None:
    """Paused 6 s of a 4 s limit, 3 s of work: it succeeds (time paused is not run time)."""
    script = "echo started > started.txt\ni=0\nwhile [ $i -lt 15 ]; do i=$((i+1)); echo $i > count.txt; sleep 0.2; done\n"
    job_id = local.submit(folder(tmp_path / "jobs", "pauseme", script, time_limit="00:00:04"))
    started(local, job_id)
    local.wait_for_state(job_id, ["running"])
    assert "paused" in local.cli("pause", job_id).stdout
    count = work_file(local, job_id, "count.txt")
    assert count is not None
    before = count.read_text()
    time.sleep(6)
    assert count.read_text() == before, "a paused job does not run"
    assert local.status(job_id)["state"] == "paused"
    assert "running" in local.cli("resume", job_id).stdout
    job = ended(local, job_id)
    assert job["outcome"] == "succeeded", job
    events = [h["event"] for h in job.get("history") or local.status(job_id)["history"]]
    assert "pause" in events and "resume" in events


def test_pause_of_a_finished_job_is_one_line(local: LandingZone, tmp_path: Path) -> None:
    job_id = local.submit(folder(tmp_path / "jobs", "quick", "true\n"))
    ended(local, job_id)
    result = local.cli("pause", job_id, check=False)
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1, result.stderr


# -- the real Slurm ------------------------------------------------------------------------------

PREFIX = "lzctl-"


def gateway(tmp_path: Path, extra: str = "") -> LandingZone:
    return LandingZone(tmp_path / "lz", container="slurm", run_args=["--runtime", "none", "--name", "ctl"],
                       config=f'job_prefix = "{PREFIX}"\nobserve_interval_s = 1\n[slurm]\nsstat_interval_s = 2\nlost_after_s = 30\n{extra}')


@pytest.fixture
def slurm(tmp_path: Path) -> Iterator[LandingZone]:
    lz = gateway(tmp_path)
    lz.start()
    yield lz
    lz.stop()


@pytest.mark.slurm
@pytest.mark.slow
@requires_slurm
def test_slurm_hold_and_release_of_a_pending_job(tmp_path: Path) -> None:
    lz = gateway(tmp_path, 'extra_sbatch_args = ["--begin=now+600"]\n')
    lz.start()
    try:
        job_id = lz.submit(folder(tmp_path / "jobs", "held", "true\n"))
        wait_until(lambda: lz.status(job_id)["native_state"] == "PENDING", 60, "the job to be pending")
        assert "paused" in lz.cli("pause", job_id).stdout
        wait_until(lambda: (lz.status(job_id)["pending_reason"] or "").startswith("JobHeld"), 30, "SLURM to show the hold")
        assert lz.status(job_id)["state"] == "paused"
        assert "queued" in lz.cli("resume", job_id).stdout
        wait_until(lambda: not (lz.status(job_id)["pending_reason"] or "JobHeld").startswith("JobHeld"), 30, "the release")
        assert lz.status(job_id)["state"] == "queued"
        lz.cli("cancel", job_id)
        assert ended(lz, job_id)["outcome"] == "cancelled"
    finally:
        lz.stop()


@pytest.mark.slurm
@pytest.mark.slow
@requires_slurm
def test_slurm_suspend_resume_stop_with_partial_results(slurm: LandingZone, tmp_path: Path) -> None:
    job_id = slurm.submit(folder(tmp_path / "jobs", "susp", TRAPPING))
    started(slurm, job_id, 120)
    slurm.wait_for_state(job_id, ["running"], 60)
    paused = slurm.cli("pause", job_id, check=False)
    assert paused.returncode == 0, f"suspend refused on this cluster: {paused.stderr}"
    wait_until(lambda: slurm.status(job_id)["native_state"] == "SUSPENDED", 30, "SLURM to show SUSPENDED")
    count = work_file(slurm, job_id, "count.txt")
    assert count is not None
    before = count.read_text()
    time.sleep(3)
    assert count.read_text() == before
    slurm.cli("resume", job_id)
    wait_until(lambda: slurm.status(job_id)["native_state"] == "RUNNING", 30, "SLURM to show RUNNING")
    wait_until(lambda: count.read_text() != before, 30, "the job to count again")
    slurm.cli("stop", job_id)
    job = ended(slurm, job_id)
    assert job["outcome"] == "cancelled" and job["reason"].startswith("stopped by "), job
    assert (results(slurm, job_id, tmp_path) / "partial.txt").read_text() == "partial\n"


@pytest.mark.slurm
@pytest.mark.slow
@requires_slurm
def test_slurm_kill(slurm: LandingZone, tmp_path: Path) -> None:
    job_id = slurm.submit(folder(tmp_path / "jobs", "deaf", DEAF))
    started(slurm, job_id, 120)
    slurm.cli("kill", job_id)
    job = ended(slurm, job_id)
    assert job["outcome"] == "cancelled" and job["reason"].startswith("killed by "), job
    assert (results(slurm, job_id, tmp_path) / "started.txt").exists()


def test_local_top_lists_the_jobs_processes(local: LandingZone, tmp_path: Path) -> None:
    job_id = local.submit(folder(tmp_path / "jobs", "topme", TRAPPING))
    started(local, job_id)
    text = local.cli("top", job_id).stdout
    assert "PID" in text and "run.sh" in text and "sleep" in text, text
    local.cli("kill", job_id)
    ended(local, job_id)


def test_a_pause_recorded_before_a_crash_is_carried_out_by_the_daemon(local: LandingZone, tmp_path: Path) -> None:
    """The CLI died after it recorded the request (intent) and before its signal: the tick does it."""
    import sqlite3

    job_id = local.submit(folder(tmp_path / "jobs", "crashpause", TRAPPING))
    started(local, job_id)
    local.wait_for_state(job_id, ["running"])
    with sqlite3.connect(local.db) as conn:
        conn.execute("UPDATE jobs SET control = 'pause', control_by = 'tester' WHERE id = ?", (job_id,))
    local.wait_for_state(job_id, ["paused"], 30)
    with sqlite3.connect(local.db) as conn:
        conn.execute("UPDATE jobs SET control = 'resume', control_by = 'tester' WHERE id = ?", (job_id,))
    local.wait_for_state(job_id, ["running"], 30)
    local.cli("stop", job_id)
    assert ended(local, job_id)["reason"].startswith("stopped by ")
