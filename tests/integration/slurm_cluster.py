"""Helpers for tests against the real single-node Slurm (scripts/slurm-dev-cluster)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "scripts" / "slurm-dev-cluster"


def slurm_answers() -> bool:
    try:
        result = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


requires_slurm = pytest.mark.skipif(not slurm_answers(), reason="no Slurm answers here: run scripts/slurm-dev-cluster up")


def slurm_jobs_named(name: str) -> list[str]:
    """SLURM job ids with this name, finished ones included (MinJobAge keeps them visible)."""
    out = subprocess.run(["squeue", "-h", "--states=all", f"--name={name}", "-o", "%i"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return sorted(set(out.split()))


def stopped(process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait for an ``srun`` (or sbatch --wait) a test started; killed if it outlives ``timeout``."""
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def gone(name: str, timeout: float) -> None:
    """Until no job of this name is pending or running (scancel'ed steps linger through KillWait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", f"--name={name}", "-o", "%i"], capture_output=True, text=True,
                             timeout=30).stdout
        if not out.strip():
            return
        time.sleep(1)
    raise AssertionError(f"SLURM jobs named {name} still there after {timeout:.0f} s")


def controller(action: str) -> None:
    """Stop or start slurmctld through the dev-cluster script (the outage test); the daemons do not
    get this test worker's own TMPDIR, which goes when the worker does."""
    env = {name: value for name, value in os.environ.items() if name != "TMPDIR"}
    subprocess.run([str(CLUSTER), action], check=True, timeout=120, env=env)
