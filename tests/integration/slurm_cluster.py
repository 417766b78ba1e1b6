"""Helpers for tests against the real single-node Slurm (scripts/slurm-dev-cluster)."""

from __future__ import annotations

import os
import subprocess
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


def controller(action: str) -> None:
    """Stop or start slurmctld through the dev-cluster script (the outage test); the daemons do not
    get this test worker's own TMPDIR, which goes when the worker does."""
    env = {name: value for name, value in os.environ.items() if name != "TMPDIR"}
    subprocess.run([str(CLUSTER), action], check=True, timeout=120, env=env)
