"""A PATH shim that counts ``squeue`` calls (then runs the real one): the controller's load, as
the controller would count it."""

from __future__ import annotations

import shutil
from pathlib import Path


def install(directory: Path) -> tuple[Path, Path]:
    """``directory/squeue`` logging each call to ``directory/calls``; returns (bin dir, log)."""
    real = shutil.which("squeue")
    assert real, "squeue is not on PATH"
    directory.mkdir(parents=True, exist_ok=True)
    calls = directory / "calls"
    calls.write_text("")
    shim = directory / "squeue"
    shim.write_text(f'#!/bin/sh\necho "$(date +%s.%N)" >> "{calls}"\nexec "{real}" "$@"\n')
    shim.chmod(0o755)
    return directory, calls
