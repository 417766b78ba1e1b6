"""What ``apptainer run --fakeroot`` (the pilot image's recipe) needs of the account: a range of
subordinate user and group ids in ``/etc/subuid`` and ``/etc/subgid`` (issue 24, item 12).
Without one every pilot dies at once with "no mapping entry found in /etc/subuid". Root too:
Apptainer 1.4 refuses ``--fakeroot`` to root without an entry (tried on the test machine).

The files' paths are parameters, so tests use files of their own."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SUBUID = Path("/etc/subuid")
SUBGID = Path("/etc/subgid")
MIN_RANGE = 65536
"""A full 16-bit range: what useradd gives and what a container's own users (ids up to 65535) need."""
MAX_FILE_BYTES = 4 << 20


@dataclass(frozen=True)
class FakerootCheck:
    ok: bool
    detail: str
    fix: str = ""


def fix_for(user: str) -> str:
    return f"as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}"


def _ranges(path: Path, user: str, uid: int) -> list[int] | None:
    """The sizes of the ranges the file gives this account (by name or by number); None when the
    file cannot be read. ``!`` marks an entry Apptainer's ``config fakeroot --disable`` turned off."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(MAX_FILE_BYTES).decode("utf-8", "replace")
    except FileNotFoundError:
        return []
    except OSError:
        return None
    sizes = []
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) != 3 or fields[0] not in (user, str(uid)):
            continue
        try:
            start, count = int(fields[1]), int(fields[2])
        except ValueError:
            continue
        if start >= 0 and count > 0:
            sizes.append(count)
    return sizes


def fakeroot_ready(user: str, uid: int, *, subuid: Path = SUBUID, subgid: Path = SUBGID) -> FakerootCheck:
    """Whether ``--fakeroot`` can map this account's ids, and the command that makes it so."""
    for path, kind in ((subuid, "user"), (subgid, "group")):
        sizes = _ranges(path, user, uid)
        if sizes is None:
            return FakerootCheck(False, f"{path} cannot be read", f"ask an administrator to make {path} readable")
        if not sizes:
            return FakerootCheck(False, f"no subordinate {kind} ids for {user} in {path}: apptainer --fakeroot "
                                        f"(the pilot image) stops at once", fix_for(user))
        if max(sizes) < MIN_RANGE:
            return FakerootCheck(False, f"{user}'s subordinate {kind} ids in {path} are {max(sizes)}, fewer "
                                        f"than {MIN_RANGE}", fix_for(user))
    return FakerootCheck(True, f"{user} has subordinate user and group ids ({subuid}, {subgid})")
