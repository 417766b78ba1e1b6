"""Choosing the container runtime: an explicit name, or the first one present on this machine."""

from __future__ import annotations

import shutil
from collections.abc import Callable

from lz.errors import ConfigError
from lz.runtimes.base import Runtime
from lz.runtimes.catalogue import ImageCatalogue

PREFERENCE = ("apptainer", "singularity", "charliecloud", "none")
_EXECUTABLES = {"apptainer": ["apptainer"], "singularity": ["singularity"], "charliecloud": ["ch-image", "ch-run"]}


def available(name: str, which: Callable[[str], str | None] = shutil.which) -> bool:
    return all(which(exe) for exe in _EXECUTABLES.get(name, []))


def runtime_name(requested: str | None, which: Callable[[str], str | None] = shutil.which) -> str:
    """The runtime ``pick_runtime`` would choose, without building it (intake uses this)."""
    if requested in (None, "auto"):
        return next(n for n in PREFERENCE if available(n, which))
    return requested


def pick_runtime(requested: str | None, *, catalogue: ImageCatalogue | None = None,
                 which: Callable[[str], str | None] = shutil.which) -> Runtime:
    """``requested`` None or "auto" means the first available of apptainer, singularity,
    charliecloud, none; an explicit runtime that is not installed is a configuration error."""
    catalogue = catalogue or ImageCatalogue()
    if requested in (None, "auto"):
        name = next(n for n in PREFERENCE if available(n, which))
    else:
        name = requested
        if name not in PREFERENCE:
            raise ConfigError(f"unknown runtime {name!r} (known: {', '.join(PREFERENCE)})")
        if not available(name, which):
            missing = [exe for exe in _EXECUTABLES[name] if not which(exe)]
            raise ConfigError(f"runtime {name} is not available here: {', '.join(missing)} not found on PATH")
    if name == "none":
        from lz.runtimes.none import NoneRuntime

        return NoneRuntime()
    if name == "charliecloud":
        from lz.runtimes.charliecloud import CharliecloudRuntime

        return CharliecloudRuntime(catalogue=catalogue)
    from lz.runtimes.apptainer import ApptainerRuntime

    return ApptainerRuntime(executable=name, catalogue=catalogue)
