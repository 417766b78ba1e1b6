"""The account a system unit runs as: that it exists, and that it can reach the ``lz`` it starts.

A root user naturally installs lz in a venv under ``/root`` (mode 0700); a unit with ``User=lz``
pointing there fails at every start with "Permission denied" in the journal, far from the cause.
``lz service install`` checks both before writing anything, and creates a missing system account.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from pathlib import Path

CREATE = ["useradd", "--system", "--user-group", "--home-dir", "/var/lib/lz", "--no-create-home",
          "--shell", "/usr/sbin/nologin"]


def create_argv(account: str) -> list[str]:
    """The command that makes a system account (its home is the unit's StateDirectory)."""
    return [*CREATE, account]


def exists(account: str) -> bool:
    try:
        pwd.getpwnam(account)
    except KeyError:
        return False
    return True


def unreachable(path: Path, account: str) -> str | None:
    """Why ``account`` cannot run ``path`` (the program, and the interpreter its ``#!`` names),
    or None when it can."""
    entry = pwd.getpwnam(account)
    groups = {entry.pw_gid, *(g.gr_gid for g in grp.getgrall() if account in g.gr_mem)}
    programs = [Path(path)]
    interpreter = _shebang(Path(path))
    if interpreter is not None:
        programs.append(interpreter)
    for program in programs:
        why = _blocked(Path(os.path.realpath(program)), entry.pw_uid, groups)
        if why is not None:
            return f"the {account} account cannot run {program}: {why}"
    return None


def _shebang(path: Path) -> Path | None:
    try:
        with open(path, "rb") as handle:
            first = handle.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode("utf-8", "replace").split()
    return Path(words[0]) if words and words[0].startswith("/") else None


def _blocked(path: Path, uid: int, groups: set[int]) -> str | None:
    """The first folder on the way that ``uid`` may not enter, or the file it may not execute."""
    if uid == 0:
        return None
    for folder in [*reversed(path.parents)]:
        if not _may(folder, uid, groups, stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH):
            return f"{folder} is mode {stat.S_IMODE(folder.stat().st_mode):04o} (not searchable by it)"
    if not path.exists():
        return f"{path} does not exist"
    if not _may(path, uid, groups, stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH):
        return f"{path} is not executable by it"
    return None


def _may(path: Path, uid: int, groups: set[int], user: int, group: int, other: int) -> bool:
    info = path.stat()
    if info.st_uid == uid:
        return bool(info.st_mode & user)
    if info.st_gid in groups:
        return bool(info.st_mode & group)
    return bool(info.st_mode & other)
