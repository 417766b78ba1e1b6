"""When a snapshot was taken, in the clock that stamps ctimes: what lets a walk after the job skip
what has not changed without looking at it in Python (``lz.results.find_walk``).

Every change to an entry (its contents, size, mode, times, a rename, a link, a new entry, a removal
from a directory) sets its ctime, or its directory's, to the kernel's real-time clock, and userland
cannot set a ctime back. So an entry whose ctime is not after the snapshot's start has not changed
since, provided that the clock that stamped it is the one read here and was not stepped back in
between. Both are checked, not assumed: only on a local filesystem (a network filesystem's ctimes
may come from another host's clock) and only while the host has not rebooted and its real-time clock
has not moved back against the boot-time clock by more than ``STEP_NS``. A margin of ``MARGIN_NS``
covers the kernel's coarse timestamps and a small step; entries changed within it just before the
snapshot are compared one by one, which is correct, only slower.
"""

from __future__ import annotations

import time
from typing import NamedTuple

MARGIN_NS = 2_000_000_000
STEP_NS = 1_000_000_000  # less than MARGIN_NS: a step back smaller than this still leaves ctimes above ``ns``

# filesystems whose ctimes this host's kernel stamps (an NFS export of one is stamped by this host too)
LOCAL_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "f2fs", "zfs", "overlay", "jfs",
                               "reiserfs", "bcachefs"})

_BOOT_ID = "/proc/sys/kernel/random/boot_id"
_MOUNTINFO = "/proc/self/mountinfo"


class Since(NamedTuple):
    """``ns``: a real time (ns) before the snapshot began, less the margin; ``boot``: the boot it was
    read in; ``offset``: the real-time clock less the boot-time clock then."""

    ns: int
    boot: str
    offset: int


def clock() -> tuple[str, int]:
    """(boot id, real time less boot time in ns); ("", 0) where there is no boot id to read."""
    try:
        with open(_BOOT_ID, encoding="ascii") as handle:
            boot = handle.read().strip()
    except OSError:
        return "", 0
    return boot, time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)


def since_now(root: str) -> Since | None:
    """Read before a snapshot of ``root`` begins; None where its ctimes cannot be trusted this way."""
    boot, offset = clock()
    if not boot or filesystem_of(root) not in LOCAL_FILESYSTEMS:
        return None
    return Since(time.time_ns() - MARGIN_NS, boot, offset)


def still_valid(since: Since | None, now: tuple[str, int]) -> bool:
    """Whether ctimes stamped from the snapshot until ``now`` (``clock()``) all lie after ``since.ns``."""
    if since is None or not since.boot:
        return False
    boot, offset = now
    return boot == since.boot and offset > since.offset - STEP_NS


def filesystem_of(path: str) -> str:
    """The type of the filesystem mounted deepest above ``path`` (a real path), "" if unknown."""
    try:
        with open(_MOUNTINFO, "rb") as handle:
            text = handle.read().decode("utf-8", "surrogateescape")
    except OSError:
        return ""
    return mount_type(text, path)


def mount_type(mountinfo: str, path: str) -> str:
    """From ``/proc/self/mountinfo``'s text (pure): the type of the last-mounted, deepest mount
    point at or above ``path``; "" if none is."""
    best, kind = -1, ""
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        try:
            point, fstype = _unescape(fields[4]), fields[fields.index("-", 6) + 1]
        except (IndexError, ValueError):
            continue
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= best:
            best, kind = len(point), fstype
    return kind


def _unescape(field: str) -> str:
    """Mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)
