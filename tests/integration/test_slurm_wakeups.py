"""Issue 7: wake-ups start work at once but never add ``squeue`` calls. With the daemon at
``--tick 1``, 20 ``lz submit`` calls in a row: squeue calls <= wall seconds / interval + 2."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone
from tests.integration.slurm_cluster import requires_slurm
from tests.integration.squeue_shim import install

pytestmark = [pytest.mark.slurm, pytest.mark.integration, pytest.mark.slow, requires_slurm]

INTERVAL_S = 2.0  # the default observe_interval_s (the tick is shorter)


def run_burst(base: Path, jobs: int = 20) -> tuple[int, float, int]:
    """(squeue calls, wall seconds, jobs that succeeded) for a burst of submissions."""
    shim_dir, calls = install(base / "shim")
    zone = LandingZone(base / "lz", container="slurm", tick=1.0, run_args=["--runtime", "none", "--name", "wake"],
                       extra_env={"PATH": f"{shim_dir}:{os.environ['PATH']}"},
                       config='job_prefix = "lzwake-"\n')
    job = base / "job"
    job.mkdir()
    (job / "lz.toml").write_text('command = ["true"]\n')
    zone.start()
    try:
        time.sleep(2)
        calls.write_text("")
        start = time.time()
        ids = [zone.submit(job) for _ in range(jobs)]
        done = zone.wait_all_cleaned(ids, timeout=300)
        wall = time.time() - start
        count = len(calls.read_text().splitlines())
    finally:
        zone.stop()
    return count, wall, sum(1 for j in done.values() if j["outcome"] == "succeeded")


def test_twenty_submissions_do_not_multiply_squeue_calls(tmp_path: Path) -> None:
    count, wall, succeeded = run_burst(tmp_path)
    bound = wall / INTERVAL_S + 2
    print(f"\nwake-ups: 20 submissions, {succeeded} succeeded, {count} squeue calls in {wall:.1f} s "
          f"(bound {bound:.1f}, {count / wall:.2f} per second)")
    assert succeeded == 20
    assert count <= bound
