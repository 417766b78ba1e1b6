"""Filesystem helpers shared by the steps, intake and runtimes."""

from __future__ import annotations

import os
import stat
from _thread import get_ident  # threading's own; ``import threading`` costs every lz submit 0.5 ms
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

    import shutil  # here: with bz2 and lzma, 1.7 ms that a submission that is not refused never needs

    shutil.rmtree(path, onerror=_make_writable)  # onerror: still the spelling Python 3.11 knows


def fsync_dir(path: Path) -> None:
    """Make the entries of ``path`` (creations, renames) durable: a rename is only on disk once its
    directory is, so every "write, rename" that must survive a node crash ends here."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, payload: bytes | str, mode: int = 0o600, *, exact_mode: bool = False,
                     durable: bool = True) -> None:
    """Replace ``path`` so that readers (and a crash) see the old file or the new one, never half of
    one. The temporary file is created with ``mode`` less the umask (a token is never readable by
    others, not even for a moment) and named per process and thread, so concurrent writers never
    share one. ``exact_mode``: ``mode`` whatever the umask (files another account must read).
    ``durable``: fsync the file and its directory (skip it for records nobody needs after a reboot)."""
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        with open(fd, "wb") as handle:
            handle.write(data)
            if exact_mode:
                os.fchmod(handle.fileno(), mode)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def private_directory(path: Path, group: bool = False) -> Path:
    """Create ``path`` (and parents) if needed and make it 0700 (0750 with ``group``), whatever
    the umask was when it was made: lz's state must not be readable by other users."""
    path.mkdir(parents=True, exist_ok=True)
    mode = 0o750 if group else 0o700
    if stat.S_IMODE(path.stat().st_mode) != mode:
        os.chmod(path, mode)
    return path
