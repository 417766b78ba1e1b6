"""Turning a finished job's changes into results: ``results.tar.gz``, ``manifest.json`` and logs.

Results are built in a temporary sibling directory and renamed into place, so the results store
holds a complete result or none: collecting again after a crash throws the half-built one away and
starts over, and collecting a result that is already complete returns it unchanged (idempotent).

Each returned file is opened while the walk holds the directory that lists it (``lz.walk``: a job's
leftover process swapping a directory for a symlink cannot redirect the read), read once and hashed
as it streams into the archive; on a large tree each forked walker compresses what it finds into its
own gzip member (``lz.archive``).

Results are bounded per job (``ResultLimits``): what does not fit is listed in the manifest as
skipped with the reason and never read, so a 10 TiB sparse file costs one ``stat``. When the store
cannot be written (a full disk), ``CollectionError`` says why in one line after the half-built
result is removed: nothing is lost, and collecting again later redoes it.
"""

from __future__ import annotations

import errno
import gzip
import json
import os
import shutil
import stat
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import IO, Any, BinaryIO

from lz.archive import COMPRESSLEVEL, Segment, append_file, end_of_archive, member_for
from lz.changes import PARALLEL_FROM, Changes, Comparison, Found, deleted_since, merge, workers_for
from lz.errors import CollectionError
from lz.fs import remove_tree
from lz.manifest import DIR, FILE, LINK, Entry, Manifest, root_path, type_name
from lz.walk import open_dir, walk_tree

__all__ = ["ARCHIVE", "COMPRESSLEVEL", "MANIFEST", "META", "ResultLimits", "ResultSummary", "collect", "open_file",
           "read_manifest"]

ARCHIVE = "results.tar.gz"
MANIFEST = "manifest.json"
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
        return f"over results_max_bytes ({_size(self.max_bytes)} per job)"


@dataclass(frozen=True)
class ResultSummary:
    """What one collection stored, in numbers: the engine logs it, the manifest keeps it as totals.
    ``over_limits`` entries (``bytes_over_limits`` of them, by apparent size) were left out by the
    limits; they are among ``skipped``."""

    added: int = 0
    modified: int = 0
    deleted: int = 0
    skipped: int = 0
    unreadable: int = 0
    bytes_archived: int = 0
    over_limits: int = 0
    bytes_over_limits: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultSummary:
        return cls(**{f.name: int(data.get(f.name, 0)) for f in fields(cls)})

    def reason(self) -> str:
        """One line on what the limits left out, or "" when they left nothing out."""
        if not self.over_limits:
            return ""
        return (f"{self.over_limits} entries ({_size(self.bytes_over_limits)}) not returned: over the results "
                f"limits; listed in the manifest")


class _Budget:
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


def collect(trees: Mapping[str, tuple[Path, Manifest]], dest: Path, logs: Mapping[str, Path], *,
            opener: OpenFile = open_file, workers: int | None = None, limits: ResultLimits = ResultLimits(),
            parallel_from: int = PARALLEL_FROM) -> ResultSummary:
    """Store what changed in each tree (archive prefix -> (root, manifest before)) and the logs
    (name -> path; a missing one is recorded as absent) under ``dest``, which must not exist yet
    unless it holds this very result already. Raises ``CollectionError`` when the store cannot be
    written. Trees of ``parallel_from`` entries or more are walked by several processes."""
    dest = Path(dest)
    if (dest / MANIFEST).is_file():
        return ResultSummary.from_dict(read_manifest(dest)["totals"])
    if os.path.lexists(dest):
        raise FileExistsError(errno.EEXIST, "results directory exists but holds no manifest", str(dest))
    for prefix in trees:
        _check_prefix(prefix)
    for name in logs:
        _check_log_name(name)
    tmp = dest.with_name(f".{dest.name}.tmp")
    progress = _Budget(0, 0)  # what was chosen for the archive so far, for the error message
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_tree(tmp)  # left by a crash mid-collection: start over
        tmp.mkdir(mode=0o700)
        summary = _store(trees, tmp, logs, opener, limits, progress, workers_for=lambda before: workers_for(
            before, workers, parallel_from))
        os.rename(tmp, dest)
        _sync_dir(dest.parent)
    except OSError as exc:  # writing the store; the tree's own errors are recorded per entry
        remove_tree(tmp)
        raise CollectionError(_why(exc, dest, progress.bytes)) from exc
    return summary


def _why(exc: OSError, dest: Path, chosen: int) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            vfs = os.statvfs(dest.parent)
            free = f"{_size(vfs.f_bavail * vfs.f_frsize)} free"
        except OSError:
            free = "free space unknown"
        return (f"no space left on device writing results under {dest.parent} "
                f"(at least {_size(chosen)} of changed files to store, {free})")
    return f"cannot write results under {dest.parent}: {exc.strerror or exc}"


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count} bytes" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    raise AssertionError


def _store(trees: Mapping[str, tuple[Path, Manifest]], tmp: Path, logs: Mapping[str, Path], opener: OpenFile,
           limits: ResultLimits, progress: _Budget, workers_for: Callable[[Manifest], int]) -> ResultSummary:
    budget = _Budget(limits.max_bytes, limits.max_files)
    records: list[dict[str, Any]] = []
    length = 0
    with open(_create(tmp / ARCHIVE), "wb", buffering=0) as raw:
        for index, (prefix, (root, before)) in enumerate(sorted(trees.items())):
            tree = _Tree(index, prefix, root_path(root), before, tmp, opener, limits, progress)
            records += tree.collect(raw, budget, workers_for(before))
            length += tree.length
        raw.write(gzip.compress(end_of_archive(length), compresslevel=COMPRESSLEVEL, mtime=0))
        os.fsync(raw.fileno())
    records.sort(key=lambda record: record["path"])
    summary = _summary(records)
    present = {name: _copy_log(os.fspath(path), tmp / name, opener) for name, path in logs.items()}
    document = {"version": 1, "entries": records, "totals": summary.to_dict(), "logs": present,
                "limits": {"results_max_bytes": limits.max_bytes, "results_max_files": limits.max_files}}
    with open(_create(tmp / MANIFEST), "wb") as handle:
        handle.write(_manifest_json(document))
        _sync(handle)
    _sync_dir(tmp)
    return summary


def _manifest_json(document: dict[str, Any]) -> bytes:
    """One entry per line (readable, greppable) at the speed of the C encoder, which ``indent`` turns
    off; ASCII: undecodable file names travel as \\udcXX escapes."""
    entries = document.pop("entries")
    head = json.dumps(document)[:-1]
    body = ",\n".join(map(json.dumps, entries))
    return f'{head}, "entries": [\n{body}\n]}}\n'.encode("ascii")


def _create(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)


class _Archiving(Comparison):
    """A walker that archives each added or modified entry while its directory is open, within its
    share of the budget; what does not fit its share is left for the parent."""

    def __init__(self, tree: _Tree, raw: BinaryIO, budget: _Budget, segment_path: str = "") -> None:
        super().__init__(tree.before)
        self.tree, self.raw, self.budget, self.segment_path = tree, raw, budget, segment_path
        self.segment = Segment(raw)
        self.records: dict[str, dict[str, Any]] = {}

    def changed(self, dir_fd: int, name: str, path: str, entry: Entry, what: str) -> None:
        if what != "added" and what != "modified":
            return  # specials are skipped; new directories wait until it is known what they hold
        arcname = self.tree.arcname(path)
        if _reserved(arcname):
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


class _Tree:
    """Collecting one tree: forked walkers, then what they left for this process."""

    def __init__(self, index: int, prefix: str, root: str, before: Manifest, tmp: Path, opener: OpenFile,
                 limits: ResultLimits, progress: _Budget) -> None:
        self.index, self.prefix, self.root, self.before, self.tmp = index, prefix, root, before, tmp
        self.opener, self.limits, self.progress = opener, limits, progress
        self.length = 0

    def arcname(self, rel: str) -> str:
        if rel == ".":  # the tree's root could not be read
            return self.prefix or "."
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def collect(self, raw: BinaryIO, budget: _Budget, count: int) -> list[dict[str, Any]]:
        share = (budget.bytes // count, budget.files // count)

        def spawn(index: int) -> _Archiving:
            path = os.fspath(self.tmp / f".segment-{self.index}-{index}")
            return _Archiving(self, open(_create(Path(path)), "wb", buffering=0), _Budget(*share), path)

        parts = walk_tree(self.root, _Archiving(self, raw, _Budget(*share)), spawn, workers=count)
        records: dict[str, dict[str, Any]] = {}
        for _, archived, bytes_left, files_left, segment, length in parts:
            records.update(archived)
            budget.bytes -= share[0] - bytes_left
            budget.files -= share[1] - files_left
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

    def _records(self, changes: Changes, archived: dict[str, dict[str, Any]], late: Segment, budget: _Budget,
                 below: _Below) -> list[dict[str, Any]]:
        """The manifest's records of this tree; archives, in path order, what the walkers left over."""
        status = dict.fromkeys(changes.added, "added")
        status.update(dict.fromkeys(changes.modified, "modified"))
        records = []
        for rel in sorted(status):
            arcname, entry = self.arcname(rel), changes.current[rel]
            record = archived.get(rel)
            if _reserved(arcname):
                record = _record(arcname, "skipped", type_name(entry), reason=f"reserved for lz's own files ({META})")
            elif record is None:  # left over by a walker's share of the budget, or a new empty directory
                record = _archive(late, budget, arcname, entry, status[rel],
                                  lambda rel=rel: below.open(rel, self.opener), self.progress)  # type: ignore[misc]
                if record is None:
                    size = entry[1] if entry[0] == FILE else 0
                    record = _record(arcname, "skipped", type_name(entry), reason=self.limits.reason(budget.files < 1),
                                     apparent_size=size)
            records.append(record)
        for rel in changes.deleted:
            records.append(_record(self.arcname(rel), "deleted", type_name(self.before.get(rel))))  # type: ignore[arg-type]
        for rel in changes.skipped:
            records.append(_record(self.arcname(rel), "skipped", type_name(changes.current[rel])))
        for rel in changes.unreadable:
            records.append(_record(self.arcname(rel), "unreadable", None))
        return records


class _Below:
    """Opens the entries of a tree by relative path the way a walk does (``lz.walk``: each directory
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


def _archive(segment: Segment, budget: _Budget, arcname: str, entry: Entry, status: str,
             open_it: Callable[[], BinaryIO], progress: _Budget) -> dict[str, Any] | None:
    """One member and its record; None when it does not fit ``budget``. A file that cannot be opened
    (or is no longer a file) is unreadable. Only a write to the archive raises."""
    kind = entry[0]
    if kind != FILE:
        if not budget.take(0):
            return None
        segment.add(member_for(arcname, entry))
        if kind == LINK:
            return _record(arcname, status, "symlink", size=0, target=entry[5])
        assert kind == DIR, kind  # specials are skipped by the comparison
        return _record(arcname, status, "dir", size=0)
    if not budget.fits(entry[1]):
        return None
    try:
        handle = open_it()
    except OSError as exc:
        return _record(arcname, "unreadable", "file", error=exc.strerror or str(exc))
    with handle:
        try:
            st = os.fstat(handle.fileno())
        except OSError as exc:
            return _record(arcname, "unreadable", "file", error=exc.strerror or str(exc))
        if not stat.S_ISREG(st.st_mode):
            return _record(arcname, "unreadable", "file", error="changed type while results were collected")
        if not budget.take(st.st_size):
            return None
        progress.bytes += st.st_size
        sha, error = segment.add(member_for(arcname, entry, st), handle)
    if error:
        return _record(arcname, "unreadable", "file", error=f"{error} (its archived copy is incomplete)")
    return _record(arcname, status, "file", size=st.st_size, sha256=sha)


def _reserved(arcname: str) -> bool:
    return arcname == META or arcname.startswith(META + "/")


def _check_prefix(prefix: str) -> None:
    parts = prefix.split("/")
    if prefix and (prefix.startswith("/") or any(p in ("", ".", "..") for p in parts) or _reserved(prefix)):
        raise ValueError(f"archive prefix {prefix!r} is not a plain relative path outside {META}")


def _check_log_name(name: str) -> None:
    if not name or "/" in name or name.startswith(".") or name in (ARCHIVE, MANIFEST):
        raise ValueError(f"log name {name!r} would not be a plain file beside the results")


def _record(path: str, status: str, kind: str | None, **more: Any) -> dict[str, Any]:
    return {"path": path, "status": status, "type": kind, "size": None, "sha256": None, **more}


def _summary(records: list[dict[str, Any]]) -> ResultSummary:
    counts = dict.fromkeys(("added", "modified", "deleted", "skipped", "unreadable"), 0)
    archived = over = over_bytes = 0
    for record in records:
        counts[record["status"]] += 1
        if record["sha256"]:
            archived += record["size"]
        if "apparent_size" in record:
            over += 1
            over_bytes += record["apparent_size"]
    return ResultSummary(**counts, bytes_archived=archived, over_limits=over, bytes_over_limits=over_bytes)


def _copy_log(source: str, target: Path, opener: OpenFile) -> bool:
    """Copy a log if it is there (a job may die before writing one): False when it is not."""
    try:
        handle = opener(source, None)
    except OSError:
        return False
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return False
        with open(_create(target), "wb") as out:
            shutil.copyfileobj(handle, out, 1 << 20)
            _sync(out)
    return True


def _sync(handle: IO[Any]) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(results_dir: Path) -> dict[str, Any]:
    """The manifest.json of a stored result."""
    return json.loads((Path(results_dir) / MANIFEST).read_text(encoding="ascii"))  # type: ignore[no-any-return]
