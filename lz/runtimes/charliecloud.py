"""Charliecloud: ``ch-image build`` from a Dockerfile, ``ch-run`` with the work directory bound.

Every job gets its own ``ch-image`` storage directory under its work directory, so builds never
share state and cleanup is the removal of one tree. Base images come from the site catalogue
(``ch-image import``), so builds work offline.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from lz.errors import BuildError
from lz.fs import remove_tree
from lz.layout import CONTAINER_WORKDIR
from lz.process import CommandTimeout, run_logged
from lz.runtimes.base import (
    JobContext,
    Runtime,
    default_command_file,
    load_default_command,
    save_default_command,
    tail,
)
from lz.runtimes.catalogue import SCRATCH, ImageCatalogue, bases_of
from lz.runtimes.convert import definition_to_dockerfile
from lz.runtimes.dockerfile import default_command

TAG = "job"


class CharliecloudRuntime(Runtime):
    name = "charliecloud"

    def __init__(
        self,
        *,
        ch_image: Sequence[str] = ("/usr/bin/python3", "/usr/bin/ch-image"),
        ch_run: str = "ch-run",
        catalogue: ImageCatalogue | None = None,
    ):
        # Debian's ch-image is a Python script needing Debian's python3 (it imports lark).
        self.ch_image = list(ch_image) if Path(ch_image[-1]).exists() else [shutil.which("ch-image") or "ch-image"]
        self.ch_run = ch_run
        self.catalogue = catalogue or ImageCatalogue()

    # -- paths (pure) --------------------------------------------------------------------------------
    @staticmethod
    def storage(job: JobContext) -> Path:
        return job.paths.runtime / "storage"

    def image_dir(self, job: JobContext) -> Path:
        return self.storage(job) / "img" / TAG

    @staticmethod
    def dockerfile(job: JobContext) -> Path:
        return job.paths.runtime / "Dockerfile"

    # -- argv (pure) -----------------------------------------------------------------------------------
    def import_argv(self, job: JobContext, source: Path, name: str) -> list[str]:
        return [*self.ch_image, "--storage", str(self.storage(job)), "import", str(source), name]

    def build_argv(self, job: JobContext) -> list[str]:
        return [*self.ch_image, "--storage", str(self.storage(job)), "build", "-t", TAG,
                "-f", str(self.dockerfile(job)), str(job.paths.work)]

    def run_argv(self, job: JobContext) -> list[str]:
        command = list(job.spec.command or load_default_command(job))
        if not command:
            raise ValueError("the job has no command and its Dockerfile has no CMD or ENTRYPOINT")
        argv = [self.ch_run, "-b", f"{job.paths.work}:{CONTAINER_WORKDIR}", "-c", CONTAINER_WORKDIR,
                "--unset-env=*", "--env-no-expand"]
        argv += [f"--set-env={k}={v}" for k, v in sorted(job.spec.env.items())]
        return [*argv, str(self.image_dir(job)), "--", *command]

    # -- steps ---------------------------------------------------------------------------------------
    def build(self, job: JobContext, log: IO[str], timeout_s: float | None = None) -> None:
        if job.spec.recipe is None:
            raise BuildError("the job has no recipe (Dockerfile or Singularity definition)")
        self.cleanup(job)
        job.paths.runtime.mkdir(parents=True, exist_ok=True)
        text = (job.paths.work / job.spec.recipe).read_text(encoding="utf-8", errors="replace")
        if job.spec.recipe_kind == "singularity":
            text, warnings = definition_to_dockerfile(text)
            for warning in warnings:
                log.write(f"lz: warning: {warning}\n")
        self.dockerfile(job).write_text(text)
        save_default_command(job, default_command(text))
        env = _environment()
        for base in bases_of(text, "dockerfile"):
            source = self.catalogue.resolve(base)
            if base != SCRATCH and source is not None:
                self._run(self.import_argv(job, source, base), log, timeout_s, env, "importing base " + base)
        self._run(self.build_argv(job), log, timeout_s, env, "build")
        # the bind point must exist in the image: ch-run cannot create it in a read-only image
        (self.image_dir(job) / CONTAINER_WORKDIR.lstrip("/")).mkdir(parents=True, exist_ok=True)

    def _run(self, argv: list[str], log: IO[str], timeout_s: float | None, env: dict[str, str], what: str) -> None:
        try:
            code = run_logged(argv, log, timeout=timeout_s, env=env, cwd=str(argv[-1]) if what == "build" else None)
        except CommandTimeout:
            raise BuildError(f"{what} timed out after {timeout_s:g}s") from None
        except FileNotFoundError as exc:
            raise BuildError(f"{what}: {exc.filename} not found") from None
        if code != 0:
            log.flush()
            text = Path(log.name).read_text(errors="replace") if hasattr(log, "name") and os.path.exists(log.name) else ""
            raise BuildError(f"{what} failed (exit {code}):\n{tail(text, 10)}")

    def cleanup(self, job: JobContext) -> None:
        remove_tree(job.paths.runtime / "storage")
        for leftover in (self.dockerfile(job), default_command_file(job)):
            leftover.unlink(missing_ok=True)

    def describe(self) -> str:
        return f"{' '.join(self.ch_image)} and {self.ch_run}, per-job storage"


def _environment() -> dict[str, str]:
    """ch-image and ch-run need $USER; pass a known environment rather than the daemon's."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env["USER"] = os.environ.get("USER") or pwd.getpwuid(os.getuid()).pw_name
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return env
