"""SLURM argv builders, parsers (on captured real output) and the executor with a scripted runner."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from lz.errors import ControllerUnavailable, SubmitRejected
from lz.executors.base import Tracked
from lz.executors.slurm import SlurmExecutor, SlurmOptions
from lz.jobspec import JobSpec
from lz.layout import JobPaths
from lz.process import Completed
from lz.resources import Resources
from lz.runtimes.base import JobContext
from lz.slurm import commands
from lz.slurm.parse import ParseError, exit_code_of, is_unreachable, parse_sbatch, parse_squeue, parse_sstat, phase_of

DATA = Path(__file__).resolve().parents[1] / "data" / "slurm"


def read(name: str) -> str:
    return (DATA / name).read_text()


# -- parsers on captured output -------------------------------------------------------------------
def test_squeue_captured_states() -> None:
    entries = {e.name: e for e in parse_squeue(read("squeue-mixed.txt"))}
    assert entries["lz-pending01"].state == "PENDING" and entries["lz-pending01"].reason == "Resources"
    assert entries["lz-holder01"].state == "RUNNING" and entries["lz-holder01"].reason is None
    assert entries["lz-b3dc7e6a2e"].exit_code == 1  # raw 256
    assert entries["lz-b33c0cd024"].state == "TIMEOUT" and entries["lz-b33c0cd024"].exit_code == 143
    assert {phase_of(e.state) for e in entries.values()} == {"pending", "running", "ended"}


def test_squeue_names_with_the_delimiter_and_odd_output() -> None:
    [entry] = parse_squeue("3|COMPLETED|None|0|weird|name x\n")
    assert entry.name == "weird|name x"
    assert parse_squeue("") == [] and parse_squeue("\n\n") == []
    with pytest.raises(ParseError):
        parse_squeue("slurm_load_jobs error: Unable to contact slurm controller\n")
    with pytest.raises(ParseError):
        parse_squeue("42|RUNN")  # truncated


@pytest.mark.parametrize("state,phase", [
    ("PENDING", "pending"), ("CONFIGURING", "pending"), ("REQUEUED", "pending"), ("REQUEUE_HOLD", "pending"),
    ("RUNNING", "running"), ("COMPLETING", "running"), ("SUSPENDED", "running"), ("STAGE_OUT", "running"),
    ("COMPLETED", "ended"), ("FAILED", "ended"), ("CANCELLED", "ended"), ("CANCELLED by 0", "ended"),
    ("TIMEOUT", "ended"), ("NODE_FAIL", "ended"), ("PREEMPTED", "ended"), ("OUT_OF_MEMORY", "ended"),
    ("BOOT_FAIL", "ended"), ("DEADLINE", "ended"), ("CANCELLED+", "ended"),
])
def test_every_state_has_a_phase(state: str, phase: str) -> None:
    assert phase_of(state) == phase


def test_exit_codes() -> None:
    assert [exit_code_of(s) for s in ("0", "256", "768", "15", "9", "3:0", "0:9", "", "N/A")] == \
        [0, 1, 3, 143, 137, 3, 137, None, None]


def test_sbatch_and_sstat() -> None:
    assert parse_sbatch("4242\n") == "4242" and parse_sbatch("17;cluster\n") == "17"
    with pytest.raises(ParseError):
        parse_sbatch("sbatch: error: something\n")
    usage = parse_sstat(read("sstat-running.txt"))
    assert usage["42"].max_rss_bytes == 10644 * 1024
    assert parse_sstat("1.0|2G|1-00:00:01|2\n")["1"].cpu_seconds == 2 * 86401


def test_error_classification_on_captured_messages() -> None:
    assert is_unreachable(read("squeue-controller-down.stderr"))
    assert is_unreachable(read("sbatch-controller-down.stderr"))
    assert not is_unreachable(read("sbatch-bad-partition.stderr"))


# -- argv ----------------------------------------------------------------------------------------
def test_sbatch_argv_is_exact() -> None:
    argv = commands.sbatch_argv(
        job_name="lz-abc", work_dir="/w/lz-abc/work", meta_dir="/w/lz-abc/lz", wrapper="/lz/job.sh",
        resources=Resources(cpus=4, memory_mb=4096, gpus=2, time_s=3600, partition="gpu"),
        options=commands.SubmitOptions(account="proj", qos="high", extra_args=("--constraint=x",), gpu_flag="gres"),
        step_argv=["echo", "a b", "$(rm -rf /)", "line\nbreak"],
    )
    assert argv == [
        "sbatch", "--parsable", "--job-name=lz-abc", "--chdir=/w/lz-abc/work", "--output=/w/lz-abc/lz/slurm.out",
        "--error=/w/lz-abc/lz/slurm.out", "--ntasks=1", "--cpus-per-task=4", "--export=NONE", "--mem=4G",
        "--gres=gpu:2", "--time=01:00:00", "--partition=gpu", "--account=proj", "--qos=high", "--constraint=x",
        "/lz/job.sh", "/w/lz-abc/lz", "srun", "--ntasks=1", "--cpus-per-task=4", "--export=ALL",
        "--kill-on-bad-exit=1", "echo", "a b", "$(rm -rf /)", "line\nbreak",
    ]


def test_query_argv() -> None:
    assert commands.squeue_argv("alice") == [
        "squeue", "--noheader", "--states=all", "--user=alice", "-O", "JobID:|,State:|,Reason:|,Exit_Code:|,Name:"]
    assert commands.sstat_argv(["1", "2"])[-2:] == ["-j", "1,2"]
    assert commands.scancel_argv(["1", "2"]) == ["scancel", "1", "2"]


# -- the executor with a scripted runner ---------------------------------------------------------------
class Script:
    """Answers each program with the next canned result and records every argv."""

    def __init__(self, answers: Mapping[str, Sequence[Completed | Exception]]):
        self.answers = {k: list(v) for k, v in answers.items()}
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> Completed:
        self.calls.append(list(argv))
        answer = self.answers[argv[0]].pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def done(stdout: str = "", stderr: str = "", rc: int = 0) -> Completed:
    return Completed((), rc, stdout, stderr)


def tracked(tmp_path: Path, job_id: str, slurm_id: str | None = None) -> Tracked:
    paths = JobPaths(tmp_path / f"lz-{job_id}")
    paths.meta.mkdir(parents=True, exist_ok=True)
    return Tracked(job_id, slurm_id, paths)


def test_one_squeue_for_many_jobs_and_adoption_by_name(tmp_path: Path) -> None:
    lines = "".join(f"{100 + i}|RUNNING|None|0|lz-job{i}\n" for i in range(50)) + "9|RUNNING|None|0|other\n"
    script = Script({"squeue": [done(lines)]})
    executor = SlurmExecutor(SlurmOptions(user="alice"), runner=script)
    jobs = [tracked(tmp_path, f"job{i}", None if i == 7 else str(100 + i)) for i in range(50)]
    jobs.append(tracked(tmp_path, "gone", "5"))
    seen = executor.observe(jobs)
    assert [c[0] for c in script.calls] == ["squeue"]
    assert seen["job7"].phase == "running" and seen["job7"].executor_id == "107"  # adopted by name
    assert seen["gone"].phase == "absent"


def test_exit_file_beats_slurm_exit_code_and_ends_vanished_jobs(tmp_path: Path) -> None:
    a, b = tracked(tmp_path, "a", "1"), tracked(tmp_path, "b", "2")
    a.paths.exit_file.write_text("3\n")
    b.paths.exit_file.write_text("0\n")
    script = Script({"squeue": [done("1|FAILED|NonZeroExitCode|256|lz-a\n")]})
    seen = SlurmExecutor(SlurmOptions(user="u"), runner=script).observe([a, b])
    assert (seen["a"].phase, seen["a"].exit_code, seen["a"].native_state) == ("ended", 3, "FAILED")
    assert (seen["b"].phase, seen["b"].exit_code, seen["b"].native_state) == ("ended", 0, "EXITED")


def test_controller_trouble_is_unavailable_not_failure(tmp_path: Path) -> None:
    from lz.process import CommandTimeout

    script = Script({"squeue": [done("", read("squeue-controller-down.stderr"), 1), CommandTimeout("slow")]})
    executor = SlurmExecutor(SlurmOptions(user="u"), runner=script)
    for _ in range(2):
        with pytest.raises(ControllerUnavailable):
            executor.observe([tracked(tmp_path, "a", "1")])


def test_submit_outcomes(tmp_path: Path) -> None:
    job = JobContext("abc", JobSpec(name="x", command=("true",)), JobPaths(tmp_path / "lz-abc"))
    script = Script({"sbatch": [
        done("77\n"),
        done("", read("sbatch-bad-partition.stderr"), 1),
        done("", read("sbatch-controller-down.stderr"), 1),
    ]})
    executor = SlurmExecutor(SlurmOptions(user="u"), runner=script)
    assert executor.submit(job, ["true"]) == "77"
    with pytest.raises(SubmitRejected, match="Invalid partition"):
        executor.submit(job, ["true"])
    with pytest.raises(ControllerUnavailable):
        executor.submit(job, ["true"])
    assert "--job-name=lz-abc" in script.calls[0]


def test_cancel_by_ids_in_one_call_and_by_name_when_unknown(tmp_path: Path) -> None:
    script = Script({"scancel": [done(), done()]})
    executor = SlurmExecutor(SlurmOptions(user="u"), runner=script)
    executor.cancel([tracked(tmp_path, "a", "1"), tracked(tmp_path, "b", "2"), tracked(tmp_path, "c")])
    assert script.calls == [["scancel", "1", "2"], ["scancel", "--name=lz-c", "--user=u"]]
