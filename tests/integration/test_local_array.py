"""Sweeps on the local executor: the runner starts the tasks itself, at most the throttle at once,
each with LZ_ARRAY_INDEX; one task cancelled; the job succeeds only if every task does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone, wait_until
from tests.integration.runtimes_present import runtimes
from tests.integration.test_containers import catalogue

APPTAINER = runtimes("apptainer")

pytestmark = pytest.mark.integration

SCRIPT = """i=$LZ_ARRAY_INDEX
mkdir running.d 2>/dev/null; touch "running.d/$i"; ls running.d | wc -l > "$LZ_TASK_DIR/together.txt"
trap 'rm -f "running.d/$i"; exit 143' TERM  # a cancelled task is not running any more
if [ "$i" = 2 ]; then touch "$LZ_TASK_DIR/started"; sleep 300 & wait $!; fi
sleep 0.3; rm "running.d/$i"
echo "task $i" > "$LZ_TASK_DIR/out.txt"
"""


def test_local_sweep_throttled_with_one_task_cancelled(landing_zone: LandingZone, tmp_path: Path) -> None:
    job = tmp_path / "jobs" / "sweep"
    job.mkdir(parents=True)
    (job / "run.sh").write_text(SCRIPT)
    (job / "lz.toml").write_text('command = ["sh", "run.sh"]\n')
    landing_zone.start()
    job_id = landing_zone.cli("submit", str(job), "--array", "0-5%2").stdout.strip().splitlines()[-1]
    started = landing_zone.workdir / f"lz-{job_id}" / "work" / "task-2" / "started"
    wait_until(started.exists, 60, "task 2 to start")
    table = landing_zone.cli("status").stdout
    assert f"{job_id} sweep: 6 tasks:" in table and "running" in table
    assert "cancelling task 2" in landing_zone.cli("cancel", job_id, "--task", "2").stdout
    done = landing_zone.wait_all_cleaned([job_id], timeout=60)[job_id]
    assert (done["outcome"], done["reason"]) == ("failed", "1 of 6 tasks did not succeed (task 2: cancelled)")
    detail = json.loads(landing_zone.cli("status", job_id, "--json").stdout)
    assert detail["array"] == "0-5%2"
    assert detail["summary"] == {"pending": 0, "running": 0, "succeeded": 5, "failed": 0, "cancelled": 1}
    out = tmp_path / "out"
    landing_zone.cli("results", job_id, "-o", str(out))
    for i in (0, 1, 3, 4, 5):
        assert (out / f"task-{i}" / "out.txt").read_text() == f"task {i}\n"
        assert int((out / f"task-{i}" / "together.txt").read_text()) <= 2  # the throttle held
    refused = landing_zone.cli("submit", str(job), "--array", "0-5%0", check=False)
    assert refused.returncode == 2 and "throttle" in refused.stderr and "Traceback" not in refused.stderr


def test_the_time_limit_is_each_tasks(landing_zone: LandingZone, tmp_path: Path) -> None:
    """As SLURM applies --time to each task of an array: three 1.5 s tasks one at a time under a 2 s
    limit all succeed (4.5 s in all), and one that sleeps on is stopped alone."""
    job = tmp_path / "jobs" / "slow"
    job.mkdir(parents=True)
    (job / "run.sh").write_text('sleep 1.5\n[ "$LZ_ARRAY_INDEX" != 3 ] || sleep 60\n')
    (job / "lz.toml").write_text('command = ["sh", "run.sh"]\narray = "0-3%1"\n[resources]\ntime = "00:00:02"\n')
    landing_zone.start()
    job_id = landing_zone.submit(job)
    done = landing_zone.wait_all_cleaned([job_id], timeout=60)[job_id]
    assert (done["outcome"], done["reason"]) == ("failed", "1 of 4 tasks did not succeed (task 3: time limit reached)")


@pytest.mark.parametrize("runtime", APPTAINER)
def test_the_index_reaches_inside_apptainer(runtime: str, tmp_path: Path, images: dict[str, Path]) -> None:
    """``--cleanenv`` keeps the host's environment out; APPTAINERENV_ brings the task's index in."""
    zone = LandingZone(tmp_path / "lz", container=runtime, config=catalogue(images))
    job = tmp_path / "jobs" / "inside"
    job.mkdir(parents=True)
    (job / "Dockerfile").write_text("FROM busybox\n")
    (job / "run.sh").write_text('echo "$LZ_ARRAY_INDEX" > "$LZ_TASK_DIR/index.txt"\n')
    (job / "lz.toml").write_text('command = ["sh", "run.sh"]\narray = "3,5"\n')
    try:
        zone.start()
        job_id = zone.submit(job)
        done = zone.wait_all_cleaned([job_id], timeout=120)[job_id]
        assert (done["outcome"], done["reason"]) == ("succeeded", "all 2 tasks succeeded")
        out = tmp_path / "out"
        zone.cli("results", job_id, "-o", str(out))
        assert [(out / f"task-{i}" / "index.txt").read_text() for i in (3, 5)] == ["3\n", "5\n"]
    finally:
        zone.stop()
