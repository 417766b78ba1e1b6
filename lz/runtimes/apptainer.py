"""Apptainer and Singularity (one command family): build a SIF (or a writable sandbox) from a
definition in the job's directory, run it with the work directory bound and a clean environment.

What the real Apptainer 1.4.5 showed (tests/integration/test_containers.py runs it):

* a killed build leaves ``build-temp-*`` (a whole unpacked image) and ``bundle-temp-*`` in its
  temporary directory, so every build gets its own ``APPTAINER_TMPDIR`` and cache under
  ``paths.runtime``, which cleanup removes with the rest;
* ``--env``, ``--env-file`` and ``APPTAINERENV_*`` are shell-evaluated (``$HOME``, ``$(...)``,
  quotes), so the job's variables go through ``env NAME=VALUE... COMMAND`` inside the container,
  argv words that nothing evaluates;
* ``Bootstrap: localimage`` reads a SIF or a root-filesystem directory, not a tarball, so a
  catalogue tarball is unpacked into the job's runtime directory first;
* ``build`` reads the caller's environment (``APPTAINER_BIND`` and the like), so it gets an
  explicit one.
"""

from __future__ import annotations

import os
import pwd
import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from lz.core.errors import BuildError
from lz.core.layout import CONTAINER_WORKDIR
from lz.core.records import JobContext
from lz.host.fs import remove_tree
from lz.host.process import CommandTimeout, run_logged
from lz.runtimes.base import (
    Runtime,
    build_log_tail,
    load_default_command,
    make_mount_point,
    save_default_command,
    task_env,
)
from lz.runtimes.catalogue import SCRATCH, ImageCatalogue, base_of, bases_of
from lz.runtimes.convert import dockerfile_to_definition
from lz.runtimes.dockerfile import default_command

PASSED_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL")
"""What a build keeps of the daemon's environment; nothing else (no APPTAINER_*, no proxies)."""

RUNSCRIPT = "/.singularity.d/runscript"
"""The definition's %runscript inside the image (what ``apptainer run`` executes)."""

_TARBALL = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2")
_HEADER_LINE = re.compile(r"^\s*(Bootstrap|From)\s*:", re.IGNORECASE)


class ApptainerRuntime(Runtime):
    def __init__(self, executable: str = "apptainer", *, catalogue: ImageCatalogue | None = None,
                 is_root: bool | None = None, sandbox: bool = False, environ: Mapping[str, str] | None = None):
        """``sandbox``: build a writable directory instead of a SIF (sites without squashfuse or
        loop devices; the job's changes inside the container are collected). ``environ``: what
        builds start from (default: ``PASSED_ENV`` of this process)."""
        self.executable = executable
        self.name = Path(executable).name
        self.catalogue = catalogue or ImageCatalogue()
        self.is_root = os.geteuid() == 0 if is_root is None else is_root
        self.sandbox = sandbox
        source = os.environ if environ is None else environ
        self.environ = {k: source[k] for k in PASSED_ENV if k in source}

    # -- paths (pure) --------------------------------------------------------------------------------
    def image(self, job: JobContext) -> Path:
        return job.paths.runtime / ("sandbox" if self.sandbox else "image.sif")

    @staticmethod
    def definition(job: JobContext) -> Path:
        """The definition built: the job's own (bases made local) or its Dockerfile converted."""
        return job.paths.runtime / "job.def"

    @staticmethod
    def run_tmp(job: JobContext) -> Path:
        """The run's temporary directory (a SIF unpacked where it cannot be mounted)."""
        return job.paths.runtime / "run-tmp"

    @staticmethod
    def bases_dir(job: JobContext) -> Path:
        """Catalogue tarballs unpacked for this build."""
        return job.paths.runtime / "bases"

    # -- argv and environment (pure) -----------------------------------------------------------------
    def build_argv(self, job: JobContext) -> list[str]:
        argv = [self.executable, "build"]
        if not self.is_root:
            argv.append("--fakeroot")
        if self.sandbox:
            argv.append("--sandbox")
        return [*argv, str(self.image(job)), str(self.definition(job))]

    def build_environment(self, job: JobContext) -> dict[str, str]:
        """Temporary files and the layer cache of this build under ``paths.runtime``: nothing
        shared with other builds, nothing left behind by a killed one once the job is cleaned.
        Both prefixes: SingularityCE reads only ``SINGULARITY_*``."""
        tmp, cache = str(job.paths.runtime / "tmp"), str(job.paths.runtime / "cache")
        return {**self.environ, "APPTAINER_TMPDIR": tmp, "APPTAINER_CACHEDIR": cache,
                "SINGULARITY_TMPDIR": tmp, "SINGULARITY_CACHEDIR": cache}

    def run_argv(self, job: JobContext) -> list[str]:
        """``exec`` of the job's command (or the Dockerfile's CMD/ENTRYPOINT), or ``run`` of the
        definition's %runscript when there is neither; the job's variables via ``env``."""
        command = list(job.spec.command or load_default_command(job))
        options = ["--contain", "--cleanenv", "--pwd", CONTAINER_WORKDIR,
                   "--bind", f"{job.paths.work}:{CONTAINER_WORKDIR}"]
        for volume in job.spec.volumes:  # lz.core.volumes checked the paths: no ':' or ',' can split them
            options += ["--bind", f"{volume.host_path}:{volume.mount}:{volume.access}"]
        if self.sandbox:
            options.append("--writable")
        if job.spec.resources.gpus:
            options.append("--nv")
        # without squashfuse or loop devices (an unprivileged user) a SIF is unpacked to a
        # temporary sandbox for the run: under the job too, so a killed run leaves nothing
        host = ["env", *(f"{key}={value}" for key, value in self.run_tmp_environment(job).items()), self.executable]
        shim, task = task_env(job)  # several tasks: each one's rank and PMI variables (the hybrid model)
        if not job.spec.env and not task:
            return [*host, "exec" if command else "run", *options, str(self.image(job)), *command]
        return [*shim, *host, "exec", *options, str(self.image(job)), *env_prefix(job.spec.env, task),
                *(command or [RUNSCRIPT])]

    def run_tmp_environment(self, job: JobContext) -> dict[str, str]:
        tmp = str(self.run_tmp(job))
        return {"APPTAINER_TMPDIR": tmp, "SINGULARITY_TMPDIR": tmp}

    def writable_roots(self, job: JobContext) -> dict[str, Path]:
        """With a writable sandbox the job can change the container too; those changes come back."""
        return {"container": self.image(job)} if self.sandbox else {}

    # -- steps ---------------------------------------------------------------------------------------
    def build(self, job: JobContext, log: IO[str], timeout_s: float | None = None) -> None:
        if job.spec.recipe is None:
            raise BuildError("the job has no recipe (Dockerfile or Singularity definition)")
        deadline = None if timeout_s is None else time.monotonic() + timeout_s  # for unpacking and build together
        self.cleanup(job)
        for directory in (job.paths.runtime, job.paths.runtime / "tmp", job.paths.runtime / "cache"):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        text = (job.paths.work / job.spec.recipe).read_text(encoding="utf-8", errors="replace")
        kind = job.spec.recipe_kind or "dockerfile"
        local = self._local_bases(job, bases_of(text, kind), log, deadline, timeout_s)
        command: list[str] | None = None
        if kind == "singularity":
            text = localise_definition(text, local.get)
        else:
            command = default_command(text)
            text, warnings = dockerfile_to_definition(text, locate=local.get, context=job.paths.work)
            for warning in warnings:
                log.write(f"lz: warning: {warning}\n")
            log.write(f"lz: the Dockerfile converted to a definition:\n{text}")
        self.definition(job).write_text(text)
        save_default_command(job, command)
        self._run(self.build_argv(job), log, deadline, env=self.build_environment(job), what="build",
                  cwd=job.paths.work, timeout_s=timeout_s)
        remove_tree(job.paths.runtime / "tmp")
        remove_tree(self.bases_dir(job))
        self.run_tmp(job).mkdir(mode=0o700)
        if self.sandbox:  # --writable cannot create mount points: the work directory and $HOME
            for mount_point in (CONTAINER_WORKDIR, _home(), *(v.mount for v in job.spec.volumes)):
                make_mount_point(self.image(job), mount_point)

    def _local_bases(self, job: JobContext, names: list[str], log: IO[str],
                     deadline: float | None, timeout_s: float | None) -> dict[str, Path]:
        """Each base name -> a local image Apptainer reads; tarballs unpacked under the job."""
        local: dict[str, Path] = {}
        for index, name in enumerate(names):
            source = None if name == SCRATCH else self.catalogue.resolve(name)
            if source is None:
                continue
            if source.name.endswith(_TARBALL):
                target = self.bases_dir(job) / str(index)
                target.mkdir(mode=0o700, parents=True)
                self._run(unpack_argv(source, target), log, deadline, env=self.environ,
                          what=f"unpacking base {name}", timeout_s=timeout_s)
                source = target
            local[name] = source
        return local

    def _run(self, argv: list[str], log: IO[str], deadline: float | None, *, env: dict[str, str],
             what: str, cwd: Path | None = None, timeout_s: float | None = None) -> None:
        left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
        try:
            code = run_logged(argv, log, timeout=left, env=env, cwd=str(cwd) if cwd else None)
        except CommandTimeout:
            raise BuildError(f"{what} timed out" + (f" after {timeout_s:g}s" if timeout_s else "")) from None
        except FileNotFoundError:
            raise BuildError(f"{what}: {argv[0]} not found") from None
        if code != 0:
            raise BuildError(f"{what} failed (exit {code}):\n{build_log_tail(log)}")

    def cleanup(self, job: JobContext) -> None:
        """Everything under ``paths.runtime``: image or sandbox, definition, cache, temporary files."""
        remove_tree(job.paths.runtime)

    def describe(self) -> str:
        kind = "sandbox" if self.sandbox else "SIF"
        return f"{self.executable}, {kind}{'' if self.is_root else ', --fakeroot'}"


def env_prefix(env: Mapping[str, str], first: Sequence[str] = ()) -> list[str]:
    """``env NAME=VALUE...``: run inside the container, after Apptainer's own environment set-up,
    so values arrive byte for byte and override the image's %environment (pure). Needs ``env`` in
    the image, as every image with a shell has (no ``--``: busybox's env takes it for the command).
    ``first``: words before the job's variables (a task's own, which the job's then override)."""
    return ["env", *first, *(f"{key}={value}" for key, value in sorted(env.items()))]


def unpack_argv(tarball: Path, target: Path) -> list[str]:
    """``tar`` unpacks a catalogue's root-filesystem tarball (compression detected) (pure)."""
    return ["tar", "-x", "--no-same-owner", "-f", str(tarball), "-C", str(target)]


def localise_definition(text: str, resolve: Callable[[str], Path | None]) -> str:
    """Each stage's ``Bootstrap:``/``From:`` header -> ``Bootstrap: localimage`` and the local image
    (pure given ``resolve``). Other header keys (``Stage:``) and every section stay as written."""
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        if not block:
            return
        name = base_of("\n".join(block), "singularity")
        local = None if name == SCRATCH else resolve(name)
        if local is None:
            out.extend(block)
        else:
            out.extend(["Bootstrap: localimage", f"From: {local}"])
            out.extend(line for line in block if not _HEADER_LINE.match(line))
        block.clear()

    in_header = False
    for line in text.splitlines():
        if re.match(r"^\s*Bootstrap\s*:", line, re.IGNORECASE):
            flush()
            in_header = True
        elif line.lstrip().startswith("%"):
            flush()
            in_header = False
        (block if in_header else out).append(line)
    flush()
    return "\n".join(out) + "\n"


def _home() -> str:
    """The home directory Apptainer mounts in the container (the daemon's user runs the jobs)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return os.environ.get("HOME", "/")


