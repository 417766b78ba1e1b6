"""The executor interface: start jobs, observe them in one batch, cancel them.

Executors only report facts (what the scheduler or the kernel says, what the exit file holds);
turning facts into outcomes is the engine's pure job (``lz.core.rules``).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from importlib import resources as importlib_resources
from pathlib import Path

from lz.core.errors import ControlRefused
from lz.core.layout import JobPaths
from lz.core.records import JobContext, Observation, ProcessInfo, Tracked, Usage


class Executor(abc.ABC):
    name: str = "base"

    @abc.abstractmethod
    def submit(self, job: JobContext, argv: Sequence[str]) -> str:
        """Start (or queue) ``argv`` through the wrapper; return the executor's id for it.

        Raises ControllerUnavailable when it is unknown whether the job was accepted (the engine
        then reconciles through ``observe`` before trying again) and SubmitRejected when the
        scheduler refused it for good.
        """

    @abc.abstractmethod
    def observe(self, jobs: Sequence[Tracked]) -> dict[str, Observation]:
        """Observe every given job with one batched query; raise ControllerUnavailable if it fails."""

    @abc.abstractmethod
    def cancel(self, jobs: Sequence[Tracked]) -> None:
        """Ask for the given jobs to stop (idempotent; a finished job is fine)."""

    def stop(self, jobs: Sequence[Tracked]) -> None:
        """Graceful: SIGTERM to the job's processes, the normal cancel after a grace period
        (called every tick until the job ended; idempotent). Default: the normal cancel."""
        self.cancel(jobs)

    def kill(self, jobs: Sequence[Tracked]) -> None:
        """Immediate: SIGKILL to the job's processes, then the normal cancel (idempotent)."""
        self.cancel(jobs)

    def pause(self, job: Tracked, *, started: bool) -> None:
        """Hold a pending job or suspend a running one (idempotent); ControlRefused if refused."""
        raise ControlRefused(f"the {self.name} executor cannot pause jobs")

    def resume(self, job: Tracked, *, started: bool) -> None:
        """Release a held job or resume a suspended one (idempotent); ControlRefused if refused."""
        raise ControlRefused(f"the {self.name} executor cannot resume jobs")

    def cancel_tasks(self, job: Tracked, indices: Sequence[int]) -> None:
        """Cancel some tasks of a sweep, leaving the others running (idempotent)."""
        raise ControlRefused(f"the {self.name} executor cannot cancel single tasks")

    def processes(self, job: Tracked) -> list[ProcessInfo]:
        """The processes of a running job with their CPU and memory (``lz top``)."""
        return []

    def usage(self, jobs: Sequence[Tracked]) -> dict[str, Usage]:
        """CPU time and peak memory of running jobs, in one batched query where possible."""
        return {}

    def capacity(self) -> int | None:
        """How many jobs may hold a slot at once; None when the scheduler does the queueing."""
        return None

    free_looks: bool = False
    """Whether ``observe`` costs no controller call (a few reads of /proc and files): the watcher
    then looks again as soon as something happened, not only once per interval."""

    def notify_ends(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` as soon as a job this executor started ends, where it can tell at
        once (its own child process); the default never calls it (the watcher's looks find it)."""


def wrapper_script() -> Path:
    """The job wrapper shipped with lz (see lz/wrapper/job.sh)."""
    return Path(str(importlib_resources.files("lz") / "wrapper" / "job.sh"))


def read_exit_code(paths: JobPaths) -> int | None:
    """The job's recorded exit status, or None while there is none (written by rename: no torn reads)."""
    try:
        text = paths.exit_file.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        return int(text)
    except ValueError:
        return None
