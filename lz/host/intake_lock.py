"""Whether a job is being put into the spool right now. Every intake holds a shared flock on one
file beside the spool from before its copy starts until its row is committed (or its copy
removed); the daemon's recovery takes the lock exclusively, and when it gets it, every spool
entry without a row is a dead intake's leftover, removed at once rather than after an hour."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def intake_lock_file(spool_dir: Path) -> Path:
    return spool_dir.parent / "lz.intake.lock"


@contextmanager
def intake_in_flight(spool_dir: Path) -> Iterator[None]:
    """Held by an intake while its copy has no row: waits while a recovery sweeps the spool."""
    fd = os.open(intake_lock_file(spool_dir), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def no_intake_in_flight(spool_dir: Path) -> Iterator[bool]:
    """True while held: no intake runs, nor starts until the block ends. False when one runs or
    the lock cannot be taken (a file system without flock): the caller then cannot tell."""
    try:
        fd = os.open(intake_lock_file(spool_dir), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            quiet = True
        except OSError:
            quiet = False
        yield quiet
    finally:
        os.close(fd)
