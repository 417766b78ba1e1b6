"""A PATH shim that counts ``squeue`` calls (then runs the real one): the controller's load, as
the controller would count it."""

from __future__ import annotations

import shutil
from pathlib import Path


def install(directory: Path, program: str = "squeue") -> tuple[Path, Path]:
    """``directory/PROGRAM`` logging each call to ``directory/calls`` (``PROGRAM.calls`` for
    programs other than squeue) before running the real one; returns (bin dir, log)."""
    real = shutil.which(program)
    assert real, f"{program} is not on PATH"
    directory.mkdir(parents=True, exist_ok=True)
    calls = directory / ("calls" if program == "squeue" else f"{program}.calls")
    calls.write_text("")
    shim = directory / program
    shim.write_text(f'#!/bin/sh\necho "$(date +%s.%N)" >> "{calls}"\nexec "{real}" "$@"\n')
    shim.chmod(0o755)
    return directory, calls
