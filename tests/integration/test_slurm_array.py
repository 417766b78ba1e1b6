"""Sweeps through the gateway on the real Slurm: ``lz submit --array 0-9%4`` is one ``sbatch
--array``; every task's results come back under task-<i>/; one task is cancelled on its own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone, wait_until
from tests.integration.slurm_cluster import requires_slurm
from tests.integration.squeue_shim import install

pytestmark = [pytest.mark.slurm, pytest.mark.integration, requires_slurm]

SCRIPT = """i=$LZ_ARRAY_INDEX
[ "$i" = "$SLURM_ARRAY_TASK_ID" ] || exit 9
if [ "$i" = 7 ]; then touch "$LZ_TASK_DIR/started"; sleep 300; fi
echo "task $i of $(cat input.txt)" > "$LZ_TASK_DIR/out.txt"
echo "said by $i"
[ "$i" != 3 ]
"""


def test_sweep_is_one_sbatch_with_every_task_back(tmp_path: Path) -> None:
    shim_dir, _ = install(tmp_path / "shim")
    _, sbatch_calls = install(tmp_path / "shim", "sbatch")
    zone = LandingZone(tmp_path / "lz", container="slurm", run_args=["--runtime", "none", "--name", "sweep"],
                       extra_env={"PATH": f"{shim_dir}:{os.environ['PATH']}"}, config='job_prefix = "lzarr-"\n')
    job = tmp_path / "jobs" / "sweep"
    job.mkdir(parents=True)
    (job / "input.txt").write_text("the sweep")
    (job / "run.sh").write_text(SCRIPT)
    (job / "lz.toml").write_text('command = ["sh", "run.sh"]\narray = "0-9%4"\n')
    zone.start()
    try:
        job_id = zone.submit(job)
        started = zone.workdir / f"lzarr-{job_id}" / "work" / "task-7" / "started"
        wait_until(started.exists, 120, "task 7 to start")
        said = zone.cli("cancel", f"{job_id}_7").stdout
        assert f"job {job_id}: cancelling task 7" in said
        done = zone.wait_all_cleaned([job_id], timeout=180)[job_id]
    finally:
        zone.stop()
    assert len(sbatch_calls.read_text().splitlines()) == 1
    assert (done["outcome"], done["exit_code"]) == ("failed", 1)
    assert done["reason"] == "2 of 10 tasks did not succeed (task 3: exit code 1)"
    detail = json.loads(zone.cli("status", job_id, "--json").stdout)
    assert detail["summary"] == {"pending": 0, "running": 0, "succeeded": 8, "failed": 1, "cancelled": 1}
    assert {t["index"]: t["state"] for t in detail["tasks"]}[7] == "cancelled"
    text = zone.cli("status", job_id).stdout
    assert "10 tasks: 8 succeeded, 1 failed, 1 cancelled" in text

    out = tmp_path / "all"
    zone.cli("results", job_id, "-o", str(out))
    for i in range(10):
        if i != 7:
            assert (out / f"task-{i}" / "out.txt").read_text() == f"task {i} of the sweep\n"
            assert (out / f"task-{i}" / "stdout").read_text() == f"said by {i}\n"
    one = tmp_path / "one"
    zone.cli("results", job_id, "--task", "4", "-o", str(one))
    assert sorted(p.name for p in one.iterdir() if p.name != ".lz") == ["out.txt", "stderr", "stdout"]
    assert zone.leftovers() == []
