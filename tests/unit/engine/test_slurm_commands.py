"""The argv lists lz hands to SLURM's commands, exactly (pure builders, no process)."""

from __future__ import annotations

from lz.core.resources import Resources
from lz.slurm import commands
from lz.slurm.settings import SlurmSettings

HOSTILE = ["echo", "a b", "it's \"quoted\"", "$(rm -rf /)", "`id`", "line\nbreak", "-n", ";|&"]


def build(resources: Resources, options: SlurmSettings | None = None,
          step: list[str] | None = None) -> list[str]:
    return commands.sbatch_argv(
        job_name="lz-abc", work_dir="/w/lz-abc/work", meta_dir="/w/lz-abc/lz", wrapper="/lz/job.sh",
        resources=resources, options=options or SlurmSettings(), step_argv=step or ["true"],
    )


def test_sbatch_argv_with_every_option() -> None:
    argv = build(
        Resources(cpus=4, memory_mb=4096, gpus=2, time_s=3600, partition="gpu"),
        SlurmSettings(account="proj", qos="high", partition="debug", extra_sbatch_args=("--constraint=x",),
                               gpu_flag="gres"),
        HOSTILE,
    )
    assert argv == [
        "sbatch", "--parsable", "--job-name=lz-abc", "--chdir=/w/lz-abc/work", "--output=/w/lz-abc/lz/slurm.out",
        "--error=/w/lz-abc/lz/slurm.out", "--ntasks=1", "--cpus-per-task=4", "--export=NONE", "--mem=4G",
        "--gres=gpu:2", "--time=01:00:00", "--partition=gpu", "--account=proj", "--qos=high", "--constraint=x",
        "/lz/job.sh", "/w/lz-abc/lz",
        "srun", "--ntasks=1", "--cpus-per-task=4", "--export=ALL", "--",
        *HOSTILE,
    ]


def test_sbatch_argv_minimal_uses_site_partition_and_gpus_flag() -> None:
    argv = build(Resources(cpus=1, memory_mb=1500, gpus=1, time_s=90061),
                 SlurmSettings(partition="debug"))
    assert argv[8:13] == ["--export=NONE", "--mem=1500M", "--gpus=1", "--time=1-01:01:01", "--partition=debug"]
    assert not any(a.startswith(("--account", "--qos")) for a in argv)


def test_sbatch_argv_without_requests_leaves_slurm_defaults() -> None:
    argv = build(Resources())
    assert argv[:9] == [
        "sbatch", "--parsable", "--job-name=lz-abc", "--chdir=/w/lz-abc/work", "--output=/w/lz-abc/lz/slurm.out",
        "--error=/w/lz-abc/lz/slurm.out", "--ntasks=1", "--cpus-per-task=1", "--export=NONE",
    ]
    assert argv[9:11] == ["/lz/job.sh", "/w/lz-abc/lz"]


def test_user_argv_is_never_joined_into_one_string() -> None:
    argv = build(Resources(), step=HOSTILE)
    assert argv[-len(HOSTILE):] == HOSTILE
    assert argv[argv.index("srun"):].count("--") == 1


def test_squeue_argv_names_last() -> None:
    assert commands.squeue_argv("alice") == [
        "squeue", "--noheader", "--states=all", "--user=alice", "-O", "JobArrayID:|,State:|,Reason:|,Exit_Code:|,Name:"]


def test_sstat_scontrol_scancel_argv() -> None:
    assert commands.sstat_argv(["1", "2"]) == [
        "sstat", "--parsable2", "--noheader", "--allsteps", "--format=JobID,MaxRSS,AveCPU,NTasks", "-j", "1,2"]
    assert commands.scancel_argv(["1", "2"]) == ["scancel", "1", "2"]
    assert commands.scancel_by_name_argv("lz-c", "u") == ["scancel", "--name=lz-c", "--user=u"]
