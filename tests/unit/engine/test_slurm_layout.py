"""Tasks, nodes and memory as sbatch and the step's srun get them: one test a row of the README's
mapping table (resources -> sbatch/srun flags), exactly."""

from __future__ import annotations

import pytest

from lz.core.resources import Resources, parse_resources
from lz.slurm import commands
from lz.slurm.parse import parse_sstat
from lz.slurm.settings import SlurmSettings

ROWS = [
    # [resources] of lz.toml            sbatch (after --error, memory last)                        step's srun
    ({"cpus": 4, "memory": "8G"},
     ["--ntasks=1", "--cpus-per-task=4", "--mem=8G"], ["--ntasks=1", "--cpus-per-task=4"]),
    ({"distributed": True, "cpus": 4, "memory": "8G"},
     ["--ntasks=4", "--cpus-per-task=1", "--mem-per-cpu=2G"], ["--ntasks=4", "--cpus-per-task=1"]),
    ({"tasks": 4, "cpus": 2, "memory": "8G"},
     ["--ntasks=4", "--cpus-per-task=2", "--mem-per-cpu=1G"], ["--ntasks=4", "--cpus-per-task=2"]),
    ({"tasks": 4, "nodes": 2, "memory": "8G"},
     ["--ntasks=4", "--nodes=2", "--cpus-per-task=1", "--mem-per-cpu=2G"],
     ["--ntasks=4", "--nodes=2", "--cpus-per-task=1"]),
    ({"nodes": 2, "tasks_per_node": 2, "cpus": 2, "memory": "8G"},
     ["--ntasks=4", "--nodes=2", "--ntasks-per-node=2", "--cpus-per-task=2", "--mem=4G"],
     ["--ntasks=4", "--nodes=2", "--ntasks-per-node=2", "--cpus-per-task=2"]),
    ({"nodes": 2},
     ["--ntasks=2", "--nodes=2", "--cpus-per-task=1"], ["--ntasks=2", "--nodes=2", "--cpus-per-task=1"]),
    ({"distributed": True, "cpus": 3, "memory": "1G"},  # 1024/3 rounded up: never less than asked
     ["--ntasks=3", "--cpus-per-task=1", "--mem-per-cpu=342M"], ["--ntasks=3", "--cpus-per-task=1"]),
]


def build(resources: Resources, options: SlurmSettings | None = None) -> list[str]:
    return commands.sbatch_argv(
        job_name="lz-abc", work_dir="/w/work", meta_dir="/w/lz", wrapper="/lz/job.sh",
        resources=resources, options=options or SlurmSettings(), step_argv=["hostname"],
    )


@pytest.mark.parametrize("raw,sbatch,srun", ROWS, ids=[str(sorted(r[0])) for r in ROWS])
def test_mapping_row(raw: dict, sbatch: list[str], srun: list[str]) -> None:
    argv = build(parse_resources(raw))
    head = argv[:argv.index("/lz/job.sh")]
    assert [a for a in head[6:] if a != "--export=NONE"] == sbatch
    assert argv[argv.index("srun"):] == ["srun", *srun, "--export=ALL", "--", "hostname"]


def test_mpi_plugin_only_for_several_tasks() -> None:
    options = SlurmSettings(mpi="pmi2")
    several = build(parse_resources({"tasks": 2}), options)
    assert several[several.index("srun"):] == ["srun", "--ntasks=2", "--cpus-per-task=1", "--mpi=pmi2",
                                               "--export=ALL", "--", "hostname"]
    single = build(Resources(cpus=2), options)
    assert not any(a.startswith("--mpi") for a in single)


def test_distributed_with_one_cpu_is_one_task() -> None:
    argv = build(parse_resources({"distributed": True, "memory": "2G"}))
    assert argv[6:10] == ["--ntasks=1", "--cpus-per-task=1", "--export=NONE", "--mem-per-cpu=2G"]


def test_cpu_time_sums_over_the_tasks_of_a_step() -> None:
    """sstat's AveCPU is per task: a step of 4 tasks at 10 s each used 40 s; MaxRSS is its largest task."""
    usage = parse_sstat("7.0|2048K|00:10.000|4\n7.batch|1024K|00:00.100|1\n")
    assert usage["7"].cpu_seconds == pytest.approx(40.0)
    assert usage["7"].max_rss_bytes == 2048 * 1024
