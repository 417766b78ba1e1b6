"""Filesystem helpers shared by the steps, intake and runtimes."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path


def special_kind(mode: int) -> str:
    """The word for a file that is neither regular, directory nor symlink."""
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special"


def remove_tree(path: Path) -> None:
    """rmtree that tolerates a missing tree and read-only directories (container images have them)."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
        return

    def _make_writable(func: Callable[..., object], target: str, _exc: object) -> None:
        parent = os.path.dirname(target)
        try:
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)
            if os.path.isdir(target) and not os.path.islink(target):
                os.chmod(target, os.stat(target).st_mode | stat.S_IWUSR | stat.S_IXUSR | stat.S_IRUSR)
            func(target)
        except FileNotFoundError:
            pass

    shutil.rmtree(path, onerror=_make_writable)  # onerror: still the spelling Python 3.11 knows



def private_directory(path: Path, group: bool = False) -> Path:
    """Create ``path`` (and parents) if needed and make it 0700 (0750 with ``group``), whatever
    the umask was when it was made: lz's state must not be readable by other users."""
    path.mkdir(parents=True, exist_ok=True)
    mode = 0o750 if group else 0o700
    if stat.S_IMODE(path.stat().st_mode) != mode:
        os.chmod(path, mode)
    return path
