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

from lz.runtimes.select import available
from tests.integration.landing_zone import LandingZone
from tests.integration.runtimes_present import runtimes
from tests.integration.slurm_cluster import CLUSTER, ROOT, requires_slurm

pytestmark = [pytest.mark.slurm, pytest.mark.integration, requires_slurm]

RANKS = 'echo "rank $SLURM_PROCID of $SLURM_NTASKS on $(hostname)"\necho "$SLURM_PROCID" > "rank-$SLURM_PROCID.txt"\n'


def gateway(tmp_path: Path, runtime: str = "none", images: dict[str, Path] | None = None) -> LandingZone:
    catalogue = "[images]\n" + "".join(f'{name} = "{path}"\n' for name, path in (images or {}).items())
    return LandingZone(tmp_path / "lz", container="slurm", run_args=["--runtime", runtime, "--name", "test"],
                       config=f'[slurm]\nsstat_interval_s = 2\nlost_after_s = 30\nmpi = "pmi2"\n{catalogue}')


def job_folder(root: Path, name: str, resources: str, recipe: str | None = None) -> Path:
    job = root / name
    job.mkdir(parents=True)
    (job / "run.sh").write_text(RANKS)
    (job / "lz.toml").write_text(f'name = "{name}"\ncommand = ["sh", "run.sh"]\n[resources]\n{resources}')
    if recipe is not None:
        (job / "Dockerfile").write_text(recipe)
    return job


def run_ranks(tmp_path: Path, rows: dict[str, tuple[str, int]], runtime: str = "none",
              images: dict[str, Path] | None = None) -> dict[str, list[str]]:
    """Each row's job (its [resources], its task count) through one gateway at once; each job's
    stdout lines, sorted, after checking that every task's file came back, collected once. With a
    runtime, each job is built from ``FROM busybox`` and srun starts one container a task."""
    lz = gateway(tmp_path, runtime, images)
    lz.start()
    try:
        recipe = None if runtime == "none" else "FROM busybox\n"
        ids = {lz.submit(job_folder(tmp_path / "jobs", name, resources, recipe)): name
               for name, (resources, _) in rows.items()}
        jobs = lz.wait_all_cleaned(list(ids), timeout=180)
        found = {}
        for job_id, name in ids.items():
            job = jobs[job_id]
            assert (job["outcome"], job["exit_code"]) == ("succeeded", 0), job
            out = tmp_path / "results" / name
            lz.cli("results", job_id, "-o", str(out))
            tasks = rows[name][1]
            assert sorted(p.name for p in out.glob("rank-*.txt")) == sorted(f"rank-{i}.txt" for i in range(tasks))
            history = json.loads(lz.cli("status", job_id, "--json").stdout)["history"]
            assert [t["to"] for t in history].count("collecting") == 1, history  # once, not once a task
            found[name] = sorted((out / ".lz" / "stdout").read_text().splitlines())
        assert lz.leftovers() == []
        return found
    finally:
        lz.stop()


def ranks(tasks: int, hosts: list[str]) -> list[str]:
    return [f"rank {i} of {tasks} on {host}" for i, host in enumerate(hosts)]


def test_tasks_run_under_srun_on_one_node(tmp_path: Path) -> None:
    """The original's rule (cpus = 2 with distributed = true is two tasks of one CPU) and an
    explicit task count, on the single node."""
    found = run_ranks(tmp_path, {"distributed": ('distributed = true\ncpus = 2\nmemory = "200M"\n', 2),
                                 "tasks": ('tasks = 2\ncpus = 1\nmemory = "200M"\n', 2)})
    host = os.uname().nodename
    assert found == {"distributed": ranks(2, [host, host]), "tasks": ranks(2, [host, host])}


@pytest.mark.parametrize("runtime", runtimes("apptainer", "charliecloud"))
def test_containers_of_the_tasks_each_know_their_rank(runtime: str, tmp_path: Path, images: dict[str, Path]) -> None:
    """The hybrid model: srun starts `apptainer exec --cleanenv` (or `ch-run --unset-env=*`) once a
    task, and each container still sees its own SLURM_PROCID (lz/wrapper/task-env.sh)."""
    found = run_ranks(tmp_path, {"in-container": ('tasks = 2\nmemory = "200M"\n', 2)}, runtime, images)
    host = os.uname().nodename
    assert found == {"in-container": ranks(2, [host, host])}


@pytest.fixture
def two_nodes() -> Iterator[None]:
    """Two slurmd (lzn1, lzn2) for the test, the standard single node again afterwards."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces for a second slurmd need root")
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
def test_jobs_span_two_slurmd(tmp_path: Path, images: dict[str, Path], two_nodes: None) -> None:
    """The rows of the README's table that name nodes, each on two real slurmd (lzn1, lzn2); then,
    where Apptainer is installed, 4 tasks over the 2 nodes, one container a task."""
    found = run_ranks(tmp_path, {
        "per-node": ('nodes = 2\ntasks_per_node = 2\nmemory = "400M"\n', 4),
        "spread": ('tasks = 3\nnodes = 2\nmemory = "300M"\n', 3),
        "one-each": ("nodes = 2\n", 2),
    })
    assert found["per-node"] == ranks(4, ["lzn1", "lzn1", "lzn2", "lzn2"])
    assert found["one-each"] == ranks(2, ["lzn1", "lzn2"])
    spread = found["spread"]  # Slurm's block distribution: two on the first node, one on the second
    assert spread == ranks(3, ["lzn1", "lzn1", "lzn2"]), spread
    if available("apptainer"):
        found = run_ranks(tmp_path / "apptainer", {"containers": ('nodes = 2\ntasks_per_node = 2\n', 4)},
                          "apptainer", images)
        assert found["containers"] == ranks(4, ["lzn1", "lzn1", "lzn2", "lzn2"])


DEBIAN = os.environ.get("LZ_TEST_DEBIAN_ROOTFS")
"""A Debian 12 root filesystem (``debootstrap --variant=minbase bookworm DIR``, then empty its
``dev/``) for examples/mpi-hello's ``FROM debian:bookworm``; its build installs MPICH with apt, so
it needs Debian's mirror. Unset: the MPI test is skipped."""


@pytest.mark.slow
@pytest.mark.multinode
@pytest.mark.apptainer
@pytest.mark.timeout(900)
@pytest.mark.skipif(not DEBIAN or not available("apptainer"),
                    reason="LZ_TEST_DEBIAN_ROOTFS (a Debian 12 root filesystem) and Apptainer needed")
def test_mpi_hello_four_ranks_over_two_nodes(tmp_path: Path, two_nodes: None) -> None:
    """examples/mpi-hello: MPICH built into the image from its recipe, 4 ranks over 2 slurmd under
    `srun --mpi=pmi2`, one container a rank; every rank prints its rank and host, an MPI_Allreduce
    over all four (0+1+2+3) shows they talked; the results come back once."""
    lz = LandingZone(tmp_path / "lz", container="slurm", run_args=["--runtime", "apptainer", "--name", "mpi"],
                     config=f'build_timeout = 900\n[slurm]\nmpi = "pmi2"\n[images]\n"debian:bookworm" = "{DEBIAN}"\n')
    lz.start()
    try:
        job_id = lz.submit(ROOT / "examples" / "mpi-hello")
        job = lz.wait_all_cleaned([job_id], timeout=800)[job_id]
        out = tmp_path / "out"
        lz.cli("results", job_id, "-o", str(out))
        stdout = (out / ".lz" / "stdout").read_text()
        assert (job["outcome"], job["exit_code"]) == ("succeeded", 0), (job, (out / ".lz" / "stderr").read_text())
        assert sorted(stdout.splitlines()) == [f"rank {i} of 4 on {host}, sum of ranks 6"
                                               for i, host in enumerate(["lzn1", "lzn1", "lzn2", "lzn2"])]
        history = json.loads(lz.cli("status", job_id, "--json").stdout)["history"]
        assert [t["to"] for t in history].count("collecting") == 1
    finally:
        lz.stop()
