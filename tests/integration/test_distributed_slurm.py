"""Distributed jobs through the gateway on the real Slurm: the step's tasks run under srun, each
with its rank; the results come back once, after the step, not once a task.

The two-node test changes the shared dev cluster (``scripts/slurm-dev-cluster up --nodes 2``: two
slurmd, each in a network and UTS namespace of its own) and restores the single node afterwards;
run it alone, inside ``flock -o /root/heavy.lock``."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone
from tests.integration.slurm_cluster import CLUSTER, requires_slurm

pytestmark = [pytest.mark.slurm, pytest.mark.integration, requires_slurm]

RANKS = 'echo "rank $SLURM_PROCID of $SLURM_NTASKS on $(hostname)"\necho "$SLURM_PROCID" > "rank-$SLURM_PROCID.txt"\n'


def gateway(tmp_path: Path) -> LandingZone:
    return LandingZone(tmp_path / "lz", container="slurm", run_args=["--runtime", "none", "--name", "test"],
                       config='[slurm]\nsstat_interval_s = 2\nlost_after_s = 30\nmpi = "pmi2"\n')


def job_folder(root: Path, resources: str) -> Path:
    job = root / "ranks"
    job.mkdir(parents=True)
    (job / "run.sh").write_text(RANKS)
    (job / "lz.toml").write_text(f'name = "ranks"\ncommand = ["sh", "run.sh"]\n[resources]\n{resources}')
    return job


def run_ranks(tmp_path: Path, resources: str, tasks: int) -> list[str]:
    """The job's stdout lines, sorted, after checking that each task's file came back once."""
    lz = gateway(tmp_path)
    lz.start()
    try:
        job_id = lz.submit(job_folder(tmp_path / "jobs", resources))
        job = lz.wait_all_cleaned([job_id], timeout=120)[job_id]
        assert (job["outcome"], job["exit_code"]) == ("succeeded", 0), job
        out = tmp_path / "results"
        lz.cli("results", job_id, "-o", str(out))
        assert sorted(p.name for p in out.glob("rank-*.txt")) == [f"rank-{i}.txt" for i in range(tasks)]
        history = json.loads(lz.cli("status", job_id, "--json").stdout)["history"]
        assert [t["to"] for t in history].count("collecting") == 1, history  # once, not once a task
        assert lz.leftovers() == []
        return sorted((out / ".lz" / "stdout").read_text().splitlines())
    finally:
        lz.stop()


def test_distributed_is_one_task_a_cpu_under_srun(tmp_path: Path) -> None:
    """The original's rule on the single node: cpus = 2 with distributed = true is two tasks."""
    lines = run_ranks(tmp_path, 'distributed = true\ncpus = 2\nmemory = "200M"\n', 2)
    host = os.uname().nodename
    assert lines == [f"rank 0 of 2 on {host}", f"rank 1 of 2 on {host}"]


@pytest.fixture
def two_nodes() -> Iterator[None]:
    """Two slurmd (lzn1, lzn2) for the test, the standard single node again afterwards."""
    env = {name: value for name, value in os.environ.items() if name != "TMPDIR"}

    def cluster(*args: str) -> None:
        subprocess.run([str(CLUSTER), *args], check=True, timeout=180, env=env)

    cluster("down")
    try:
        cluster("up", "--nodes", "2")
        yield
    finally:
        cluster("down")
        cluster("up")


@pytest.mark.multinode
def test_a_job_spans_two_slurmd(tmp_path: Path, two_nodes: None) -> None:
    lines = run_ranks(tmp_path, 'nodes = 2\ntasks_per_node = 2\nmemory = "400M"\n', 4)
    assert lines == ["rank 0 of 4 on lzn1", "rank 1 of 4 on lzn1", "rank 2 of 4 on lzn2", "rank 3 of 4 on lzn2"]
