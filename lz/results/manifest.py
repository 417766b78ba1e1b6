"""Manifests: what a tree held, one ``lstat`` per entry, and how they are stored.

A snapshot is taken before a job runs and compared after it (``lz.results.changes``). It never follows a
symlink and never reads contents, and keeps plain tuples so 100,000 entries stay cheap; hashing
happens only for returned files, in collect. Each entry keeps its ctime, which userland cannot set:
a file rewritten in place with its old mtime restored (``touch -r``, ``cp -p``, ``rsync -t
--inplace``) still shows up as changed.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lz.host.fs import special_kind, write_atomically
from lz.results.since import Since, since_now
from lz.results.walk import ROOT, OpenDir, open_dir, walk_tree

FILE, DIR, LINK, OTHER = "f", "d", "l", "o"

# (kind, size, mtime_ns, mode, inode, link target or "", ctime_ns); size is 0 for directories and
# specials; ctime_ns is 0 where a manifest of an earlier version did not record it
Entry = tuple[str, int, int, int, int, str, int]

__all__ = ["DIR", "FILE", "LINK", "OTHER", "ROOT", "Entry", "Manifest", "entry_of", "open_dir", "snapshot",
           "type_name"]


@dataclass
class Manifest:
    """Per directory (relative POSIX path, "" for the root): name -> Entry, for every directory that
    was listed; and the paths that could not be read. Kept per directory because that is how a walk
    meets them: a comparison looks each name up in its directory's table, and a directory holding
    fewer of them than before is where something was deleted. ``ctimes`` is False for a manifest
    saved before ctimes were recorded (compared without them). ``since``: when the snapshot began, in
    the clock that stamps the tree's ctimes (``lz.results.since``), or None where that cannot be relied on.
    """

    dirs: dict[str, dict[str, Entry]] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    ctimes: bool = True
    since: Since | None = None

    @classmethod
    def from_entries(cls, entries: Mapping[str, Entry], unreadable: Iterable[str] = (), ctimes: bool = True,
                     listed: Iterable[str] = ()) -> Manifest:
        """From relative path -> Entry; ``listed`` names directories that were listed though empty."""
        dirs: dict[str, dict[str, Entry]] = {rel: {} for rel in listed}
        for path, entry in entries.items():
            parent, _, name = path.rpartition("/")
            dirs.setdefault(parent, {})[name] = entry
        return cls(dirs, list(unreadable), ctimes)

    @property
    def entries(self) -> dict[str, Entry]:
        """Relative path -> Entry, for the pure diff and for looking one up."""
        return {f"{rel}/{name}" if rel else name: entry
                for rel, names in self.dirs.items() for name, entry in names.items()}

    def get(self, path: str) -> Entry | None:
        parent, _, name = path.rpartition("/")
        return self.dirs.get(parent, {}).get(name)

    def entry_count(self) -> int:
        return sum(map(len, self.dirs.values()))

    def save(self, path: Path) -> None:
        """Atomically (temp + fsync + rename): a crash leaves the old file or the new one. Stored as
        columns, one JSON array per field, names grouped by directory: about half the size of a
        record per entry, and it loads without a Python step per entry."""
        names = [name for entries in self.dirs.values() for name in entries]
        values = [entry for entries in self.dirs.values() for entry in entries.values()]
        document = {
            "version": 3,
            "dirs": list(self.dirs),
            "counts": [len(entries) for entries in self.dirs.values()],
            "names": names,
            "kinds": "".join(e[0] for e in values),
            "sizes": [e[1] for e in values],
            "mtimes": [e[2] for e in values],
            "modes": [e[3] for e in values],
            "inodes": [e[4] for e in values],
            "targets": {str(i): e[5] for i, e in enumerate(values) if e[5]},
            "ctimes": [e[6] for e in values] if self.ctimes else None,
            "unreadable": self.unreadable,
            "since": list(self.since) if self.since else None,
        }
        write_atomically(path, json.dumps(document, separators=(",", ":")).encode("ascii"))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = json.loads(path.read_bytes())
        version = data.get("version")
        if version == 1:  # the record-per-entry format of the first release
            entries = {p: (*e, 0) for p, e in data["entries"].items()}
            return cls.from_entries(entries, data.get("unreadable", []), ctimes=False)
        keys = data["names"] if version == 3 else data["paths"]
        count = len(keys)
        targets = [""] * count
        for index, target in data["targets"].items():
            targets[int(index)] = target
        ctimes = data.get("ctimes") or [0] * count  # version 2 had none
        rows = list(zip(data["kinds"], data["sizes"], data["mtimes"], data["modes"], data["inodes"], targets, ctimes))
        if version == 2:  # paths, not names by directory
            return cls.from_entries(dict(zip(keys, rows)), data["unreadable"], ctimes=False, listed=data["children"])
        dirs, start = {}, 0
        for rel, size in zip(data["dirs"], data["counts"]):
            dirs[rel] = dict(zip(keys[start:start + size], rows[start:start + size]))
            start += size
        since = data.get("since")
        return cls(dirs, list(data["unreadable"]), data.get("ctimes") is not None, Since(*since) if since else None)



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
        self.dirs: dict[str, dict[str, Entry]] = {}
        self.unreadable: list[str] = []

    def visit(self, fd: int, rel: str) -> list[str]:
        try:
            names = os.listdir(fd)
        except OSError:
            self.unreadable.append(rel or ROOT)
            return []
        entries: dict[str, Entry] = {}
        subdirs = []
        stat_at = os.stat
        for name in names:
            try:
                entry = entry_of(stat_at(name, dir_fd=fd, follow_symlinks=False), name, fd)
            except OSError:  # vanished mid-walk, or a stat the kernel refused
                self.unreadable.append(f"{rel}/{name}" if rel else name)
                continue
            entries[name] = entry
            if entry[0] == DIR:
                subdirs.append(name)
        self.dirs[rel] = entries
        return subdirs

    def finish(self) -> _Snapshot:
        return self


def snapshot(root: Path, *, opener: OpenDir = open_dir) -> Manifest:
    """Walk ``root`` without following symlinks; unreadable directories are listed, not fatal."""
    found = _Snapshot()
    path = root_path(root)
    since = since_now(path)  # before the walk: whatever changes after it has a later ctime
    walk_tree(path, found, lambda _: found, opener=opener)
    return Manifest(found.dirs, sorted(found.unreadable), since=since)


def root_path(root: Path) -> str:
    """The root's own symlinks are resolved (those below it are never followed)."""
    return os.path.realpath(root)
