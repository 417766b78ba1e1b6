"""Stand-ins for the engine's ports, so a tick's decisions and a step's effects are tested without
threads, processes or a scheduler: a clock the test moves, an executor that records what it was
asked and answers what the test says, a runtime that builds nothing, a pool that runs on demand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from lz.config import Settings
from lz.core.errors import ControllerUnavailable
from lz.core.events import Listeners
from lz.core.job import Job, JobSpec
from lz.core.records import JobContext, Observation, Tracked, Usage
from lz.engine import assembly
from lz.executors.base import Executor
from lz.runtimes.base import Runtime
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import upgrade
from tests.clock import Clock


@dataclass
class FakeExecutor(Executor):
    name = "fake"
    slots: int | None = None
    seen: dict[str, Observation] = field(default_factory=dict)
    down: bool = False
    refuse: str | None = None
    submitted: list[str] = field(default_factory=list)
    cancelled: list[Tracked] = field(default_factory=list)
    observed: int = 0

    def submit(self, job: JobContext, argv: Sequence[str]) -> str:
        if self.down:
            raise ControllerUnavailable("sbatch: Unable to contact slurm controller")
        if self.refuse:
            from lz.core.errors import SubmitRejected

            raise SubmitRejected(self.refuse)
        self.submitted.append(job.job_id)
        return f"{100 + len(self.submitted)}"

    def observe(self, jobs: Sequence[Tracked]) -> dict[str, Observation]:
        self.observed += 1
        if self.down:
            raise ControllerUnavailable("squeue: Unable to contact slurm controller")
        return {j.job_id: self.seen[j.job_id] for j in jobs if j.job_id in self.seen}

    def cancel(self, jobs: Sequence[Tracked]) -> None:
        if self.down:
            raise ControllerUnavailable("scancel: Unable to contact slurm controller")
        self.cancelled.extend(jobs)

    def usage(self, jobs: Sequence[Tracked]) -> dict[str, Usage]:
        return {j.job_id: Usage(1.0, 1024) for j in jobs}

    def capacity(self) -> int | None:
        return self.slots


class FakeRuntime(Runtime):
    name = "fake"

    def __init__(self, fail: str | None = None):
        self.fail = fail
        self.builds: list[str] = []

    def build(self, job: JobContext, log: IO[str], timeout_s: float | None = None) -> None:
        from lz.core.errors import BuildError

        self.builds.append(job.job_id)
        log.write("building\n")
        if self.fail:
            raise BuildError(self.fail)

    def run_argv(self, job: JobContext) -> list[str]:
        return list(job.spec.command or ["true"])


class InlinePool:
    """The worker pool's interface; work runs when the test says (``run_all``)."""

    def __init__(self) -> None:
        self.queue: list[tuple[str, str, Callable[[], None]]] = []

    def busy(self) -> frozenset[str]:
        return frozenset(job_id for _, job_id, _ in self.queue)

    def submit(self, lane: str, job_id: str, work: Callable[[], None]) -> bool:
        if job_id in self.busy():
            return False
        self.queue.append((lane, job_id, work))
        return True

    def run_all(self) -> list[str]:
        done = []
        while self.queue:
            lane, job_id, work = self.queue.pop(0)
            work()
            done.append(f"{lane}:{job_id}")
        return done

    def shutdown(self, wait: bool = True) -> None:
        self.queue.clear()


@dataclass
class Harness:
    """A landing zone wired as the daemon wires it, with the fakes in place of the world."""

    tmp: Path
    executor: FakeExecutor = field(default_factory=FakeExecutor)
    runtime: FakeRuntime = field(default_factory=FakeRuntime)
    clock: Clock = field(default_factory=Clock)
    wakes: int = 0

    def __post_init__(self) -> None:
        self.settings = Settings(db=self.tmp / "state" / "lz.db", workdir=self.tmp / "work", tick_s=1.0,
                                 observe_interval_s=5.0, usage_interval_s=30.0, lost_after_s=120.0)
        engine = make_engine(self.settings.db)
        upgrade(engine)
        self.store = JobStore(engine, clock=self.clock)
        self.zone = assembly.landing_zone(self.settings, self.store, runtime_=self.runtime, executor_=self.executor,
                                          listeners=Listeners(), wake=self._wake, clock=self.clock)
        self.pool = InlinePool()
        self.zone.engine.pool = self.pool  # type: ignore[assignment]
        self.engine = self.zone.engine
        self.steps = self.engine.steps
        self.workspace = assembly.workspace(self.settings)

    def _wake(self) -> None:
        self.wakes += 1

    def add(self, name: str = "j", command: tuple[str, ...] = ("true",)) -> str:
        """A job as intake leaves it: spooled files and a ``received`` row."""
        job = self.store.create(JobSpec(name=name, command=command))
        spooled = self.workspace.spooled(job.id)
        spooled.mkdir(parents=True)
        (spooled / "input.txt").write_text("data\n")
        return job.id

    def tick(self, run: bool = True) -> None:
        self.engine.tick()
        if run:
            self.pool.run_all()

    def state(self, job_id: str) -> str:
        return self.store.get(job_id).state


def job_snapshot(job_id: str = "abc123") -> Job:
    """A snapshot with every field set, for tests of what is shown about a job."""
    return Job(id=job_id, name="n", state="building", outcome=None, reason=None, exit_code=None, source="cli",
               spec=JobSpec(name="n"), work_dir=None, created_at=0, updated_at=0, started_at=None, ended_at=None,
               executor=None, executor_id=None, submit_attempted_at=None, native_state=None, pending_reason=None,
               absent_since=None, cpu_seconds=None, max_rss_bytes=None, results_at=None)
