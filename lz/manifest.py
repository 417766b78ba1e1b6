"""Snapshots of a tree and what changed since one.

A snapshot is one ``lstat`` per entry (never following symlinks, never reading contents), kept as
plain tuples so 100,000 entries stay cheap; hashing happens only for returned files, in collect.
After a job, ``changes_since`` walks the tree once and compares as it goes; on a large tree the
top-level subtrees are walked by a few forked processes, since ``lstat`` calls, not Python, set
the pace (the forked children only read the filesystem and the inherited manifest).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

FILE, DIR, LINK, OTHER = "f", "d", "l", "o"
PARALLEL_FROM = 20_000  # entries; below this a single walk is faster than starting processes

# (kind, size, mtime_ns, mode, inode, link target or "")
Entry = tuple[str, int, int, int, int, str]


@dataclass
class Manifest:
    """Relative POSIX path -> Entry, the directories that could not be read, and how many entries
    live under each top-level name (so a later walk can tell "nothing deleted" by counting)."""

    entries: dict[str, Entry] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        """Write atomically (temp + fsync + rename): a crash leaves the old manifest or the new one."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as handle:
            json.dump({"version": 1, "entries": self.entries, "unreadable": self.unreadable, "counts": self.counts},
                      handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Manifest:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            data = json.load(handle)
        entries = {k: tuple(v) for k, v in data["entries"].items()}
        return cls(entries, list(data.get("unreadable", [])), dict(data.get("counts", {})))  # type: ignore[arg-type]


def _entry(entry: os.DirEntry[str]) -> Entry:
    st = entry.stat(follow_symlinks=False)
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return (FILE, st.st_size, st.st_mtime_ns, mode, st.st_ino, "")
    if stat.S_ISDIR(mode):
        return (DIR, 0, st.st_mtime_ns, mode, st.st_ino, "")
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(entry.path)
        except OSError:
            target = ""
        return (LINK, st.st_size, st.st_mtime_ns, mode, st.st_ino, target)
    return (OTHER, 0, st.st_mtime_ns, mode, st.st_ino, "")


def snapshot(root: Path) -> Manifest:
    """Walk ``root`` without following symlinks; unreadable directories are listed, not fatal."""
    manifest = Manifest()
    entries, counts = manifest.entries, manifest.counts
    stack = [(os.fspath(root), "", "")]
    while stack:
        directory, prefix, top = stack.pop()
        try:
            scan = os.scandir(directory)
        except OSError:
            manifest.unreadable.append(prefix.rstrip("/") or ".")
            continue
        with scan:
            for item in scan:
                rel = prefix + item.name
                try:
                    entry = _entry(item)
                except OSError:
                    manifest.unreadable.append(rel)
                    continue
                entries[rel] = entry
                key = top or item.name
                counts[key] = counts.get(key, 0) + 1
                if entry[0] == DIR:
                    stack.append((item.path, rel + "/", key))
    return manifest


@dataclass(frozen=True)
class Changes:
    added: list[str]
    modified: list[str]
    deleted: list[str]
    skipped: list[str]  # sockets, devices, fifos: listed, never archived
    unreadable: list[str]


def diff(before: Manifest, after: Manifest) -> Changes:
    """What changed between two snapshots (pure)."""
    found = _Found()
    for path, entry in after.entries.items():
        found.compare(path, entry, before.entries.get(path))
    deleted = [path for path in before.entries if path not in after.entries]
    return found.changes(deleted, after.unreadable)


class _Found:
    """Accumulates what a walk finds; directories count only when new or re-permissioned."""

    def __init__(self) -> None:
        self.added: list[tuple[str, Entry]] = []
        self.modified: list[tuple[str, Entry]] = []
        self.skipped: list[str] = []
        self.unreadable: list[str] = []
        self.present = 0

    def compare(self, path: str, entry: Entry, previous: Entry | None) -> None:
        if previous is not None:
            self.present += 1
        kind = entry[0]
        if kind == OTHER:
            if previous is None or previous[:5] != entry[:5]:
                self.skipped.append(path)
        elif previous is None:
            self.added.append((path, entry))
        elif previous[0] != kind or (previous != entry if kind != DIR else previous[3] != entry[3]):
            self.modified.append((path, entry))

    def merge(self, other: _Found) -> None:
        self.added += other.added
        self.modified += other.modified
        self.skipped += other.skipped
        self.unreadable += other.unreadable
        self.present += other.present

    def changes(self, deleted: list[str], unreadable: list[str] = ()) -> Changes:  # type: ignore[assignment]
        return Changes(sorted(p for p, _ in self.added), sorted(p for p, _ in self.modified), sorted(deleted),
                       sorted(self.skipped), sorted([*self.unreadable, *unreadable]))


_BEFORE: dict[str, Entry] = {}  # the manifest the forked walkers inherit (set just before forking)


def _walk(subtrees: Iterable[tuple[str, str]]) -> _Found:
    found = _Found()
    before = _BEFORE
    stack = list(subtrees)
    present = 0
    while stack:
        directory, prefix = stack.pop()
        try:
            scan = os.scandir(directory)
        except OSError:
            found.unreadable.append(prefix.rstrip("/"))
            continue
        with scan:
            for item in scan:
                rel = prefix + item.name
                previous = before.get(rel)
                if previous is not None:
                    # fast path, the common case: same size, mtime, mode and inode means unchanged
                    try:
                        st = item.stat(follow_symlinks=False)
                    except OSError:
                        found.unreadable.append(rel)
                        continue
                    if (previous[2] == st.st_mtime_ns and previous[1] == (st.st_size if previous[0] != DIR else 0)
                            and previous[3] == st.st_mode and previous[4] == st.st_ino):
                        present += 1
                        if previous[0] == DIR:
                            stack.append((item.path, rel + "/"))
                        continue
                try:
                    entry = _entry(item)
                except OSError:
                    found.unreadable.append(rel)
                    continue
                found.compare(rel, entry, previous)
                if entry[0] == DIR:
                    stack.append((item.path, rel + "/"))
    found.present += present
    return found


def changes_since(root: Path, before: Manifest, workers: int | None = None) -> tuple[Changes, dict[str, Entry]]:
    """Walk ``root`` once, comparing with ``before``; returns the changes and the current entries
    of the added and modified paths."""
    global _BEFORE
    _BEFORE = before.entries
    try:
        top = _Found()
        subtrees: list[tuple[str, str]] = []
        with os.scandir(root) as scan:
            for item in scan:
                entry = _entry(item)
                top.compare(item.name, entry, before.entries.get(item.name))
                if entry[0] == DIR:
                    subtrees.append((item.path, item.name + "/"))
        workers = workers or min(4, (os.cpu_count() or 1) + 1)
        if len(before.entries) < PARALLEL_FROM or workers < 2 or len(subtrees) < 2:
            top.merge(_walk(subtrees))
        else:
            parts = [subtrees[i::workers] for i in range(workers)]
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for found in pool.map(_walk, parts):
                    top.merge(found)
    finally:
        _BEFORE = {}
    if top.present == len(before.entries):
        deleted: list[str] = []  # every old entry was seen again: nothing deleted, no set needed
    else:
        current = {p for p, _ in top.added} | {p for p, _ in top.modified}
        deleted = [p for p in before.entries if p not in current and not os.path.lexists(os.path.join(root, p))]
    entries = dict(top.added)
    entries.update(top.modified)
    return top.changes(deleted), entries
