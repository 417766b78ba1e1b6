"""Collecting one tree into the results archive: walkers that archive what changed while they hold
the directory that lists it, within the job's limits, and the records the manifest lists.

Each returned file is opened relative to the descriptor of the directory the walk listed it from
(``lz.results.walk``: a job's leftover process swapping a directory for a symlink cannot redirect the read),
read once and hashed as it streams into the archive; on a large tree each forked walker compresses
what it finds into its own gzip member (``lz.results.archive``), within its share of the limits, and leaves
what does not fit its share to the parent, which archives it against what is left of the whole.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from lz.results.archive import Segment, append_file, member_for
from lz.results.changes import FIND_FROM, Changes, Comparison, Found, compare_tree, deleted_since, merge
from lz.results.find_walk import FIND
from lz.results.manifest import DIR, FILE, LINK, Entry, Manifest, type_name
from lz.results.walk import open_dir

META = ".lz"  # where unpacking puts the manifest and the logs: a job's own ``.lz`` is never returned

OpenFile = Callable[[str, "int | None"], BinaryIO]
"""Opens file ``name`` for reading relative to a directory descriptor (an absolute path when None);
tests inject one that fails, as open(2) would for a file the job chmod-ed, or that races."""

_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def open_file(name: str, dir_fd: int | None = None) -> BinaryIO:
    """Never through a symlink, never blocking on a fifo: an entry swapped for either since the walk
    stat-ed it fails here (and is reported unreadable) instead of being followed."""
    return open(os.open(name, _FILE_FLAGS, dir_fd=dir_fd), "rb", buffering=0)


@dataclass(frozen=True)
class ResultLimits:
    """What one job may return. 10 GiB: large enough for checkpoints and outputs a job means to
    return, small enough that a runaway job cannot fill the disk that also holds the database, and
    compressing it at gzip -1 takes about a minute. 100,000 entries: ten times a large result's
    count, and the manifest (one record each) stays around 15 MB."""

    max_bytes: int = 10 * 2**30
    max_files: int = 100_000

    def reason(self, over_files: bool) -> str:
        if over_files:
            return f"over results_max_files ({self.max_files} entries per job)"
        return f"over results_max_bytes ({human_size(self.max_bytes)} per job)"


DEFAULT_LIMITS = ResultLimits()


class Budget:
    """What a walker may still archive."""

    __slots__ = ("bytes", "files")

    def __init__(self, size: int, files: int) -> None:
        self.bytes, self.files = size, files

    def fits(self, size: int) -> bool:
        return self.files >= 1 and size <= self.bytes

    def take(self, size: int) -> bool:
        if not self.fits(size):
            return False
        self.files -= 1
        self.bytes -= size
        return True


class _Archiving(Comparison):
    """A walker that archives each added or modified entry while its directory is open, within its
    share of the budget; what does not fit its share is left for the parent."""

    def __init__(self, tree: TreeCollector, raw: BinaryIO, budget: Budget, segment_path: str = "") -> None:
        super().__init__(tree.before)
        self.tree, self.raw, self.budget, self.segment_path = tree, raw, budget, segment_path
        self.segment = Segment(raw)
        self.records: dict[str, dict[str, Any]] = {}

    def changed(self, dir_fd: int, name: str, path: str, entry: Entry, what: str) -> None:
        if what != "added" and what != "modified":
            return  # specials are skipped; new directories wait until it is known what they hold
        arcname = self.tree.arcname(path)
        if reserved(arcname):
            return  # listed as skipped at the end
        record = _archive(self.segment, self.budget, arcname, entry, what, lambda: self.tree.opener(name, dir_fd),
                          self.tree.progress)
        if record is not None:
            self.records[path] = record

    def finish(self) -> tuple[Found, dict[str, dict[str, Any]], int, int, str, int]:
        length = self.segment.close()
        if self.segment_path:  # a forked walker's own file (the whole archive is synced once, later)
            self.raw.close()
        return self.found, self.records, self.budget.bytes, self.budget.files, self.segment_path, length


class TreeCollector:
    """Collecting one tree: forked walkers, then what they left for this process."""

    def __init__(self, index: int, prefix: str, root: str, before: Manifest, tmp: Path, opener: OpenFile,
                 limits: ResultLimits, progress: Budget, find: tuple[str | None, int] = (FIND, FIND_FROM)) -> None:
        self.index, self.prefix, self.root, self.before, self.tmp = index, prefix, root, before, tmp
        self.opener, self.limits, self.progress, self.find = opener, limits, progress, find
        self.length = 0

    def arcname(self, rel: str) -> str:
        if rel == ".":  # the tree's root could not be read
            return self.prefix or "."
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def collect(self, raw: BinaryIO, budget: Budget, count: int) -> list[dict[str, Any]]:
        share = (budget.bytes // count, budget.files // count)

        def spawn(index: int) -> _Archiving:
            path = os.fspath(self.tmp / f".segment-{self.index}-{index}")
            return _Archiving(self, open(create_private(Path(path)), "wb", buffering=0), Budget(*share), path)

        own = share  # this process's walker's share: the whole budget when find walks

        def make(walkers: int) -> _Archiving:
            nonlocal own
            own = (budget.bytes // walkers, budget.files // walkers)
            return _Archiving(self, raw, Budget(*own))

        start, chosen = raw.tell(), self.progress.bytes

        def discard(walker: _Archiving) -> None:  # find failed: what it archived goes, the walk starts over
            walker.finish()
            raw.seek(start)
            raw.truncate()
            self.progress.bytes = chosen

        parts = compare_tree(self.root, self.before, make, workers=count, spawn=spawn, discard=discard,
                             find=self.find[0], find_from=self.find[1])
        records: dict[str, dict[str, Any]] = {}
        for index, (_, archived, bytes_left, files_left, segment, length) in enumerate(parts):
            records.update(archived)
            given = own if index == 0 else share  # the parent's walker comes first
            budget.bytes -= given[0] - bytes_left
            budget.files -= given[1] - files_left
            self.length += length
            if segment:
                append_file(raw, segment)
                os.unlink(segment)
        found = [part[0] for part in parts]
        changes = merge(found, deleted_since(self.before, found))
        late = Segment(raw)
        below = _Below(self.root)
        try:
            listed = self._records(changes, records, late, budget, below)
        finally:
            below.close()
            self.length += late.close()
        return listed

    def _records(self, changes: Changes, archived: dict[str, dict[str, Any]], late: Segment, budget: Budget,
                 below: _Below) -> list[dict[str, Any]]:
        """The manifest's records of this tree; archives, in path order, what the walkers left over."""
        status = dict.fromkeys(changes.added, "added")
        status.update(dict.fromkeys(changes.modified, "modified"))
        records = []
        for rel in sorted(status):
            arcname, entry = self.arcname(rel), changes.current[rel]
            record = archived.get(rel)
            if reserved(arcname):
                record = new_record(arcname, "skipped", type_name(entry), reason=f"reserved for lz's own files ({META})")
            elif record is None:  # left over by a walker's share of the budget, or a new empty directory
                record = _archive(late, budget, arcname, entry, status[rel],
                                  lambda rel=rel: below.open(rel, self.opener), self.progress)  # type: ignore[misc]
                if record is None:
                    size = entry[1] if entry[0] == FILE else 0
                    record = new_record(arcname, "skipped", type_name(entry),
                                        reason=self.limits.reason(budget.files < 1), apparent_size=size)
            records.append(record)
        for rel in changes.deleted:
            records.append(new_record(self.arcname(rel), "deleted", type_name(self.before.get(rel))))  # type: ignore[arg-type]
        for rel in changes.skipped:
            records.append(new_record(self.arcname(rel), "skipped", type_name(changes.current[rel])))
        for rel in changes.unreadable:
            records.append(new_record(self.arcname(rel), "unreadable", None))
        return records


class _Below:
    """Opens the entries of a tree by relative path the way a walk does (``lz.results.walk``: each directory
    relative to its parent, never through a symlink), keeping the last directory open: the entries
    left for it come in path order."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.rel: str | None = None
        self.fd = -1

    def open(self, rel: str, opener: OpenFile) -> BinaryIO:
        parent, _, name = rel.rpartition("/")
        if parent != self.rel:
            self.close()
            fd = open_dir(self.root)
            try:
                for part in parent.split("/") if parent else ():
                    inner = open_dir(part, fd)
                    os.close(fd)
                    fd = inner
            except OSError:
                os.close(fd)
                raise
            self.fd, self.rel = fd, parent
        return opener(name, self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.fd, self.rel = -1, None


def _archive(segment: Segment, budget: Budget, arcname: str, entry: Entry, status: str,
             open_it: Callable[[], BinaryIO], progress: Budget) -> dict[str, Any] | None:
    """One member and its record; None when it does not fit ``budget``. A file that cannot be opened
    (or is no longer a file) is unreadable. Only a write to the archive raises."""
    kind = entry[0]
    if kind != FILE:
        if not budget.take(0):
            return None
        segment.add(member_for(arcname, entry))
        if kind == LINK:
            return new_record(arcname, status, "symlink", size=0, target=entry[5])
        assert kind == DIR, kind  # specials are skipped by the comparison
        return new_record(arcname, status, "dir", size=0)
    if not budget.fits(entry[1]):
        return None
    try:
        handle = open_it()
    except OSError as exc:
        return new_record(arcname, "unreadable", "file", error=exc.strerror or str(exc))
    with handle:
        try:
            st = os.fstat(handle.fileno())
        except OSError as exc:
            return new_record(arcname, "unreadable", "file", error=exc.strerror or str(exc))
        if not stat.S_ISREG(st.st_mode):
            return new_record(arcname, "unreadable", "file", error="changed type while results were collected")
        if not budget.take(st.st_size):
            return None
        progress.bytes += st.st_size
        sha, error = segment.add(member_for(arcname, entry, st), handle)
    if error:
        return new_record(arcname, "unreadable", "file", error=f"{error} (its archived copy is incomplete)")
    return new_record(arcname, status, "file", size=st.st_size, sha256=sha)


def reserved(arcname: str) -> bool:
    return arcname == META or arcname.startswith(META + "/")


def new_record(path: str, status: str, kind: str | None, **more: Any) -> dict[str, Any]:
    return {"path": path, "status": status, "type": kind, "size": None, "sha256": None, **more}


def human_size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count} bytes" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    raise AssertionError


def create_private(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
