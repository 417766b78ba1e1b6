"""What changed in a tree since its manifest was taken.

After a job, ``changes_since`` compares while it walks, so unchanged entries (nearly all) never
become Python objects; on a large tree forked walkers share the walk (``lz.results.walk``). ``diff`` is the
pure reference it must agree with. ``Comparison`` is the walker; collect extends it to archive what
it finds while the directory that holds it is open.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lz.results.find_walk import FIND, find_walk
from lz.results.manifest import DIR, OTHER, ROOT, Entry, Manifest, entry_of, root_path
from lz.results.since import clock, still_valid
from lz.results.walk import OpenDir, default_workers, open_dir, walk_tree

PARALLEL_FROM = 20_000  # entries; below this one walk beats forking
FIND_FROM = 2_000  # entries; below this a walk in Python costs less than starting find


@dataclass(frozen=True)
class Changes:
    """Sorted relative paths by what happened to them, and the current entries of the paths that
    still exist (added, modified, skipped), which collect needs to archive them."""

    added: list[str]
    modified: list[str]
    deleted: list[str]
    skipped: list[str]  # sockets, devices, fifos that are new or changed: listed, never archived
    unreadable: list[str]
    current: Mapping[str, Entry] = field(default_factory=dict, repr=False)


def differs(old: Entry, new: Entry, ctimes: bool = True) -> bool:
    """A directory's mtime, size, ctime and inode follow its contents, so only a new mode makes it a
    result. Anything else differs in any field (ctime too, unless the old manifest has none)."""
    if old[0] != new[0]:
        return True
    if new[0] == DIR:
        return old[3] != new[3]
    return old != new if ctimes else old[:6] != new[:6]


class Found:
    """What one walker found (pickled back from a forked one); new directories wait until the end
    (see ``merge``)."""

    def __init__(self) -> None:
        self.changed: dict[str, Entry] = {}
        self.added: list[str] = []
        self.modified: list[str] = []
        self.new_dirs: list[str] = []
        self.skipped: list[str] = []
        self.unreadable: list[str] = []
        self.present = 0  # entries of ``before`` seen again
        self.listed: set[str] = set()  # directories read to the end
        self.short: dict[str, set[str]] = {}  # directories holding fewer old entries than before -> names now

    def compare(self, path: str, entry: Entry, previous: Entry | None) -> str | None:
        """File ``path`` under what happened to it; returns that ("added", "modified", "skipped", "new
        directory"), or None when it did not change."""
        if previous is not None and not differs(previous, entry):
            return None
        self.changed[path] = entry
        if entry[0] == OTHER:
            self.skipped.append(path)
            return "skipped"
        if previous is not None:
            self.modified.append(path)
            return "modified"
        if entry[0] == DIR:
            self.new_dirs.append(path)
            return "new directory"
        self.added.append(path)
        return "added"


def merge(parts: Iterable[Found], deleted: list[str]) -> Changes:
    """A new directory counts as added only when nothing archived lies beneath it (an empty one,
    say): unpacking recreates the others as the parents of their contents."""
    found = Found()
    for part in parts:
        found.changed.update(part.changed)
        found.added += part.added
        found.modified += part.modified
        found.new_dirs += part.new_dirs
        found.skipped += part.skipped
        found.unreadable += part.unreadable
    holding = set()
    for path in (*found.added, *found.modified, *found.new_dirs):
        parent = path.rpartition("/")[0]
        while parent and parent not in holding:
            holding.add(parent)
            parent = parent.rpartition("/")[0]
    added = found.added + [d for d in found.new_dirs if d not in holding]
    current = {p: found.changed[p] for p in (*added, *found.modified, *found.skipped)}
    return Changes(sorted(added), sorted(found.modified), sorted(deleted), sorted(found.skipped),
                   sorted(found.unreadable), current)


def _under(path: str, unreadable: set[str]) -> bool:
    """Whether ``path`` is at or below a directory we could not read (so its fate is unknown)."""
    if ROOT in unreadable:
        return True
    while path:
        if path in unreadable:
            return True
        path = path.rpartition("/")[0]
    return False


def diff(before: Manifest, after: Manifest) -> Changes:
    """What changed between two snapshots (pure): the reference ``changes_since`` agrees with."""
    found = Found()
    old = before.entries
    for path, entry in after.entries.items():
        previous = old.get(path)
        if previous is not None and not differs(previous, entry, before.ctimes):
            continue
        found.compare(path, entry, previous)
    found.unreadable = list(after.unreadable)
    unknown = set(after.unreadable)
    gone = [p for p in old if p not in after.entries and not (unknown and _under(p, unknown))]
    return merge([found], gone)


class Comparison:
    """The walker of ``changes_since``: one process's share of the tree. ``changed`` is called for
    each entry that changed, with the descriptor of the directory that holds it still open."""

    def __init__(self, before: Manifest) -> None:
        self.before = before
        self.ctimes = 1 if before.ctimes else 0
        self.found = Found()
        self.unreadable = self.found.unreadable

    def changed(self, dir_fd: int, name: str, path: str, entry: Entry, what: str) -> None:
        """A hook for collect, which archives what is added or modified."""

    def finish(self) -> Any:
        return self.found

    def visit(self, fd: int, rel: str) -> list[str]:
        found = self.found
        try:
            names = os.listdir(fd)
        except OSError:
            found.unreadable.append(rel or ROOT)
            return []
        before = self.before.dirs.get(rel, _NONE)
        old, ctimes, stat_at = before.get, self.ctimes, os.stat
        prefix = rel + "/" if rel else ""
        subdirs, present = [], 0
        for name in names:  # the hot loop: one fstatat per entry, and nothing else for an unchanged one
            try:
                st = stat_at(name, dir_fd=fd, follow_symlinks=False)
            except OSError:
                found.unreadable.append(prefix + name)
                continue
            previous = old(name)
            if previous is not None:
                present += 1
                # the common case, decided on the stat alone: the same entry (see ``differs``). One
                # comparison of whole tuples reads the old entry's numbers without taking references
                # to them, so a forked walker writes to (and copies) the page of the entry's tuple only
                kind = previous[0]
                if kind == DIR:
                    if previous[3] == st.st_mode:
                        subdirs.append(name)
                        continue
                elif previous == (kind, st.st_size, st.st_mtime_ns, st.st_mode, st.st_ino, previous[5],
                                  st.st_ctime_ns if ctimes else 0):
                    continue
            entry = entry_of(st, name, fd, ctimes)
            what = found.compare(prefix + name, entry, previous)
            if what is not None:
                self.changed(fd, name, prefix + name, entry, what)
            if entry[0] == DIR:
                subdirs.append(name)
        if present != len(before):
            found.short[rel] = set(names)  # rare: only where something was deleted
        found.listed.add(rel)
        found.present += present
        return subdirs

    def unchanged(self, rel: str) -> bool:
        """Directory ``rel`` holds the names it held (its ctime says so, ``lz.results.find_walk``): all
        its old entries are still there. False for one the snapshot did not list (compare it in full)."""
        entries = self.before.dirs.get(rel)
        if entries is None:
            return False
        self.found.listed.add(rel)
        self.found.present += len(entries)
        return True

    def relisted(self, fd: int, rel: str) -> set[str] | None:
        """Directory ``rel`` (open as ``fd``) may have gained or lost names (its ctime is new): list it
        again to find what it lost, and compare the names it gained; returns those (None for a directory
        the snapshot did not list: compare it in full). Entries it kept are compared only where their
        own ctime is new (``lz.results.find_walk``)."""
        before = self.before.dirs.get(rel)
        if before is None:
            return None
        found = self.found
        try:
            names = os.listdir(fd)
        except OSError:
            found.unreadable.append(rel or ROOT)
            return set()
        new = [name for name in names if name not in before]
        present = len(names) - len(new)
        if present != len(before):
            found.short[rel] = set(names)
        found.listed.add(rel)
        found.present += present
        for name in new:
            self.entry(fd, rel, name)
        return set(new)

    def entry(self, fd: int, rel: str, name: str) -> None:
        """Compare one entry of directory ``rel`` (open as ``fd``) alone: its ctime is new, its
        directory's is not (or it is a directory, compared with its parent's listing)."""
        path = f"{rel}/{name}" if rel else name
        try:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except OSError:
            self.found.unreadable.append(path)
            return
        entry = entry_of(st, name, fd, self.ctimes)
        what = self.found.compare(path, entry, self.before.dirs.get(rel, _NONE).get(name))
        if what is not None:
            self.changed(fd, name, path, entry, what)


_NONE: dict[str, Entry] = {}
_C = TypeVar("_C", bound=Comparison)


def deleted_since(before: Manifest, parts: list[Found]) -> list[str]:
    """The entries of ``before`` that the walkers did not see again, where they would have."""
    deleted: list[str] = []
    if sum(part.present for part in parts) == before.entry_count():
        return deleted
    listed = set().union(*(part.listed for part in parts))
    short = {rel: names for part in parts for rel, names in part.short.items()}
    unknown = {path for part in parts for path in part.unreadable}
    for rel, entries in before.dirs.items():
        prefix = rel + "/" if rel else ""
        names = short.get(rel)
        if names is not None:
            deleted += [prefix + name for name in entries if name not in names]
        elif rel not in listed and not _under(rel, unknown):
            deleted += [prefix + name for name in entries]  # the directory is gone (or no longer one)
    return deleted


def workers_for(before: Manifest, workers: int | None, parallel_from: int = PARALLEL_FROM) -> int:
    """How many processes walk a tree that held ``before``: one below ``parallel_from`` entries."""
    workers = workers or default_workers()
    return workers if before.entry_count() >= parallel_from else 1


def by_find(before: Manifest, opener: OpenDir, find_from: int = FIND_FROM) -> bool:
    """Whether find should walk the tree (``lz.results.find_walk``): it held ``find_from`` entries or
    more, the snapshot's clock still holds, and no test swapped the way directories are opened (find
    opens them itself)."""
    return opener is open_dir and before.entry_count() >= find_from and still_valid(before.since, clock())


def compare_tree(root: str, before: Manifest, make: Callable[[int], _C], *, workers: int = 1,
                 opener: OpenDir = open_dir, spawn: Callable[[int], _C] | None = None,
                 discard: Callable[[_C], None] = lambda _: None, find: str | None = FIND,
                 find_from: int = FIND_FROM) -> list[Any]:
    """What each walker found (``finish()``): by find where ``by_find``, else (or where find failed, after
    ``discard`` of what the first comparer did) by ``workers`` processes in Python. ``make(n)`` makes
    this process's comparer, one of ``n`` walkers; ``spawn(i)`` a forked walker's; ``find`` the program
    (None: walk in Python)."""
    if find is not None and by_find(before, opener, find_from):
        assert before.since is not None
        comparer = make(1)
        if find_walk(root, before.since.ns, comparer, opener=opener, program=find):
            return [comparer.finish()]
        discard(comparer)
    return walk_tree(root, make(workers), spawn or (lambda _: make(workers)), opener=opener, workers=workers)


def changes_since(root: Path, before: Manifest, *, workers: int | None = None, opener: OpenDir = open_dir,
                  parallel_from: int = PARALLEL_FROM, find: str | None = FIND, find_from: int = FIND_FROM) -> Changes:
    """Walk ``root`` once, comparing with ``before`` as it goes: the same answer as
    ``diff(before, snapshot(root))`` without building an entry for what did not change."""
    parts = compare_tree(root_path(root), before, lambda _: Comparison(before), opener=opener,
                         workers=workers_for(before, workers, parallel_from), find=find, find_from=find_from)
    return merge(parts, deleted_since(before, parts))
