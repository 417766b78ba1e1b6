"""Sweeps on SLURM: one ``sbatch --array``, task lines of captured squeue output, one task cancelled."""

from __future__ import annotations

from pathlib import Path

from lz.core.job import JobSpec
from lz.core.layout import JobPaths
from lz.core.records import JobContext, Tracked
from lz.core.resources import Resources
from lz.executors.array_tasks import task_views, task_wrapper
from lz.executors.base import wrapper_script
from lz.slurm import commands
from lz.slurm.parse import parse_squeue
from lz.slurm.settings import SlurmSettings
from tests.unit.engine.test_slurm_executor import Script, done, executor, read


def test_array_sbatch_argv() -> None:
    argv = commands.sbatch_argv(
        job_name="lz-abc", work_dir="/w/lz-abc/work", meta_dir="/w/lz-abc/lz", wrapper="/lz/array_task.sh",
        resources=Resources(cpus=2), options=SlurmSettings(), step_argv=["python", "sweep.py"], array="0-99%10",
        wrapper_args=["/lz/job.sh"])
    assert argv == [
        "sbatch", "--parsable", "--job-name=lz-abc", "--chdir=/w/lz-abc/work",
        "--output=/w/lz-abc/lz/slurm-%a.out", "--error=/w/lz-abc/lz/slurm-%a.out", "--array=0-99%10",
        "--ntasks=1", "--cpus-per-task=2", "--export=NONE",
        "/lz/array_task.sh", "/lz/job.sh", "/w/lz-abc/lz",
        "srun", "--ntasks=1", "--cpus-per-task=2", "--export=ALL", "--", "python", "sweep.py",
    ]


def sweep(tmp_path: Path, array: str = "0-9%2", slurm_id: str | None = "48") -> Tracked:
    paths = JobPaths(tmp_path / "lz-abc")
    paths.meta.mkdir(parents=True, exist_ok=True)
    return Tracked("abc", slurm_id, paths, array=array)


def finish(job: Tracked, index: int, code: int) -> None:
    folder = job.paths.meta / f"task-{index}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pid").write_text("1 1\n")
    (folder / "exit").write_text(f"{code}\n")


def test_submit_is_one_sbatch_with_the_array_and_the_task_wrapper(tmp_path: Path) -> None:
    script = Script({"sbatch": [done("48\n")]})
    spec = JobSpec(name="x", command=("true",), array="0-9%2")
    assert executor(script).submit(JobContext("abc", spec, JobPaths(tmp_path / "lz-abc")), ["true"]) == "48"
    [argv] = script.calls
    assert "--array=0-9%2" in argv
    start = argv.index(str(task_wrapper()))
    assert argv[start + 1:start + 3] == [str(wrapper_script()), str(tmp_path / "lz-abc" / "lz")]


def test_task_lines_parse() -> None:
    entries = parse_squeue(read("squeue-array-mixed.txt"))
    assert [e.slurm_id for e in entries] == ["38_1", "38_[2-7,9%2]", "38_0", "29_3"]
    assert entries[1].reason == "JobArrayTaskLimit"


def test_just_submitted_array_is_pending(tmp_path: Path) -> None:
    job = sweep(tmp_path)
    script = Script({"squeue": [done(read("squeue-array-pending.txt").replace("lzcap-array", "lz-abc"))]})
    [seen] = executor(script).observe([job]).values()
    assert (seen.phase, seen.executor_id) == ("pending", "48")


def test_mixed_array_is_running_and_the_tasks_are_told_apart(tmp_path: Path) -> None:
    job = sweep(tmp_path, slurm_id="38")
    finish(job, 1, 0)
    text = read("squeue-array-mixed.txt").replace("lzcap-array", "lz-abc")
    script = Script({"squeue": [done(text)]})
    [seen] = executor(script).observe([job]).values()
    assert seen.phase == "running"
    assert script.programs() == ["squeue"]  # one call for the whole array


def test_ended_array_outcome_counts_every_task(tmp_path: Path) -> None:
    job = sweep(tmp_path)
    for i in (0, 1, 2, 4, 5, 6, 7, 9):
        finish(job, i, 0)
    finish(job, 3, 1)
    (job.paths.meta / "task-8").mkdir()
    (job.paths.meta / "task-8" / "cancel-requested").write_text("1\n")  # lz cancel --task 8 left its mark
    text = read("squeue-array-ended.txt").replace("lzcap-array", "lz-abc")
    [seen] = executor(Script({"squeue": [done(text)]})).observe([job]).values()
    assert (seen.phase, seen.native_state, seen.exit_code) == ("ended", "ARRAY", 1)
    assert seen.reason == "2 of 10 tasks did not succeed (task 3: exit code 1)"
    states = {v.index: v.state for v in task_views(job.paths, range(10), over=True)}
    assert states[3] == "failed" and states[8] == "cancelled" and states[0] == "succeeded"


def test_a_task_killed_without_its_record_takes_squeue_word(tmp_path: Path) -> None:
    job = sweep(tmp_path, array="9", slurm_id="38")
    text = read("squeue-array-ended.txt").replace("lzcap-array", "lz-abc")
    [seen] = executor(Script({"squeue": [done(text)]})).observe([job]).values()
    assert (seen.phase, seen.exit_code) == ("ended", 143)
    assert seen.reason == "1 of 1 tasks did not succeed (task 9: cancelled)"


def test_an_array_nobody_lists_is_absent(tmp_path: Path) -> None:
    [seen] = executor(Script({"squeue": [done("")]})).observe([sweep(tmp_path)]).values()
    assert seen.phase == "absent"


def test_cancel_one_task_is_scancel_of_its_id(tmp_path: Path) -> None:
    job = sweep(tmp_path)
    script = Script({"scancel": [done()]})
    executor(script).cancel_tasks(job, [7, 9])
    assert script.calls == [["scancel", "48_7", "48_9"]]
    assert (job.paths.meta / "task-7" / "cancel-requested").exists()
