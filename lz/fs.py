"""Filesystem helpers shared by the engine, intake and runtimes."""

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


def kill_processes_using(root: Path) -> list[int]:
    """SIGKILL every process whose command line names a path under ``root``, with its whole
    process group (a container build's RUN steps do not name the path themselves). For builds
    orphaned by a killed daemon, and for cancelled builds: builds run in their own session."""
    import signal

    import psutil

    prefix = os.fspath(root)
    ours = os.getpgid(0)
    groups: set[int] = set()
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.pid == os.getpid() or not any(arg == prefix or (prefix + os.sep) in arg for arg in cmdline):
            continue
        found.append(proc)
        try:
            groups.add(os.getpgid(proc.pid))
        except ProcessLookupError:
            continue
    for group in groups - {ours}:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for proc in found:
        try:
            proc.kill()
        except psutil.Error:
            pass
    if found:
        psutil.wait_procs(found, timeout=5)
    return [proc.pid for proc in found]
