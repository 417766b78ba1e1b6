"""Apptainer and Singularity (one command family): build a SIF (or a writable sandbox) from a
definition in the job's directory, run it with the work directory bound and a clean environment.

Apptainer cannot be installed on lz's CI machines; its exact command lines are asserted in the
unit tests and the whole job path runs through a stand-in executable (tests/data/fake-apptainer).
"""

from __future__ import annotations

import os
import shutil
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
from lz.runtimes.convert import dockerfile_to_definition
from lz.runtimes.dockerfile import default_command


def detect_executable() -> str | None:
    for name in ("apptainer", "singularity"):
        if shutil.which(name):
            return name
    return None


class ApptainerRuntime(Runtime):
    def __init__(self, executable: str = "apptainer", *, catalogue: ImageCatalogue | None = None,
                 is_root: bool | None = None, sandbox: bool = False):
        self.executable = executable
        self.name = Path(executable).name
        self.catalogue = catalogue or ImageCatalogue()
        self.is_root = os.geteuid() == 0 if is_root is None else is_root
        self.sandbox = sandbox

    # -- paths and argv (pure) -----------------------------------------------------------------------
    def image(self, job: JobContext) -> Path:
        return job.paths.runtime / ("sandbox" if self.sandbox else "image.sif")

    @staticmethod
    def definition(job: JobContext) -> Path:
        return job.paths.runtime / "job.def"

    def build_argv(self, job: JobContext) -> list[str]:
        argv = [self.executable, "build"]
        if not self.is_root:
            argv.append("--fakeroot")
        if self.sandbox:
            argv.append("--sandbox")
        return [*argv, str(self.image(job)), str(self.definition(job))]

    def run_argv(self, job: JobContext) -> list[str]:
        command = list(job.spec.command or load_default_command(job))
        options = ["--contain", "--cleanenv", "--pwd", CONTAINER_WORKDIR,
                   "--bind", f"{job.paths.work}:{CONTAINER_WORKDIR}"]
        if self.sandbox:
            options.append("--writable")
        if job.spec.resources.gpus:
            options.append("--nv")
        options += [f"--env={k}={v}" for k, v in sorted(job.spec.env.items())]
        if not command:  # a definition's own %runscript
            return [self.executable, "run", *options, str(self.image(job))]
        return [self.executable, "exec", *options, str(self.image(job)), *command]

    def writable_roots(self, job: JobContext) -> dict[str, Path]:
        """With a writable sandbox the job can change the container too; those changes come back."""
        return {"container": self.image(job)} if self.sandbox else {}

    # -- steps ---------------------------------------------------------------------------------------
    def build(self, job: JobContext, log: IO[str], timeout_s: float | None = None) -> None:
        if job.spec.recipe is None:
            raise BuildError("the job has no recipe (Dockerfile or Singularity definition)")
        self.cleanup(job)
        job.paths.runtime.mkdir(parents=True, exist_ok=True)
        text = (job.paths.work / job.spec.recipe).read_text(encoding="utf-8", errors="replace")
        command: list[str] | None = None
        if job.spec.recipe_kind == "dockerfile":
            bases = bases_of(text, "dockerfile")
            local = self.catalogue.resolve(bases[0]) if bases[0] != SCRATCH else None
            text, warnings = dockerfile_to_definition(text, local)
            command = default_command((job.paths.work / job.spec.recipe).read_text(errors="replace"))
            for warning in warnings:
                log.write(f"lz: warning: {warning}\n")
        else:
            text = self._localise(text)
        self.definition(job).write_text(text)
        save_default_command(job, command)
        try:
            code = run_logged(self.build_argv(job), log, timeout=timeout_s, cwd=str(job.paths.work))
        except CommandTimeout:
            raise BuildError(f"build timed out after {timeout_s:g}s") from None
        except FileNotFoundError:
            raise BuildError(f"{self.executable} not found") from None
        if code != 0:
            log.flush()
            raise BuildError(f"build failed (exit {code}):\n{tail(Path(log.name).read_text(errors='replace'), 10)}")

    def _localise(self, text: str) -> str:
        """``Bootstrap: localimage`` / ``From: NAME`` -> the catalogue's path for NAME."""
        [base] = bases_of(text, "singularity")
        if base == SCRATCH:
            return text
        local = self.catalogue.resolve(base)
        if local is None:
            return text
        lines = []
        for line in text.splitlines():
            key = line.split(":", 1)[0].strip().lower()
            if key == "from" and "%" not in line:
                line = f"From: {local}"
            elif key == "bootstrap":
                line = "Bootstrap: localimage"
            lines.append(line)
        return "\n".join(lines) + "\n"

    def cleanup(self, job: JobContext) -> None:
        remove_tree(self.image(job))
        for leftover in (self.definition(job), default_command_file(job)):
            leftover.unlink(missing_ok=True)

    def describe(self) -> str:
        return f"{self.executable}{' sandbox' if self.sandbox else ' SIF'}{'' if self.is_root else ', --fakeroot'}"
