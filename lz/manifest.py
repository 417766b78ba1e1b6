"""Snapshots of a tree and what changed between two of them.

A snapshot is one ``lstat`` per entry (never following symlinks, never reading contents), kept as
plain tuples so 100,000 entries stay cheap; hashing happens only for returned files, in collect.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

FILE, DIR, LINK, OTHER = "f", "d", "l", "o"

# (kind, size, mtime_ns, mode, inode, link target or "")
Entry = tuple[str, int, int, int, int, str]


@dataclass
class Manifest:
    """Relative POSIX path -> Entry, plus the directories that could not be read."""

    entries: dict[str, Entry] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        """Write atomically (temp + rename): a crash leaves the old manifest or the new one."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as handle:
            json.dump({"version": 1, "entries": self.entries, "unreadable": self.unreadable}, handle,
                      separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            data = json.load(handle)
        return cls({k: tuple(v) for k, v in data["entries"].items()}, list(data.get("unreadable", [])))  # type: ignore[misc]


def snapshot(root: Path) -> Manifest:
    """Walk ``root`` without following symlinks; unreadable directories are listed, not fatal."""
    manifest = Manifest()
    entries = manifest.entries
    stack = [(os.fspath(root), "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            scan = os.scandir(directory)
        except OSError:
            manifest.unreadable.append(prefix.rstrip("/") or ".")
            continue
        with scan:
            for entry in scan:
                rel = prefix + entry.name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    manifest.unreadable.append(rel)
                    continue
                mode = st.st_mode
                if stat.S_ISREG(mode):
                    entries[rel] = (FILE, st.st_size, st.st_mtime_ns, mode, st.st_ino, "")
                elif stat.S_ISDIR(mode):
                    entries[rel] = (DIR, 0, st.st_mtime_ns, mode, st.st_ino, "")
                    stack.append((entry.path, rel + "/"))
                elif stat.S_ISLNK(mode):
                    try:
                        target = os.readlink(entry.path)
                    except OSError:
                        target = ""
                    entries[rel] = (LINK, st.st_size, st.st_mtime_ns, mode, st.st_ino, target)
                else:
                    entries[rel] = (OTHER, 0, st.st_mtime_ns, mode, st.st_ino, "")
    return manifest


@dataclass(frozen=True)
class Changes:
    added: list[str]
    modified: list[str]
    deleted: list[str]
    skipped: list[str]  # sockets, devices, fifos: listed, never archived
    unreadable: list[str]


def diff(before: Manifest, after: Manifest) -> Changes:
    """What the job changed (pure). Directories count only when new (an empty dir is a result)."""
    added: list[str] = []
    modified: list[str] = []
    skipped: list[str] = []
    old = before.entries
    for path, entry in after.entries.items():
        kind = entry[0]
        previous = old.get(path)
        if kind == OTHER:
            if previous is None or previous[:5] != entry[:5]:
                skipped.append(path)
            continue
        if previous is None or previous[0] != kind:
            added.append(path) if previous is None else modified.append(path)
        elif kind != DIR and previous != entry or kind == DIR and previous[3] != entry[3]:
            modified.append(path)
    deleted = [path for path in old if path not in after.entries]
    return Changes(sorted(added), sorted(modified), sorted(deleted), sorted(skipped), sorted(after.unreadable))
