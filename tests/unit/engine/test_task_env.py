"""The hybrid model: in a job of several tasks, srun starts one container a task, and each task's
rank and MPI variables reach its command through lz/wrapper/task-env.sh as argv words (the
container's clean environment drops them otherwise). Exact argv, and the shim run for real."""

from __future__ import annotations

import subprocess
from importlib import resources
from pathlib import Path

from lz.core.job import JobSpec
from lz.core.layout import JobPaths
from lz.core.records import JobContext
from lz.core.resources import Resources
from lz.runtimes.apptainer import ApptainerRuntime
from lz.runtimes.base import TASK_ENV
from lz.runtimes.charliecloud import CharliecloudRuntime
from lz.runtimes.none import NoneRuntime

W = "/w/lz-J1"
SHIM = str(resources.files("lz") / "wrapper" / "task-env.sh")
TASKS = Resources(tasks=2)


def job(resources: Resources, **spec: object) -> JobContext:
    fields: dict = {"name": "j", "command": ("./hello", "a b"), "resources": resources, **spec}
    return JobContext("J1", JobSpec(**fields), JobPaths(Path(W)))


def test_apptainer_tasks_get_their_variables_through_the_shim() -> None:
    runtime = ApptainerRuntime("apptainer", is_root=True)
    argv = runtime.run_argv(job(TASKS, env={"MODE": "x"}))
    image = argv.index(f"{W}/runtime/image.sif")
    assert argv[:image] == ["sh", SHIM, "env", f"APPTAINER_TMPDIR={W}/runtime/run-tmp",
                            f"SINGULARITY_TMPDIR={W}/runtime/run-tmp", "apptainer", "exec", "--contain", "--cleanenv",
                            "--pwd", "/lz/work", "--bind", f"{W}/work:/lz/work"]
    assert argv[image + 1:] == ["env", TASK_ENV, "MODE=x", "./hello", "a b"]
    assert runtime.run_argv(job(Resources(cpus=2)))[0] == "env"  # one task: no shim, no word
    assert TASK_ENV not in runtime.run_argv(job(Resources(cpus=2)))


def test_apptainer_runscript_of_several_tasks_is_executed() -> None:
    argv = ApptainerRuntime("apptainer", is_root=True).run_argv(job(Resources(distributed=True, cpus=2), command=None))
    assert argv[-3:] == ["env", TASK_ENV, "/.singularity.d/runscript"]


def test_charliecloud_tasks_get_their_variables_through_the_shim() -> None:
    argv = CharliecloudRuntime(["ch-image"], "ch-run", user="alice").run_argv(job(TASKS))
    assert argv[:4] == ["sh", SHIM, "env", "USER=alice"]
    assert argv[argv.index("--"):] == ["--", "env", TASK_ENV, "./hello", "a b"]


def test_no_container_needs_no_shim() -> None:
    assert NoneRuntime().run_argv(job(TASKS)) == ["./hello", "a b"]


def test_the_shim_puts_the_tasks_variables_in_place_of_the_first_word_only() -> None:
    env = {"PATH": "/usr/bin:/bin", "SLURM_PROCID": "3", "PMI_FD": "7", "PMIX_URI": 'a;b $(id) "q"\\',
           "OMPI_MCA_x": "1", "SLURMD_NODENAME": "n1", "HOME": "/h", "SECRET": "no", "XSLURM_Y": "no"}
    out = subprocess.run(["sh", SHIM, "printf", "[%s]\\n", "x", TASK_ENV, "y", TASK_ENV, "a b"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[x]", "[OMPI_MCA_x=1]", "[PMIX_URI=a;b $(id) \"q\"\\]", "[PMI_FD=7]",
                                "[SLURMD_NODENAME=n1]", "[SLURM_PROCID=3]", "[y]", f"[{TASK_ENV}]", "[a b]"]
