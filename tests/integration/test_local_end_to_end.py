"""A real daemon subprocess, the example job, results checked file by file."""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone

pytestmark = pytest.mark.integration


def test_example_job_end_to_end(landing_zone: LandingZone, example_job: Path, tmp_path: Path) -> None:
    landing_zone.start()
    before = {p.name: p.read_bytes() for p in example_job.iterdir()}
    result = landing_zone.cli("submit", str(example_job), "--wait", "--name", "wc")
    job_id = result.stdout.strip().splitlines()[-1]
    assert f"job {job_id} cleaned" in result.stderr

    job = landing_zone.status(job_id)
    assert (job["state"], job["outcome"], job["exit_code"], job["name"]) == ("cleaned", "succeeded", 0, "wc")
    assert job["slurm_job_id"] is None
    # a job that ended before anyone looked goes from queued to collecting (the table's "ended"
    # from queued): with a job's end waking the engine at once (issue 23), a busy machine may do so
    seen = [h["to"] for h in job["history"]]
    assert seen in (["received", "building", "queued", "running", "collecting", "cleaned"],
                    ["received", "building", "queued", "collecting", "cleaned"]), seen
    assert set(job["history"][0]) >= {"from", "to", "event", "at"}

    out = tmp_path / "results"
    landing_zone.cli("results", job_id, "-o", str(out))
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == [".lz/build.log", ".lz/manifest.json", ".lz/stderr", ".lz/stdout", "out/count.txt", "runs.txt"]
    assert (out / "out" / "count.txt").read_text().strip() == "14"
    assert (out / "runs.txt").read_text().startswith("Runs of this example")
    assert "words: 14" in (out / ".lz" / "stdout").read_text()
    manifest = json.loads((out / ".lz" / "manifest.json").read_text())
    statuses = {e["path"]: e["status"] for e in manifest["entries"]}
    assert statuses["out/count.txt"] == "added" and statuses["runs.txt"] == "modified"
    assert "input.txt" not in statuses and "run.sh" not in statuses

    assert landing_zone.cli("logs", job_id).stdout == "words: 14\n"
    table = landing_zone.cli("status").stdout
    assert "succeeded" in table and job_id in table and "daemon pid" in table

    # the user's folder is untouched, and nothing of the job is left in the work root or spool
    assert {p.name: p.read_bytes() for p in example_job.iterdir()} == before
    assert landing_zone.leftovers() == []


def test_failing_job_and_tarball_intake(landing_zone: LandingZone, example_job: Path, tmp_path: Path) -> None:
    (example_job / "run.sh").write_text("echo partial > partial.txt\necho oops >&2\nexit 3\n")
    tarball = tmp_path / "job.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(example_job, arcname="wordcount")
    landing_zone.start()
    result = landing_zone.cli("submit", str(tarball), "--wait", check=False)
    assert result.returncode == 1
    job_id = result.stdout.strip().splitlines()[-1]
    job = landing_zone.status(job_id)
    assert (job["outcome"], job["exit_code"], job["reason"]) == ("failed", 3, "exit code 3")
    out = tmp_path / "out"
    landing_zone.cli("results", job_id, "-o", str(out))
    assert (out / "partial.txt").read_text() == "partial\n"
    assert (out / ".lz" / "stderr").read_text() == "oops\n"
    (out / "partial.txt").write_text("edited by the user")
    again = landing_zone.cli("results", job_id, "-o", str(out), check=False)  # issue 8, defect 11
    assert again.returncode == 2 and "not empty" in again.stderr and "Traceback" not in again.stderr
    assert (out / "partial.txt").read_text() == "edited by the user"
    landing_zone.cli("results", job_id, "-o", str(out), "--force")
    assert (out / "partial.txt").read_text() == "partial\n"
    assert landing_zone.leftovers() == []


def test_cancel_running_job_and_time_limit(landing_zone: LandingZone, example_job: Path) -> None:
    (example_job / "run.sh").write_text("echo started > started.txt\nsleep 300\n")
    landing_zone.start()
    cancelled = landing_zone.submit(example_job)
    landing_zone.wait_for_state(cancelled, ["running"])
    time.sleep(0.5)
    landing_zone.cli("cancel", cancelled)
    timed = landing_zone.submit(example_job, "--time", "00:00:02")
    jobs = landing_zone.wait_all_cleaned([cancelled, timed], timeout=60)
    assert jobs[cancelled]["outcome"] == "cancelled"
    assert jobs[timed]["outcome"] == "timed_out" and jobs[timed]["reason"] == "time limit 00:00:02 reached"
    assert landing_zone.leftovers() == []


def test_cli_works_without_daemon_and_jobs_wait_for_it(landing_zone: LandingZone, example_job: Path) -> None:
    result = landing_zone.cli("submit", str(example_job))
    job_id = result.stdout.strip().splitlines()[-1]
    assert "no landing zone is running" in result.stderr
    assert landing_zone.status(job_id)["state"] == "received"
    other = landing_zone.submit(example_job)
    assert landing_zone.cli("cancel", other).stdout.strip() == f"job {other} collecting"
    landing_zone.start()
    jobs = landing_zone.wait_all_cleaned([job_id, other])
    assert jobs[job_id]["outcome"] == "succeeded" and jobs[other]["outcome"] == "cancelled"


def test_user_mistakes_are_one_line_errors(landing_zone: LandingZone, tmp_path: Path) -> None:
    missing = landing_zone.cli("submit", str(tmp_path / "nope"), check=False)
    assert missing.returncode == 2 and missing.stderr.startswith("lz: error: ")
    assert "Traceback" not in missing.stderr
    unknown = landing_zone.cli("status", "doesnotexist", check=False)
    assert unknown.returncode == 2 and unknown.stderr.strip() == "lz: error: no job 'doesnotexist' in this landing zone"


def test_a_failing_job_waited_for_says_why_with_its_log(landing_zone: LandingZone, tmp_path: Path) -> None:
    """Issue 24 (9): a failing job printed "failed: exit code 1" and nothing that helps."""
    folder = tmp_path / "fails"
    folder.mkdir()
    (folder / "lz.toml").write_text('command = ["sh", "-c", "echo working; echo boom: no input.txt >&2; exit 3"]\n')
    landing_zone.start()
    done = landing_zone.cli("submit", str(folder), "--wait", check=False)
    assert done.returncode == 1
    assert "failed: exit code 3" in done.stderr and "the last lines of its stderr:" in done.stderr
    assert "    boom: no input.txt" in done.stderr


def test_a_short_job_is_not_held_back_by_the_tick(tmp_path: Path) -> None:
    """Issue 23: at lz's default 5 s tick, a trivial job's submission and its process's end wake
    the engine, so it is cleaned well inside one tick (it took 5 to 6 s before)."""
    zone = LandingZone(tmp_path / "lz", tick=5.0, run_args=("--runtime", "none"))
    job = tmp_path / "job"
    job.mkdir()
    (job / "lz.toml").write_text('command = ["sh", "-c", "echo ok > out.txt"]\n')
    zone.start()
    try:
        time.sleep(0.5)  # the first tick (at start) is behind it
        started = time.monotonic()
        job_id = zone.submit(job)
        zone.wait_all_cleaned([job_id], timeout=30)
        took = time.monotonic() - started
    finally:
        zone.stop()
    assert took < 3.0, took
    assert zone.status(job_id)["outcome"] == "succeeded"
