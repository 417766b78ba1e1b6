"""Retries and dependencies on a local landing zone (a real daemon, real processes, real SQLite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone, script_job

pytestmark = [pytest.mark.integration]

CONFIG = "retry_backoff_s = 0.2\n"


@pytest.fixture
def lz(tmp_path: Path):  # type: ignore[no-untyped-def]
    zone = LandingZone(tmp_path / "lz", config=CONFIG, tick=0.2)
    zone.start()
    yield zone
    zone.stop()


def test_a_chain_of_three_with_a_failing_middle(lz: LandingZone, tmp_path: Path) -> None:
    """first succeeds; second (after first) fails; third (after second) never runs and says why;
    a fourth after second:failed runs; an unknown id is refused at submission, exit 2."""
    jobs = tmp_path / "jobs"
    first = lz.submit(script_job(jobs, "first", "sleep 0.5\necho one\n"))
    second = lz.submit(script_job(jobs, "second", "echo two\nexit 4\n"), "--after", first)
    third = lz.submit(script_job(jobs, "third", "echo three\n"), "--after", f"{second}:ok")
    cleanup = lz.submit(script_job(jobs, "cleanup", "echo cleaning\n", f'after = ["{second}:failed"]\n'))
    assert lz.status(third)["pending_reason"] in (None, f"waiting for job {second} to succeed")
    done = lz.wait_all_cleaned([first, second, third, cleanup], timeout=60)
    assert done[first]["outcome"] == "succeeded"
    assert (done[second]["outcome"], done[second]["reason"]) == ("failed", "exit code 4")
    assert (done[third]["outcome"], done[third]["reason"]) == ("failed", f"dependency {second} failed")
    assert done[third]["started_at"] is None and done[third]["after"] == [f"{second}:ok"]
    assert done[cleanup]["outcome"] == "succeeded"
    assert done[second]["started_at"] >= done[first]["ended_at"]

    refused = lz.cli("submit", str(script_job(jobs, "orphan", "true\n")), "--after", "0123456789", check=False)
    assert refused.returncode == 2
    assert "--after 0123456789:ok: no job '0123456789' in this landing zone" in refused.stderr
    bad = lz.cli("submit", str(script_job(jobs, "bad", "true\n")), "--after", f"{first}:maybe", check=False)
    assert bad.returncode == 2 and "the condition must be ok, any or failed" in bad.stderr


def test_an_exit_code_is_retried_with_each_attempts_logs_and_retries_zero_fails_once(
        lz: LandingZone, tmp_path: Path) -> None:
    """A job that fails with 75 on its first two attempts and succeeds on its third; the logs of
    each attempt are kept; the same failure with retries = 0 ends after one attempt."""
    script = ("n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count\n"
              "echo \"run $n\"; [ $n -ge 3 ] || exit 75\n")
    flaky = lz.submit(script_job(tmp_path / "jobs", "flaky", script, 'retries = 2\nretry_on = ["exit:75"]\n'))
    once = lz.submit(script_job(tmp_path / "jobs", "once", script, 'retries = 0\nretry_on = ["exit:75"]\n'))
    done = lz.wait_all_cleaned([flaky, once], timeout=60)
    job = done[flaky]
    assert job["outcome"] == "succeeded" and job["retry"]["attempt"] == 3
    assert job["reason"] == "exit code 0 (attempt 3 of 3; earlier: #1 exit code 75; #2 exit code 75)"
    assert [a["cause"] for a in job["retry"]["earlier"]] == ["exit:75", "exit:75"]
    assert lz.cli("logs", flaky, "--attempt", "1").stdout == "run 1\n"
    assert lz.cli("logs", flaky, "--attempt", "2").stdout == "run 2\n"
    assert lz.cli("logs", flaky).stdout == "run 3\n"
    assert (done[once]["outcome"], done[once]["reason"], done[once]["retry"]["attempt"]) == ("failed", "exit code 75", 1)
    assert done[once]["retry"]["earlier"] == []
    missing = lz.cli("logs", once, "--attempt", "2", check=False)
    assert missing.returncode != 0 and "no attempt 2" in missing.stderr


def test_a_crash_between_ending_an_attempt_and_submitting_the_next(tmp_path: Path) -> None:
    """The daemon dies once the first attempt's logs are moved aside, before the second is
    submitted (crash point ``submit.archived``); restarted, it submits attempt 2 once: the job
    ran twice in all, succeeded, and both attempts' logs are there."""
    from lz.host import faults

    zone = LandingZone(tmp_path / "lz", config=CONFIG, tick=0.2)
    script = ("echo run >> ../../runs.log\nn=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count\n"
              "echo \"run $n\"; [ $n -ge 2 ] || exit 75\n")
    (tmp_path / "lz").mkdir(parents=True, exist_ok=True)
    job_id = zone.submit(script_job(tmp_path / "jobs", "flaky", script, 'retries = 1\nretry_on = ["exit:75"]\n'))
    zone.daemon.launch(zone.run_argv(), env={**zone.env, faults.ENV: "submit.archived"})
    assert zone.proc is not None and zone.proc.wait(60) == faults.EXIT_STATUS
    assert lz_state(zone, job_id) == ("queued", 2)
    zone.start()
    try:
        job = zone.wait_all_cleaned([job_id], timeout=60)[job_id]
    finally:
        zone.stop()
    assert (job["outcome"], job["retry"]["attempt"]) == ("succeeded", 2)
    assert zone.cli("logs", job_id, "--attempt", "1").stdout == "run 1\n"
    assert zone.cli("logs", job_id).stdout == "run 2\n"
    assert (zone.workdir / "runs.log").read_text() == "run\nrun\n"  # beside the job's directory: kept


def lz_state(zone: LandingZone, job_id: str) -> tuple[str, int]:
    import sqlite3

    conn = sqlite3.connect(f"file:{zone.db}?mode=ro", uri=True, timeout=30)
    try:
        return tuple(conn.execute("SELECT state, attempt FROM jobs WHERE id = ?", (job_id,)).fetchone())  # type: ignore[return-value]
    finally:
        conn.close()
