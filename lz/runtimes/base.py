"""The container runtime interface.

A runtime turns a staged job into something runnable and back into nothing. Every method is
idempotent, because a crashed daemon calls it again on restart: ``build`` starts from scratch,
``cleanup`` is fine when there is nothing left to remove.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping, Sequence
from importlib import resources as importlib_resources
from pathlib import Path
from typing import IO

from lz.core.errors import BuildError
from lz.core.layout import CONTAINER_WORKDIR
from lz.core.records import JobContext
from lz.host.logtail import tail_lines


class Runtime(abc.ABC):
    """One container technology (or none)."""

    name: str = "base"

    @abc.abstractmethod
    def build(self, job: JobContext, log: IO[str], timeout_s: float | None = None) -> None:
        """Build the job's image under ``job.paths.runtime``; raise BuildError with the log's tail.

        Called with ``job.paths.work`` already staged. Must start from scratch every time.
        """

    @abc.abstractmethod
    def run_argv(self, job: JobContext) -> list[str]:
        """The argv that runs the job's command in its container, cwd = the job's work directory."""

    def writable_roots(self, job: JobContext) -> Mapping[str, Path]:
        """Trees (besides ``job.paths.work``) the job can write to, by a result-archive prefix."""
        return {}

    def work_inside(self, job: JobContext) -> str:
        """Where the running job sees its work directory (a container binds it here), so a path
        lz gives the job (``$LZ_NOTIFY``) names the same file inside as outside."""
        return CONTAINER_WORKDIR

    def cleanup(self, job: JobContext) -> None:
        """Remove the image, sandbox and build storage (everything under ``job.paths.runtime``)."""

    def describe(self) -> str:
        """One line for the daemon's start-up message."""
        return self.name


TASK_ENV = "@LZ_TASK_ENV@"
"""In the argv of a job of several tasks, the word lz/wrapper/task-env.sh replaces by the task's
rank and MPI variables (``SLURM_*``, ``PMI_*``, ``PMIX_*``...): the container's clean environment
would drop them, and they differ from task to task, so no argv built here can hold them."""


def task_env(job: JobContext) -> tuple[list[str], list[str]]:
    """For a job of several tasks: the shim to start the runtime's argv with, and the word to
    put first after ``env`` inside the container; nothing for one task (pure)."""
    if not job.spec.resources.multi_task:
        return [], []
    return ["sh", str(importlib_resources.files("lz") / "wrapper" / "task-env.sh")], [TASK_ENV]


def default_command_file(job: JobContext) -> Path:
    """Where a build records the image's own command (CMD/ENTRYPOINT), for jobs that give none."""
    return job.paths.runtime / "default-command.json"


def save_default_command(job: JobContext, command: Sequence[str] | None) -> None:
    default_command_file(job).write_text(json.dumps(list(command) if command else None))


def load_default_command(job: JobContext) -> list[str]:
    try:
        return list(json.loads(default_command_file(job).read_text()) or [])
    except (OSError, ValueError):
        return []


def build_log_tail(log: IO[str]) -> str:
    """The build log's last lines, for the failure reason: it is a real file (the build's output
    went to its descriptor), read from its end; empty when it can not be read."""
    log.flush()
    try:
        return tail_lines(Path(log.name), 10)
    except (AttributeError, OSError, TypeError):
        return ""


def make_mount_point(image: Path, mount_point: str) -> None:
    """Create the bind destination inside the image, from the host, refusing to follow a symlink
    the recipe may have planted (as root, that would create directories anywhere on the host)."""
    current = image
    for part in Path(mount_point.lstrip("/")).parts:
        current = current / part
        if current.is_symlink():
            raise BuildError(f"the image's {mount_point} must not be a symlink ({current.relative_to(image)})")
        if not current.exists():
            current.mkdir()
        elif not current.is_dir():
            raise BuildError(f"the image's /{current.relative_to(image)} is not a directory; lz binds the job at {mount_point}")
