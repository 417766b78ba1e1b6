"""Choosing the container runtime: an explicit name, or the first one present on this machine."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from lz.core.errors import ConfigError
from lz.runtimes.base import Runtime
from lz.runtimes.catalogue import ImageCatalogue

PREFERENCE = ("apptainer", "singularity", "charliecloud", "none")
_EXECUTABLES = {"apptainer": ["apptainer"], "singularity": ["singularity"], "charliecloud": ["ch-image", "ch-run"]}
DEBIAN_CH_IMAGE = ("/usr/bin/python3", "/usr/bin/ch-image")
"""Debian's ch-image is a script that imports ``lark``, installed for Debian's own python3 only."""

Which = Callable[[str], "str | None"]


def catalogue_from(images: Mapping[str, str], allow_pull: bool) -> ImageCatalogue:
    """The site's image catalogue from the settings' ``images`` table: one definition for the
    daemon, intake and the CLI, so they never disagree about a base image."""
    return ImageCatalogue({k: Path(v) for k, v in images.items()}, allow_pull=allow_pull)


def available(name: str, which: Which = shutil.which) -> bool:
    return all(which(exe) for exe in _EXECUTABLES.get(name, []))


def runtime_name(requested: str | None, which: Which = shutil.which) -> str:
    """The runtime ``pick_runtime`` would choose, without building it or checking an explicit
    name (intake uses this; the daemon's start-up does the checking)."""
    if requested in (None, "auto"):
        return next(n for n in PREFERENCE if available(n, which))
    return requested


def checked_runtime_name(requested: str | None, which: Which = shutil.which) -> str:
    """``runtime_name``, and a ConfigError naming what is missing for an explicit one."""
    if requested in (None, "auto"):
        return runtime_name(requested, which)
    if requested not in PREFERENCE:
        raise ConfigError(f"unknown runtime {requested!r} (known: {', '.join(PREFERENCE)})")
    if not available(requested, which):
        missing = [exe for exe in _EXECUTABLES[requested] if not which(exe)]
        raise ConfigError(f"runtime {requested} is not available here: {', '.join(missing)} not found on PATH")
    return requested


def ch_image_argv(which: Which = shutil.which, exists: Callable[[str], bool] = lambda p: Path(p).exists()) -> list[str]:
    """How to start ch-image: through Debian's python3 when that layout is present, else as found."""
    if all(exists(part) for part in DEBIAN_CH_IMAGE):
        return list(DEBIAN_CH_IMAGE)
    return [which("ch-image") or "ch-image"]


def pick_runtime(requested: str | None, *, catalogue: ImageCatalogue | None = None,
                 which: Which = shutil.which,
                 exists: Callable[[str], bool] = lambda p: Path(p).exists(), sandbox: bool = False) -> Runtime:
    """``requested`` None or "auto" means the first available of apptainer, singularity,
    charliecloud, none; an explicit runtime that is not installed is a configuration error.
    ``sandbox``: Apptainer/Singularity build writable directories instead of SIF files."""
    catalogue = catalogue or ImageCatalogue()
    name = checked_runtime_name(requested, which)
    if name == "none":
        from lz.runtimes.none import NoneRuntime

        return NoneRuntime()
    if name == "charliecloud":
        from lz.runtimes.charliecloud import CharliecloudRuntime

        return CharliecloudRuntime(ch_image_argv(which, exists), which("ch-run") or "ch-run", catalogue=catalogue)
    from lz.runtimes.apptainer import ApptainerRuntime

    return ApptainerRuntime(name, catalogue=catalogue, sandbox=sandbox)
