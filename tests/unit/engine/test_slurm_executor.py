"""SlurmExecutor with an injected runner that answers with output captured from the real Slurm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from lz.core.errors import ConfigError, ControllerUnavailable, SubmitRejected
from lz.core.job import JobSpec
from lz.core.layout import JobPaths
from lz.core.records import JobContext, Tracked
from lz.core.resources import Resources
from lz.executors.base import wrapper_script
from lz.executors.slurm import SlurmExecutor
from lz.host.process import CommandTimeout, Completed
from lz.slurm.settings import SlurmSettings
from tests.paths import ROOT

DATA = ROOT / "tests" / "data" / "slurm"


def read(name: str) -> str:
    return (DATA / name).read_text()


class Script:
    """Answers each program with its next canned result (or raises it) and records every argv."""

    def __init__(self, answers: Mapping[str, Sequence[Completed | Exception]]):
        self.answers = {k: list(v) for k, v in answers.items()}
        self.calls: list[list[str]] = []
        self.timeouts: list[float] = []

    def __call__(self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> Completed:
        self.calls.append(list(argv))
        self.timeouts.append(timeout)
        answer = self.answers[argv[0]].pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def programs(self) -> list[str]:
        return [c[0] for c in self.calls]


def done(stdout: str = "", stderr: str = "", rc: int = 0) -> Completed:
    return Completed((), rc, stdout, stderr)


def captured(name: str) -> Completed:
    """A captured command: NAME.stdout, NAME.stderr and NAME.rc (exit 1 when the rc file is absent)."""
    rc_file = DATA / f"{name}.rc"
    return done(read(f"{name}.stdout"), read(f"{name}.stderr"), int(rc_file.read_text()) if rc_file.exists() else 1)


def tracked(tmp_path: Path, job_id: str, slurm_id: str | None = None, exit_code: int | None = None) -> Tracked:
    paths = JobPaths(tmp_path / f"lz-{job_id}")
    paths.meta.mkdir(parents=True, exist_ok=True)
    if exit_code is not None:
        paths.exit_file.write_text(f"{exit_code}\n")
    return Tracked(job_id, slurm_id, paths)


def executor(script: Script, prefix: str = "lz-", **options: object) -> SlurmExecutor:
    return SlurmExecutor(SlurmSettings(user="alice", **options), prefix=prefix, runner=script)  # type: ignore[arg-type]


def context(tmp_path: Path, resources: Resources | None = None) -> JobContext:
    spec = JobSpec(name="x", command=("true",), resources=resources or Resources())
    return JobContext("abc", spec, JobPaths(tmp_path / "lz-abc"))


# -- submit --------------------------------------------------------------------------------------------
def test_submit_passes_exact_argv_and_returns_the_id(tmp_path: Path) -> None:
    script = Script({"sbatch": [done("77\n")]})
    job = context(tmp_path, Resources(cpus=2, memory_mb=512, time_s=60))
    ex = executor(script, account="proj", qos="low", partition="debug", extra_sbatch_args=("--nice=5",),
                  command_timeout_s=12.0)
    assert ex.submit(job, ["echo", "a b", "$(x)"]) == "77"
    meta, work = job.paths.meta, job.paths.work
    assert script.calls == [[
        "sbatch", "--parsable", "--job-name=lz-abc", f"--chdir={work}", f"--output={meta}/slurm.out",
        f"--error={meta}/slurm.out", "--ntasks=1", "--cpus-per-task=2", "--export=NONE", "--mem=512M",
        "--time=00:01:00", "--partition=debug", "--account=proj", "--qos=low", "--nice=5",
        str(wrapper_script()), str(meta), "srun", "--ntasks=1", "--cpus-per-task=2", "--export=ALL", "--", "echo", "a b", "$(x)",
    ]]
    assert script.timeouts == [12.0]


def test_submit_parses_cluster_suffix_and_warnings(tmp_path: Path) -> None:
    script = Script({"sbatch": [done("123;lzdev\n"), done("sbatch: warning: something\n124\n")]})
    ex = executor(script)
    assert ex.submit(context(tmp_path), ["true"]) == "123"
    assert ex.submit(context(tmp_path), ["true"]) == "124"


@pytest.mark.parametrize("name", ["sbatch-bad-partition", "sbatch-too-much-memory", "sbatch-bad-gres",
                                  "sbatch-bad-feature", "sbatch-bad-time"])
def test_definite_refusals_are_rejections_with_sbatch_message(tmp_path: Path, name: str) -> None:
    script = Script({"sbatch": [captured(name)]})
    with pytest.raises(SubmitRejected) as caught:
        executor(script).submit(context(tmp_path), ["true"])
    assert read(f"{name}.stderr").strip().splitlines()[-1] in str(caught.value)


@pytest.mark.parametrize("name", ["sbatch-bad-qos", "sbatch-bad-account", "sbatch-too-many-cpus"])
def test_what_this_slurm_accepts_is_a_submission(tmp_path: Path, name: str) -> None:
    """Without slurmdbd nothing checks QOS or account, and an oversized job just pends."""
    assert executor(Script({"sbatch": [captured(name)]})).submit(context(tmp_path), ["true"]).isdigit()


def test_controller_trouble_at_submit_is_unavailable(tmp_path: Path) -> None:
    script = Script({"sbatch": [
        captured("sbatch-controller-down"),
        CommandTimeout("sbatch did not answer within 30s"),
        done("", "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation\n", 1),
        done("", "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying\n"
                 "sbatch: error: Batch job submission failed: Resource temporarily unavailable\n", 1),
        done("garbage instead of an id\n"),  # accepted or not? reconcile by name
        FileNotFoundError("sbatch"),
    ]})
    ex = executor(script)
    for _ in range(6):
        with pytest.raises(ControllerUnavailable):
            ex.submit(context(tmp_path), ["true"])


def test_options_refuse_bare_extra_arguments_and_unknown_gpu_flags() -> None:
    with pytest.raises(ConfigError):
        SlurmSettings(extra_sbatch_args=("--constraint", "x"))
    with pytest.raises(ConfigError):
        SlurmSettings(gpu_flag="cuda")


# -- observe -------------------------------------------------------------------------------------------
def test_one_squeue_for_many_jobs_and_adoption_by_name(tmp_path: Path) -> None:
    lines = "".join(f"{100 + i}|RUNNING|None|0|lz-job{i}\n" for i in range(200))
    lines += "9|RUNNING|None|0|other\n8|PENDING|Priority|0|lz-job7x\n"
    script = Script({"squeue": [done(lines)]})
    jobs = [tracked(tmp_path, f"job{i}", None if i == 7 else str(100 + i)) for i in range(200)]
    jobs.append(tracked(tmp_path, "gone", "5"))
    seen = executor(script).observe(jobs)
    assert script.calls == [["squeue", "--noheader", "--states=all", "--user=alice", "-O",
                             "JobArrayID:|,State:|,Reason:|,Exit_Code:|,Name:"]]
    assert seen["job7"].phase == "running" and seen["job7"].executor_id == "107"  # adopted by name
    assert seen["job8"].executor_id == "108" and seen["job8"].native_state == "RUNNING"
    assert seen["gone"].phase == "absent" and seen["gone"].executor_id == "5"
    assert len(seen) == 201


def test_observe_on_captured_queue(tmp_path: Path) -> None:
    ids = {e.split("|")[4].strip(): e.split("|")[0] for e in read("squeue-ended.txt").splitlines()
           if e.startswith(tuple("0123456789"))}
    ex = executor(Script({"squeue": [done(read("squeue-ended.txt"))]}), prefix="lzcap-")
    names = ["pending", "holder", "ok", "failed", "timeout", "cancel-pending", "cancel-running"]
    jobs = [Tracked(n, None, JobPaths(tmp_path / n)) for n in names]
    seen = ex.observe(jobs)
    assert (seen["ok"].phase, seen["ok"].exit_code, seen["ok"].native_state) == ("ended", 0, "COMPLETED")
    assert (seen["failed"].phase, seen["failed"].exit_code, seen["failed"].reason) == ("ended", 3, "NonZeroExitCode")
    assert (seen["timeout"].native_state, seen["timeout"].exit_code) == ("TIMEOUT", 143)
    assert seen["timeout"].reason == "TimeLimit"
    assert seen["cancel-running"].native_state == "CANCELLED" and seen["cancel-running"].phase == "ended"
    assert seen["cancel-pending"].native_state == "CANCELLED"
    assert seen["ok"].executor_id == ids["lzcap-ok"]


def test_pending_jobs_carry_their_reason(tmp_path: Path) -> None:
    script = Script({"squeue": [done("5|PENDING|QOSMaxJobsPerUserLimit|0|lz-a\n6|PENDING|Resources|0|lz-b\n"
                                     "7|CONFIGURING|None|0|lz-c\n")]})
    seen = executor(script).observe([tracked(tmp_path, "a", "5"), tracked(tmp_path, "b"), tracked(tmp_path, "c")])
    assert (seen["a"].phase, seen["a"].reason) == ("pending", "QOSMaxJobsPerUserLimit")
    assert (seen["b"].phase, seen["b"].reason, seen["b"].executor_id) == ("pending", "Resources", "6")
    assert (seen["c"].phase, seen["c"].reason) == ("pending", None)


def test_exit_file_beats_slurm_exit_code_and_ends_vanished_jobs(tmp_path: Path) -> None:
    a, b = tracked(tmp_path, "a", "1", exit_code=3), tracked(tmp_path, "b", "2", exit_code=0)
    c = tracked(tmp_path, "c", "3")
    script = Script({"squeue": [done("1|FAILED|NonZeroExitCode|256|lz-a\n3|TIMEOUT|TimeLimit|15|lz-c\n")]})
    seen = executor(script).observe([a, b, c])
    assert (seen["a"].phase, seen["a"].exit_code, seen["a"].native_state) == ("ended", 3, "FAILED")
    assert (seen["b"].phase, seen["b"].exit_code, seen["b"].native_state) == ("ended", 0, "EXITED")
    assert seen["b"].executor_id == "2"
    assert (seen["c"].phase, seen["c"].exit_code) == ("ended", 143)  # no exit file: SLURM's word
    assert script.programs() == ["squeue"]


def test_running_job_with_exit_file_stays_running_until_slurm_lets_go(tmp_path: Path) -> None:
    script = Script({"squeue": [done("4|COMPLETING|None|0|lz-a\n")]})
    seen = executor(script).observe([tracked(tmp_path, "a", "4", exit_code=0)])
    assert seen["a"].phase == "running" and seen["a"].exit_code is None


def test_the_recorded_id_wins_over_a_newer_namesake(tmp_path: Path) -> None:
    script = Script({"squeue": [done("10|RUNNING|None|0|lz-a\n12|PENDING|Priority|0|lz-a\n"),
                                done("10|RUNNING|None|0|lz-a\n12|PENDING|Priority|0|lz-a\n")]})
    ex = executor(script)
    assert ex.observe([tracked(tmp_path, "a", "10")])["a"].executor_id == "10"
    assert ex.observe([tracked(tmp_path, "a")])["a"].executor_id == "12"


def test_foreign_names_with_delimiters_and_newlines_do_not_confuse(tmp_path: Path) -> None:
    out = "1|RUNNING|None|0|x|lz-a\n2|RUNNING|None|0|evil\nlz-a\n3|PENDING|Priority|0|lz-a\n"
    seen = executor(Script({"squeue": [done(out)]})).observe([tracked(tmp_path, "a")])
    assert seen["a"].executor_id == "3"


@pytest.mark.parametrize("answer", [
    captured("squeue-controller-down"),
    CommandTimeout("squeue did not answer within 30s"),
    done("slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n"),  # on stdout, rc 0
    done("", "squeue: error: Invalid user: alice\n", 1),
    FileNotFoundError("squeue"),
])
def test_failed_squeue_is_controller_unavailable(tmp_path: Path, answer: Completed | Exception) -> None:
    with pytest.raises(ControllerUnavailable):
        executor(Script({"squeue": [answer]})).observe([tracked(tmp_path, "a", "1")])


def test_empty_queue_and_no_jobs(tmp_path: Path) -> None:
    ex = executor(Script({"squeue": [done(""), done("")]}))
    assert ex.observe([]) == {}
    assert ex.observe([tracked(tmp_path, "a")])["a"].phase == "absent"


# -- cancel --------------------------------------------------------------------------------------------
def test_cancel_by_ids_in_one_call_and_by_name_when_unknown(tmp_path: Path) -> None:
    script = Script({"scancel": [done(), done()]})
    executor(script).cancel([tracked(tmp_path, "a", "1"), tracked(tmp_path, "b", "2"), tracked(tmp_path, "c")])
    assert script.calls == [["scancel", "1", "2"], ["scancel", "--name=lz-c", "--user=alice"]]


def test_cancel_is_idempotent_but_reports_an_unreachable_controller(tmp_path: Path) -> None:
    finished = done("", "scancel: error: Kill job error on job id 1: Job/step already completing or completed\n", 1)
    script = Script({"scancel": [captured("scancel-finished"), finished, captured("scancel-controller-down"),
                                 CommandTimeout("slow")]})
    ex = executor(script)
    ex.cancel([tracked(tmp_path, "a", "1")])
    ex.cancel([tracked(tmp_path, "a", "1")])
    for _ in range(2):
        with pytest.raises(ControllerUnavailable):
            ex.cancel([tracked(tmp_path, "a", "1")])
    ex.cancel([])
    assert len(script.calls) == 4


# -- usage and slots -----------------------------------------------------------------------------------
def test_usage_in_one_sstat_call(tmp_path: Path) -> None:
    out = "7.batch|10644K|00:00:00|1\n7.0|204800K|00:01:02|1\n8.0|2G|1-00:00:01|2\n"
    script = Script({"sstat": [done(out, "sstat: error: couldn't get steps for job 9\n", 1)]})
    got = executor(script).usage([tracked(tmp_path, "a", "7"), tracked(tmp_path, "b", "8"),
                                  tracked(tmp_path, "c", "9"), tracked(tmp_path, "d")])
    assert script.calls == [["sstat", "--parsable2", "--noheader", "--allsteps",
                             "--format=JobID,MaxRSS,AveCPU,NTasks", "-j", "7,8,9"]]
    assert got["a"].max_rss_bytes == 204800 * 1024 and got["a"].cpu_seconds == 62
    assert got["b"].cpu_seconds == 2 * 86401 and got["b"].max_rss_bytes == 2 * 1024**3
    assert "c" not in got and "d" not in got


def test_usage_never_fails(tmp_path: Path) -> None:
    script = Script({"sstat": [CommandTimeout("slow"), done("", "sstat: error: ...", 1)]})
    ex = executor(script)
    assert ex.usage([tracked(tmp_path, "a", "7")]) == {}
    assert ex.usage([tracked(tmp_path, "a", "7")]) == {}
    assert ex.usage([tracked(tmp_path, "b")]) == {} and len(script.calls) == 2


def test_slurm_does_the_queueing() -> None:
    assert executor(Script({})).capacity() is None
