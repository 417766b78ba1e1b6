"""Snapshots of a tree, and what changed since one.

A snapshot is one ``lstat`` per entry (never following symlinks, never reading contents), kept as
plain tuples so 100,000 entries stay cheap; hashing happens only for returned files, in collect.

Kernel calls, not Python, set the pace of a walk, so it is tuned for them: each directory is opened
once and its entries are ``stat``-ed relative to that descriptor (``fstatat``, no per-entry path
lookup). After a job, ``changes_since`` compares while it walks, so unchanged entries (nearly all)
never become Python objects, and on a large tree forked processes share the walk; ``diff`` is the
pure reference it must agree with.
"""

from __future__ import annotations

import json
import os
import pickle
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lz.fs import special_kind

FILE, DIR, LINK, OTHER = "f", "d", "l", "o"
ROOT = "."  # how the walked root itself is named in ``unreadable``

# (kind, size, mtime_ns, mode, inode, link target or ""); size is 0 for directories and specials
Entry = tuple[str, int, int, int, int, str]

OpenDir = Callable[[str], int]
"""Opens a directory by path for reading and returns its descriptor; tests inject failures here."""

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def open_dir(path: str) -> int:
    """Never through a symlink: a directory swapped for a link mid-walk fails (ELOOP) instead of
    leading the walk out of the tree."""
    return os.open(path, _DIR_FLAGS | os.O_NOFOLLOW)


PARALLEL_FROM = 20_000  # entries; below this one walk beats forking


def default_workers() -> int:
    """Processes walking a large tree at once (``stat`` calls, not Python, set the pace)."""
    return max(1, min(4, os.cpu_count() or 1))


@dataclass
class Manifest:
    """Relative POSIX path -> Entry; the paths that could not be read; and, per directory ("" is
    the root), how many entries it held, so a later walk can tell where something was deleted."""

    entries: dict[str, Entry] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    children: dict[str, int] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        """Atomically (temp + fsync + rename): a crash leaves the old file or the new one. Stored as
        columns, one JSON array per field, which is about half the size of a record per entry."""
        paths = list(self.entries)
        values = list(self.entries.values())
        document = {
            "version": 2,
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
        _write_atomically(path, json.dumps(document, separators=(",", ":")).encode("ascii"))

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = json.loads(path.read_bytes())
        if data.get("version") == 1:  # the record-per-entry format of the first release
            entries = {p: tuple(e) for p, e in data["entries"].items()}
            return cls(entries, list(data.get("unreadable", [])), _children_of(entries))  # type: ignore[arg-type]
        targets = [""] * len(data["paths"])
        for index, target in data["targets"].items():
            targets[int(index)] = target
        rows = zip(data["kinds"], data["sizes"], data["mtimes"], data["modes"], data["inodes"], targets)
        return cls(dict(zip(data["paths"], rows)), list(data["unreadable"]), dict(data["children"]))


def _write_atomically(path: Path, payload: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
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


def _entry(st: os.stat_result, name: str, dir_fd: int) -> Entry:
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return (FILE, st.st_size, st.st_mtime_ns, mode, st.st_ino, "")
    if stat.S_ISDIR(mode):
        return (DIR, 0, st.st_mtime_ns, mode, st.st_ino, "")
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError:
            target = ""
        return (LINK, st.st_size, st.st_mtime_ns, mode, st.st_ino, target)
    return (OTHER, 0, st.st_mtime_ns, mode, st.st_ino, "")


def type_name(entry: Entry) -> str:
    """The word results use for an entry's type."""
    kind, mode = entry[0], entry[3]
    if kind != OTHER:
        return {FILE: "file", DIR: "dir", LINK: "symlink"}[kind]
    name = special_kind(mode)
    return "other" if name == "special" else name


# -- walking ----------------------------------------------------------------------------------------

S = TypeVar("S")
Visit = Callable[[str, str, S], list[tuple[str, str]]]


def _walk(pending: list[tuple[str, str]], visit: Visit[S], state: S) -> None:
    """Depth first from the (path, rel) directories in ``pending``; ``visit`` returns the subdirectories."""
    while pending:
        path, rel = pending.pop()
        pending.extend(visit(path, rel, state))


class _Snapshot:
    def __init__(self, open_dir: OpenDir) -> None:
        self.open_dir = open_dir
        self.entries: dict[str, Entry] = {}
        self.unreadable: list[str] = []
        self.children: dict[str, int] = {}


def _visit_snapshot(path: str, rel: str, found: _Snapshot) -> list[tuple[str, str]]:
    try:
        fd = found.open_dir(path)
    except OSError:
        found.unreadable.append(rel or ROOT)
        return []
    prefix = rel + "/" if rel else ""
    entries, subdirs, count = found.entries, [], 0
    try:
        with os.scandir(fd) as scan:
            for item in scan:
                name = item.name
                try:
                    entry = _entry(item.stat(follow_symlinks=False), name, fd)
                except OSError:  # vanished mid-walk, or a stat the kernel refused
                    found.unreadable.append(prefix + name)
                    continue
                entries[prefix + name] = entry
                count += 1
                if entry[0] == DIR:
                    subdirs.append((f"{path}/{name}", prefix + name))
    except OSError:  # the listing itself broke off: what was read stays, the directory is flagged
        found.unreadable.append(rel or ROOT)
    finally:
        os.close(fd)
    found.children[rel] = count
    return subdirs


def snapshot(root: Path, *, opener: OpenDir = open_dir) -> Manifest:
    """Walk ``root`` without following symlinks; unreadable directories are listed, not fatal."""
    found = _Snapshot(opener)
    _walk([(_root_path(root), "")], _visit_snapshot, found)
    return Manifest(found.entries, sorted(found.unreadable), found.children)


def _root_path(root: Path) -> str:
    """The root's own symlinks are resolved (only those below it are never followed)."""
    return os.path.realpath(root)


# -- comparing --------------------------------------------------------------------------------------


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


def _differs(old: Entry, new: Entry) -> bool:
    """A directory's mtime, size and inode follow its contents, so only a new mode makes it a result."""
    if old[0] != new[0]:
        return True
    if new[0] == DIR:
        return old[3] != new[3]
    return old != new


class _Found:
    """What a comparison finds; new directories wait until the end (see ``_changes``)."""

    def __init__(self) -> None:
        self.changed: dict[str, Entry] = {}
        self.added: list[str] = []
        self.modified: list[str] = []
        self.new_dirs: list[str] = []
        self.skipped: list[str] = []
        self.unreadable: list[str] = []

    def compare(self, path: str, entry: Entry, previous: Entry | None) -> None:
        if previous is not None and not _differs(previous, entry):
            return
        self.changed[path] = entry
        if entry[0] == OTHER:
            self.skipped.append(path)
        elif previous is not None:
            self.modified.append(path)
        elif entry[0] == DIR:
            self.new_dirs.append(path)
        else:
            self.added.append(path)


def _changes(parts: Iterable[_Found], deleted: list[str]) -> Changes:
    """Merge; a new directory counts as added only when nothing archived lies beneath it (an empty
    one, say): unpacking recreates the others as the parents of their contents."""
    found = _Found()
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
    found = _Found()
    old = before.entries
    for path, entry in after.entries.items():
        found.compare(path, entry, old.get(path))
    found.unreadable = list(after.unreadable)
    unknown = set(after.unreadable)
    gone = [p for p in old if p not in after.entries and not (unknown and _under(p, unknown))]
    return _changes([found], gone)


class _Comparison(_Found):
    """What ``changes_since`` finds in one process's share of the tree."""

    def __init__(self, before: Manifest, opener: OpenDir) -> None:
        super().__init__()
        self.before = before
        self.open_dir = opener
        self.present = 0  # entries of ``before`` seen again
        self.listed: set[str] = set()  # directories read to the end
        self.short: dict[str, set[str]] = {}  # directories holding fewer old entries than before -> names now

    def result(self) -> dict[str, Any]:
        """What a forked walker sends back (everything but the manifest it was given)."""
        return {name: getattr(self, name) for name in _SENT}

    def adopt(self, result: dict[str, Any]) -> None:
        for name in _SENT:
            setattr(self, name, result[name])


_SENT = ("changed", "added", "modified", "new_dirs", "skipped", "unreadable", "present", "listed", "short")


def _visit_comparing(path: str, rel: str, found: _Comparison) -> list[tuple[str, str]]:
    try:
        fd = found.open_dir(path)
    except OSError:
        found.unreadable.append(rel or ROOT)
        return []
    old = found.before.entries.get
    prefix = rel + "/" if rel else ""
    subdirs, present = [], 0
    try:
        with os.scandir(fd) as scan:
            for item in scan:
                name = item.name
                key = prefix + name
                try:
                    st = item.stat(follow_symlinks=False)
                except OSError:
                    found.unreadable.append(key)
                    continue
                previous = old(key)
                if previous is not None:
                    present += 1
                    # the common case, decided on the stat alone: the same entry (see ``_differs``)
                    if previous[3] == st.st_mode and (previous[0] == DIR or (
                            previous[2] == st.st_mtime_ns and previous[1] == st.st_size and previous[4] == st.st_ino)):
                        if previous[0] == DIR:
                            subdirs.append((f"{path}/{name}", key))
                        continue
                entry = _entry(st, name, fd)
                found.compare(key, entry, previous)
                if entry[0] == DIR:
                    subdirs.append((f"{path}/{name}", key))
            if present != found.before.children.get(rel, 0):
                found.short[rel] = set(os.listdir(fd))  # rare: only where something was deleted
        found.listed.add(rel)
    except OSError:
        found.unreadable.append(rel or ROOT)
    finally:
        os.close(fd)
    found.present += present
    return subdirs


def changes_since(root: Path, before: Manifest, *, workers: int | None = None, opener: OpenDir = open_dir,
                  parallel_from: int = PARALLEL_FROM) -> Changes:
    """Walk ``root`` once, comparing with ``before`` as it goes: the same answer as
    ``diff(before, snapshot(root))`` without building an entry for what did not change.

    From ``parallel_from`` entries on, forked processes walk shares of the tree beside this one
    (see ``_fork_walker``)."""
    workers = workers or default_workers()
    here = _Comparison(before, opener)
    pending = [(_root_path(root), "")]
    parts = [here]
    if workers > 1 and len(before.entries) >= parallel_from:
        while pending and len(pending) < 4 * workers:  # breadth first until there is enough to share
            path, rel = pending.pop(0)
            pending.extend(_visit_comparing(path, rel, here))
        shares = [pending[i::workers] for i in range(workers)]
        children = [(_fork_walker(share, before, opener), share) for share in shares[1:] if share]
        _walk(shares[0], _visit_comparing, here)
        parts += [_gather(child, share, before, opener) for child, share in children]
    else:
        _walk(pending, _visit_comparing, here)
    deleted: list[str] = []
    if sum(part.present for part in parts) != len(before.entries):
        listed = set().union(*(part.listed for part in parts))
        short = {rel: names for part in parts for rel, names in part.short.items()}
        unknown = {path for part in parts for path in part.unreadable}
        for path in before.entries:
            parent, _, name = path.rpartition("/")
            names = short.get(parent)
            if names is not None:
                if name not in names:
                    deleted.append(path)
            elif parent not in listed and not _under(parent, unknown):
                deleted.append(path)  # its directory is gone (or is no longer a directory)
    return _changes(parts, deleted)


def _fork_walker(share: list[tuple[str, str]], before: Manifest, opener: OpenDir) -> tuple[int, int]:
    """A child process walking ``share``, its findings pickled into a pipe; returns (pid, read end).

    Processes, not threads: a walk is mostly ``stat`` calls, and two threads handing the GIL to and
    fro on each one are slower than one. Forking a threaded daemon is safe here because the child
    only lists, stats and writes to its pipe (no locks, logging or database), then leaves through
    ``os._exit`` without running any of the parent's exit code."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read_end)
            found = _Comparison(before, opener)
            _walk(list(share), _visit_comparing, found)
            with open(write_end, "wb") as pipe:
                pickle.dump(found.result(), pipe, protocol=pickle.HIGHEST_PROTOCOL)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def _gather(child: tuple[int, int], share: list[tuple[str, str]], before: Manifest, opener: OpenDir) -> _Comparison:
    """A child's findings; should it have failed, its share is walked again here."""
    pid, read_end = child
    with open(read_end, "rb") as pipe:
        data = pipe.read()
    status = os.waitpid(pid, 0)[1]
    found = _Comparison(before, opener)
    if status == 0 and data:
        found.adopt(pickle.loads(data))
    else:
        _walk(list(share), _visit_comparing, found)
    return found
