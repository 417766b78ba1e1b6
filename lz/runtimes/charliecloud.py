"""Charliecloud: ``ch-image build`` from a Dockerfile, ``ch-run`` with the work directory bound.

Every job gets its own ``ch-image`` storage directory under ``paths.runtime``, so builds never
share state and cleanup is the removal of one tree. Base images come from the site catalogue
(``ch-image import``), so builds work offline. ``ch-run`` runs the image straight from the
storage directory (``<storage>/img/<tag>``): no export, no conversion.

What Charliecloud 0.31 (Debian 12) showed: ``ch-image build`` ignores CMD and ENTRYPOINT (so
the build records them and ``run_argv`` runs them); ``ch-run`` cannot create a bind destination
in a read-only image (so the build creates ``CONTAINER_WORKDIR`` in the image); both refuse to
start without ``$USER``; the build cache is a git repository (git wants ``$HOME`` and an identity)
and is useless in a storage that lives for one build, so lz runs ch-image with ``--no-cache``.
"""

from __future__ import annotations

import os
import pwd
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from lz.core.errors import BuildError
from lz.core.layout import CONTAINER_WORKDIR
from lz.core.records import JobContext
from lz.host.fs import remove_tree
from lz.host.logtail import last_lines
from lz.host.process import CommandRunner, CommandTimeout, run_command, run_logged
from lz.runtimes.base import (
    Runtime,
    build_log_tail,
    load_default_command,
    make_mount_point,
    save_default_command,
    task_env,
)
from lz.runtimes.catalogue import SCRATCH, ImageCatalogue, bases_of
from lz.runtimes.convert import definition_to_dockerfile
from lz.runtimes.dockerfile import default_command

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""Docker's default PATH, for images whose own environment sets none."""

NO_TIMEOUT_S = 24 * 3600.0
"""The runner needs a timeout; a build with none still ends some day."""


class CharliecloudRuntime(Runtime):
    name = "charliecloud"

    def __init__(
        self,
        ch_image: Sequence[str] = ("/usr/bin/python3", "/usr/bin/ch-image"),
        ch_run: str = "ch-run",
        runner: CommandRunner = run_command,
        catalogue: ImageCatalogue | None = None,
        *,
        user: str | None = None,
        path: str | None = None,
    ):
        """``ch_image`` is an argv prefix: Debian's ch-image is a script for Debian's python3 (it
        imports ``lark``, which another python3 on PATH may lack). ``user`` is the ``$USER``
        both tools insist on; ``path`` the PATH they are started with."""
        self.ch_image = list(ch_image)
        self.ch_run = ch_run
        self.runner = runner
        self.catalogue = catalogue or ImageCatalogue()
        self.user = user or _current_user()
        self.path = path or os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin"

    # -- paths (pure) --------------------------------------------------------------------------
    @staticmethod
    def storage(job: JobContext) -> Path:
        return job.paths.runtime / "storage"

    @staticmethod
    def tag(job: JobContext) -> str:
        """An image name ch-image accepts, derived from the job id."""
        return "lz-" + (re.sub(r"[^a-z0-9._-]+", "-", job.job_id.lower()).strip("-._") or "job")

    def image_dir(self, job: JobContext) -> Path:
        return self.storage(job) / "img" / self.tag(job)

    @staticmethod
    def dockerfile(job: JobContext) -> Path:
        """The recipe ch-image builds: the job's Dockerfile, or its definition converted."""
        return job.paths.runtime / "Dockerfile"

    # -- argv and environment (pure) -----------------------------------------------------------
    def environment(self) -> dict[str, str]:
        """ch-image and ch-run get this environment, never the daemon's."""
        return {"USER": self.user, "PATH": self.path, "LANG": "C.UTF-8"}

    def import_argv(self, job: JobContext, source: Path, name: str) -> list[str]:
        return [*self.ch_image, "--no-cache", "--storage", str(self.storage(job)), "import", str(source), name]

    def build_argv(self, job: JobContext) -> list[str]:
        return [*self.ch_image, "--no-cache", "--storage", str(self.storage(job)), "build", "-t", self.tag(job),
                "-f", str(self.dockerfile(job)), str(job.paths.work)]

    def run_argv(self, job: JobContext) -> list[str]:
        """``env USER=...`` because ch-run refuses to start without it and the executor's
        environment is not ours to trust. Inside: nothing of the host's environment; Docker's
        default PATH, then the image's ENV (bare ``--set-env`` reads the image's
        ``/ch/environment``), then the job's variables, all taken literally."""
        command = list(job.spec.command or load_default_command(job))
        if not command:
            raise ValueError("the job has no command and its Dockerfile has no CMD or ENTRYPOINT")
        binds = [arg for v in job.spec.volumes for arg in ("-b", f"{v.host_path}:{v.mount}")]
        shim, task = task_env(job)  # several tasks: each one's rank and PMI variables (the hybrid model)
        return [
            *shim,
            *read_only_prefix([v.host_path for v in job.spec.volumes if v.read_only]),
            "env", f"USER={self.user}", self.ch_run,
            "-b", f"{job.paths.work}:{CONTAINER_WORKDIR}", *binds, "-c", CONTAINER_WORKDIR,
            "--unset-env=*", "--env-no-expand", f"--set-env=PATH={DEFAULT_PATH}", "--set-env",
            *(f"--set-env={key}={value}" for key, value in sorted(job.spec.env.items())),
            str(self.image_dir(job)), "--", *(["env", *task] if task else []), *command,
        ]

    # -- steps ---------------------------------------------------------------------------------
    def build(self, job: JobContext, log: IO[str], timeout_s: float | None = None) -> None:
        """Import the bases, build, make the bind point; ``timeout_s`` covers all of it."""
        if job.spec.recipe is None:
            raise BuildError("the job has no recipe (Dockerfile or Singularity definition)")
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else NO_TIMEOUT_S)
        self.cleanup(job)
        job.paths.runtime.mkdir(parents=True)
        text = (job.paths.work / job.spec.recipe).read_text(encoding="utf-8", errors="replace")
        if job.spec.recipe_kind == "singularity":
            text, warnings = definition_to_dockerfile(text)
            for warning in warnings:
                log.write(f"lz: warning: {warning}\n")
            log.write(f"lz: the definition converted to a Dockerfile:\n{text}")
        self.dockerfile(job).write_text(text)
        save_default_command(job, default_command(text))
        for base in bases_of(text, "dockerfile"):
            source = self.catalogue.resolve(base)
            if base != SCRATCH and source is not None:
                self._import(job, source, base, log, deadline, timeout_s)
        try:
            code = run_logged(self.build_argv(job), log, timeout=_left(deadline, timeout_s),
                              env=self.environment(), cwd=str(job.paths.work))
        except CommandTimeout:
            raise BuildError(f"build timed out after {timeout_s:g}s") from None
        except FileNotFoundError as exc:
            raise BuildError(f"build: {exc.filename or self.ch_image[0]} not found") from None
        if code != 0:
            raise BuildError(f"build failed (exit {code}):\n{build_log_tail(log)}")
        for mount_point in (CONTAINER_WORKDIR, *(v.mount for v in job.spec.volumes)):
            make_mount_point(self.image_dir(job), mount_point)

    def _import(self, job: JobContext, source: Path, name: str, log: IO[str], deadline: float,
                timeout_s: float | None) -> None:
        if source.suffix == ".sif":
            raise BuildError(f"base {name!r} is a SIF ({source}); Charliecloud imports only directories and tarballs")
        argv = self.import_argv(job, source, name)
        log.write(f"$ {' '.join(argv)}\n")
        try:
            done = self.runner(argv, timeout=_left(deadline, timeout_s) or NO_TIMEOUT_S, env=self.environment())
        except CommandTimeout:
            raise BuildError(f"build timed out after {timeout_s:g}s") from None
        except FileNotFoundError as exc:
            raise BuildError(f"importing base {name}: {exc.filename or argv[0]} not found") from None
        log.write(done.stdout + done.stderr)
        log.flush()
        if done.returncode != 0:
            raise BuildError(f"importing base {name} failed (exit {done.returncode}):\n{last_lines(done.stdout + done.stderr, 10)}")

    def cleanup(self, job: JobContext) -> None:
        """Everything under ``paths.runtime``: storage, image, recorded command (read-only dirs too)."""
        remove_tree(job.paths.runtime)

    def describe(self) -> str:
        return f"Charliecloud ({' '.join(self.ch_image)}; {self.ch_run}), per-job storage, offline bases"


READ_ONLY_SCRIPT = ('n=$1; shift; while [ "$n" -gt 0 ]; do mount --bind "$1" "$1" && '
                    'mount -o remount,bind,ro "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"')
"""ch-run 0.31 binds read-write only. In a mount namespace of its own (``unshare -rm``: an
unprivileged user namespace, which ch-run needs anyway) each read-only source is bound onto itself
and remounted read-only; ch-run's bind of it copies the read-only flag, and inside ch-run's own
namespace that flag is locked. Paths travel as arguments, never as shell text."""


def read_only_prefix(paths: list[str]) -> list[str]:
    """argv that runs the rest with ``paths`` read-only; nothing when there are none."""
    if not paths:
        return []
    return ["unshare", "-rm", "/bin/sh", "-c", READ_ONLY_SCRIPT, "sh", str(len(paths)), *paths]


def _left(deadline: float, timeout_s: float | None) -> float | None:
    """The time left before the deadline (None: no timeout was asked for)."""
    if timeout_s is None:
        return None
    return max(deadline - time.monotonic(), 0.001)




def _current_user() -> str:
    """The daemon's own account name (not whatever $USER the caller happened to export)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return os.environ.get("USER") or str(os.getuid())
