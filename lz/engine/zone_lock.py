"""The landing zone's lock and pid file: one daemon per database, and how the CLI finds it to wake
it. Kept apart from the daemon so ``lz submit`` need not import the scheduler to send a signal."""

from __future__ import annotations

import fcntl
import os
from typing import IO

from lz.config import Settings
from lz.core.errors import UserError
from lz.host.fs import write_atomically


def lock_landing_zone(settings: Settings, *, pid_file: bool = True) -> IO[str]:
    """One daemon per database: an flock held for the daemon's life; the pid file is for wake-ups
    (``pid_file=False``: written later with ``write_pid_file``, once the daemon really runs)."""
    try:
        handle = open(settings.lock_file, "a+")
    except OSError as exc:
        raise UserError(f"cannot open the lock {settings.lock_file}: {exc.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(f"another landing zone is already running on {settings.db}") from None
    if pid_file:
        try:
            write_pid_file(settings)
        except UserError:
            handle.close()
            raise
    return handle


def write_pid_file(settings: Settings) -> None:
    try:  # readable as the umask allows: whoever may use the zone may wake its daemon
        write_atomically(settings.pid_file, f"{os.getpid()}\n", 0o666, durable=False)
    except OSError as exc:
        raise UserError(f"cannot write {settings.pid_file}: {exc.strerror}") from None


def wake_daemon(settings: Settings) -> bool:
    """Nudge a running daemon so a new job or a cancel does not wait for the next tick.

    Only while the daemon holds its lock: a stale pid file must never signal a stranger."""
    if not daemon_running(settings):
        return False
    try:
        pid = int(settings.pid_file.read_text().strip())
        import signal  # here: only when a daemon runs to be woken (0.4 ms of every lz submit otherwise)

        os.kill(pid, signal.SIGUSR1)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return False
    return True


def daemon_running(settings: Settings) -> bool:
    """True when some process holds the landing zone's lock."""
    path = settings.lock_file
    if not path.exists():
        return False
    try:
        handle = open(path, "a+")
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
