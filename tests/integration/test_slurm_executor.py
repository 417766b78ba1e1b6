"""SlurmExecutor against the real single-node Slurm of scripts/slurm-dev-cluster.

Jobs are named ``lzit-...`` so a landing zone sharing the cluster never takes them for its own.
The whole file takes about two and a half minutes, most of it the job that reaches its time limit.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lz.core.errors import ControllerUnavailable
from lz.core.job import JobSpec
from lz.core.layout import JobPaths
from lz.core.records import JobContext, Observation, Tracked
from lz.core.resources import Resources
from lz.executors.slurm import SlurmExecutor
from lz.slurm.settings import SlurmSettings

CLUSTER = Path(__file__).resolve().parents[2] / "scripts" / "slurm-dev-cluster"
PREFIX = "lzit-"


def _node_cpus() -> int | None:
    """The node's CPU count, or None when no Slurm answers."""
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return None
    first = out.stdout.split()[0] if out.returncode == 0 and out.stdout.split() else ""
    return int(first) if first.isdigit() else None


CPUS = _node_cpus()
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.integration,
    pytest.mark.skipif(CPUS is None, reason="sinfo does not answer: start Slurm with scripts/slurm-dev-cluster up"),
]


@pytest.fixture
def executor() -> SlurmExecutor:
    return SlurmExecutor(SlurmSettings(command_timeout_s=30.0), prefix=PREFIX)


class Jobs:
    """Makes jobs under a temporary work root and cancels whatever is left at the end."""

    def __init__(self, root: Path, executor: SlurmExecutor):
        self.root = root
        self.executor = executor
        self.made: list[Tracked] = []

    def context(self, resources: Resources | None = None, job_id: str | None = None) -> JobContext:
        job_id = job_id or uuid.uuid4().hex[:10]
        paths = JobPaths.under(self.root, job_id, PREFIX)
        paths.work.mkdir(parents=True)
        paths.meta.mkdir()
        return JobContext(job_id, JobSpec(name="it", command=None, resources=resources or Resources()), paths)

    def submit(self, argv: list[str], resources: Resources | None = None, job_id: str | None = None,
               time_limit_s: int | None = None) -> Tracked:
        job = self.context(resources, job_id)
        slurm_id = self.executor.submit(job, argv)
        assert slurm_id.isdigit()
        tracked = Tracked(job.job_id, slurm_id, job.paths, time_limit_s)
        self.made.append(tracked)
        return tracked

    def wait(self, job: Tracked, done: Callable[[Observation], bool], timeout: float = 60) -> Observation:
        deadline = time.monotonic() + timeout
        while True:
            seen = self.executor.observe([job])[job.job_id]
            if done(seen):
                return seen
            assert time.monotonic() < deadline, f"job {job.job_id} still {seen} after {timeout:g}s"
            time.sleep(1)

    def ended(self, job: Tracked, timeout: float = 60) -> Observation:
        return self.wait(job, lambda o: o.phase == "ended", timeout)


@pytest.fixture
def jobs(tmp_path: Path, executor: SlurmExecutor) -> Iterator[Jobs]:
    made = Jobs(tmp_path / "work", executor)
    yield made
    if made.made:
        try:
            executor.cancel(made.made)
        except ControllerUnavailable:
            pass


def test_exit_codes_are_the_commands_own(jobs: Jobs) -> None:
    ok = jobs.submit(["true"])
    three = jobs.submit(["sh", "-c", "echo out; echo err >&2; exit 3"])
    seen_ok, seen_three = jobs.ended(ok), jobs.ended(three)
    assert (seen_ok.exit_code, seen_ok.native_state, seen_ok.executor_id) == (0, "COMPLETED", ok.executor_id)
    assert (seen_three.exit_code, seen_three.native_state) == (3, "FAILED")
    assert three.paths.stdout.read_text() == "out\n"
    # srun reports a failed task on the step's stderr too, before or after the command's own output
    stderr = three.paths.stderr.read_text().splitlines()
    assert [line for line in stderr if not line.startswith("srun: ")] == ["err"]
    assert three.paths.exit_file.read_text().split() == ["3"]  # padded in place (reserved bytes)


def test_hostile_argv_and_job_id_run_verbatim(jobs: Jobs) -> None:
    words = ["a b", "it's \"quoted\"", "$(echo no)", "`id`", "line\nbreak", "-n", "*", "; exit 9", "\\"]
    job = jobs.submit(["printf", "%s\\n", *words], job_id=f"odd id 'q' \"$(x)\" {uuid.uuid4().hex[:6]}")
    seen = jobs.ended(job)
    assert seen.exit_code == 0
    assert job.paths.stdout.read_text() == "".join(f"{w}\n" for w in words)


def test_a_job_whose_id_was_never_recorded_is_found_and_cancelled_by_name(jobs: Jobs,
                                                                         executor: SlurmExecutor) -> None:
    job = jobs.submit(["sleep", "300"])
    unrecorded = Tracked(job.job_id, None, job.paths)
    seen = executor.observe([unrecorded])[job.job_id]
    assert seen.phase in ("pending", "running") and seen.executor_id == job.executor_id
    executor.cancel([unrecorded])
    assert jobs.ended(unrecorded).native_state == "CANCELLED"


def test_cancel_while_pending_and_while_running(jobs: Jobs, executor: SlurmExecutor) -> None:
    assert CPUS
    holder = jobs.submit(["sleep", "300"], Resources(cpus=CPUS))
    jobs.wait(holder, lambda o: o.phase == "running", timeout=90)
    waiting = jobs.submit(["true"])
    seen = jobs.wait(waiting, lambda o: o.phase == "pending" and o.reason is not None)
    assert seen.reason in ("Resources", "Priority")
    executor.cancel([waiting])
    ended = jobs.ended(waiting)
    assert ended.native_state == "CANCELLED" and not waiting.paths.exit_file.exists()
    executor.cancel([holder])
    ended = jobs.ended(holder)
    assert ended.native_state == "CANCELLED" and ended.exit_code is not None
    executor.cancel([holder, waiting])  # idempotent


def test_usage_is_reported_while_running(jobs: Jobs, executor: SlurmExecutor) -> None:
    burn = "b = bytearray(64 * 1024 * 1024)\nimport time\nend = time.time() + 40\nwhile time.time() < end: pass"
    job = jobs.submit([sys.executable, "-c", burn])
    jobs.wait(job, lambda o: o.phase == "running", timeout=90)
    deadline = time.monotonic() + 30
    while True:
        usage = executor.usage([job]).get(job.job_id)
        if usage and (usage.max_rss_bytes or 0) > 60 * 1024 * 1024 and (usage.cpu_seconds or 0) > 1:
            break
        assert time.monotonic() < deadline, f"sstat reported {usage}"
        time.sleep(2)
    executor.cancel([job])
    jobs.ended(job)


@pytest.fixture
def controller_stopped() -> Iterator[None]:
    """slurmctld stopped through the dev-cluster script's pid file, and always started again."""
    subprocess.run([str(CLUSTER), "stop-controller"], check=True, timeout=60)
    try:
        yield
    finally:
        started = subprocess.run([str(CLUSTER), "start-controller"], timeout=120)
        if started.returncode != 0:
            subprocess.run([str(CLUSTER), "up"], check=True, timeout=180)


def test_a_stopped_controller_is_unavailable_not_failure(jobs: Jobs, executor: SlurmExecutor,
                                                         controller_stopped: None) -> None:
    job = jobs.context()
    tracked = Tracked(job.job_id, "1", job.paths)
    with pytest.raises(ControllerUnavailable):
        executor.observe([tracked])
    with pytest.raises(ControllerUnavailable):
        executor.submit(job, ["true"])
    with pytest.raises(ControllerUnavailable):
        executor.cancel([tracked])
    assert executor.usage([tracked]) == {}
