"""Manifests: what a tree held, one ``lstat`` per entry, and how they are stored.

A snapshot is taken before a job runs and compared after it (``lz.changes``). It never follows a
symlink and never reads contents, and keeps plain tuples so 100,000 entries stay cheap; hashing
happens only for returned files, in collect. Each entry keeps its ctime, which userland cannot set:
a file rewritten in place with its old mtime restored (``touch -r``, ``cp -p``, ``rsync -t
--inplace``) still shows up as changed.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lz.fs import special_kind
from lz.walk import ROOT, OpenDir, open_dir, walk_tree

FILE, DIR, LINK, OTHER = "f", "d", "l", "o"

# (kind, size, mtime_ns, mode, inode, link target or "", ctime_ns); size is 0 for directories and
# specials; ctime_ns is 0 where a manifest of an earlier version did not record it
Entry = tuple[str, int, int, int, int, str, int]

__all__ = ["DIR", "FILE", "LINK", "OTHER", "ROOT", "Entry", "Manifest", "entry_of", "open_dir", "snapshot",
           "type_name"]


@dataclass
class Manifest:
    """Relative POSIX path -> Entry; the paths that could not be read; and, per directory ("" is
    the root), how many entries it held, so a later walk can tell where something was deleted.
    ``ctimes`` is False for a manifest saved before ctimes were recorded (compared without them)."""

    entries: dict[str, Entry] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    children: dict[str, int] = field(default_factory=dict)
    ctimes: bool = True

    def save(self, path: Path) -> None:
        """Atomically (temp + fsync + rename): a crash leaves the old file or the new one. Stored as
        columns, one JSON array per field, which is about half the size of a record per entry."""
        paths = list(self.entries)
        values = list(self.entries.values())
        document = {
            "version": 3 if self.ctimes else 2,
            "paths": paths,
            "kinds": "".join(e[0] for e in values),
            "sizes": [e[1] for e in values],
            "mtimes": [e[2] for e in values],
            "modes": [e[3] for e in values],
            "inodes": [e[4] for e in values],
            "targets": {str(i): e[5] for i, e in enumerate(values) if e[5]},
            "unreadable": self.unreadable,
            "children": self.children,
        }
        if self.ctimes:
            document["ctimes"] = [e[6] for e in values]
        write_atomically(path, json.dumps(document, separators=(",", ":")).encode("ascii"))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = json.loads(path.read_bytes())
        if data.get("version") == 1:  # the record-per-entry format of the first release
            entries = {p: (*e, 0) for p, e in data["entries"].items()}
            return cls(entries, list(data.get("unreadable", [])), _children_of(entries), ctimes=False)
        count = len(data["paths"])
        targets = [""] * count
        for index, target in data["targets"].items():
            targets[int(index)] = target
        ctimes = data.get("ctimes") or [0] * count  # version 2 had none
        rows = zip(data["kinds"], data["sizes"], data["mtimes"], data["modes"], data["inodes"], targets, ctimes)
        return cls(dict(zip(data["paths"], rows)), list(data["unreadable"]), dict(data["children"]),
                   ctimes="ctimes" in data)


def write_atomically(path: Path, payload: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with open(fd, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _children_of(entries: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in entries:
        parent = path.rpartition("/")[0]
        counts[parent] = counts.get(parent, 0) + 1
    return counts


def entry_of(st: os.stat_result, name: str, dir_fd: int, ctimes: int = 1) -> Entry:
    """The entry for ``name`` in the directory open as ``dir_fd``; ``ctimes`` 0 records no ctime (to
    compare with a manifest that has none)."""
    mode = st.st_mode
    ctime = st.st_ctime_ns * ctimes
    if stat.S_ISREG(mode):
        return (FILE, st.st_size, st.st_mtime_ns, mode, st.st_ino, "", ctime)
    if stat.S_ISDIR(mode):
        return (DIR, 0, st.st_mtime_ns, mode, st.st_ino, "", ctime)
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError:
            target = ""
        return (LINK, st.st_size, st.st_mtime_ns, mode, st.st_ino, target, ctime)
    return (OTHER, 0, st.st_mtime_ns, mode, st.st_ino, "", ctime)


def type_name(entry: Entry) -> str:
    """The word results use for an entry's type."""
    kind, mode = entry[0], entry[3]
    if kind != OTHER:
        return {FILE: "file", DIR: "dir", LINK: "symlink"}[kind]
    name = special_kind(mode)
    return "other" if name == "special" else name


class _Snapshot:
    """The visitor of a snapshot walk."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.unreadable: list[str] = []
        self.children: dict[str, int] = {}

    def visit(self, fd: int, rel: str) -> list[str]:
        prefix = rel + "/" if rel else ""
        entries, subdirs, count = self.entries, [], 0
        try:
            with os.scandir(fd) as scan:
                for item in scan:
                    name = item.name
                    try:
                        entry = entry_of(item.stat(follow_symlinks=False), name, fd)
                    except OSError:  # vanished mid-walk, or a stat the kernel refused
                        self.unreadable.append(prefix + name)
                        continue
                    entries[prefix + name] = entry
                    count += 1
                    if entry[0] == DIR:
                        subdirs.append(name)
        except OSError:  # the listing itself broke off: what was read stays, the directory is flagged
            self.unreadable.append(rel or ROOT)
        self.children[rel] = count
        return subdirs

    def finish(self) -> _Snapshot:
        return self


def snapshot(root: Path, *, opener: OpenDir = open_dir) -> Manifest:
    """Walk ``root`` without following symlinks; unreadable directories are listed, not fatal."""
    found = _Snapshot()
    walk_tree(root_path(root), found, lambda _: found, opener=opener)
    return Manifest(found.entries, sorted(found.unreadable), found.children)


def root_path(root: Path) -> str:
    """The root's own symlinks are resolved (those below it are never followed)."""
    return os.path.realpath(root)
