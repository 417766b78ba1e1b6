"""Turning a finished job's changes into results: ``results.tar.gz``, ``manifest.json`` and logs.

Results are built in a temporary sibling directory and renamed into place, so the results store
holds a complete result or none: collecting again after a crash throws the half-built one away and
starts over, and collecting a result that is already complete returns it unchanged (idempotent).

Each tree is collected by ``lz.results.collect_tree``: files are read while the walk holds the directory that
lists them, and on a large tree forked walkers compress into their own gzip members.

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
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import IO, Any

from lz.core.errors import CollectionError
from lz.host.fs import fsync_dir, remove_tree
from lz.results.archive import COMPRESSLEVEL, end_of_archive
from lz.results.changes import FIND_FROM, PARALLEL_FROM, workers_for
from lz.results.collect_tree import (
    DEFAULT_LIMITS,
    META,
    Budget,
    OpenFile,
    ResultLimits,
    TreeCollector,
    create_private,
    human_size,
    open_file,
    reserved,
)
from lz.results.find_walk import FIND
from lz.results.manifest import Manifest, root_path

__all__ = ["ARCHIVE", "COMPRESSLEVEL", "MANIFEST", "META", "ResultLimits", "ResultSummary", "collect", "open_file",
           "read_manifest"]

ARCHIVE = "results.tar.gz"
MANIFEST = "manifest.json"


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
        return (f"{self.over_limits} entries ({human_size(self.bytes_over_limits)}) not returned: over the results "
                f"limits; listed in the manifest")


def collect(trees: Mapping[str, tuple[Path, Manifest]], dest: Path, logs: Mapping[str, Path], *,
            opener: OpenFile = open_file, workers: int | None = None, limits: ResultLimits = DEFAULT_LIMITS,
            parallel_from: int = PARALLEL_FROM, find: str | None = FIND, find_from: int = FIND_FROM) -> ResultSummary:
    """Store what changed in each tree (archive prefix -> (root, manifest before)) and the logs
    (name -> path; a missing one is recorded as absent) under ``dest``, which must not exist yet
    unless it holds this very result already. Raises ``CollectionError`` when the store cannot be
    written. Trees of ``find_from`` entries or more are walked by ``find`` where their snapshot allows
    (``lz.results.find_walk``), else those of ``parallel_from`` entries or more by several processes."""
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
    progress = Budget(0, 0)  # what was chosen for the archive so far, for the error message
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_tree(tmp)  # left by a crash mid-collection: start over
        tmp.mkdir(mode=0o700)
        summary = _store(trees, tmp, logs, opener, limits, progress, workers_for=lambda before: workers_for(
            before, workers, parallel_from), find=(find, find_from))
        os.rename(tmp, dest)
        fsync_dir(dest.parent)
    except OSError as exc:  # writing the store; the tree's own errors are recorded per entry
        remove_tree(tmp)
        raise CollectionError(_why(exc, dest, progress.bytes)) from exc
    return summary


def _why(exc: OSError, dest: Path, chosen: int) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            vfs = os.statvfs(dest.parent)
            free = f"{human_size(vfs.f_bavail * vfs.f_frsize)} free"
        except OSError:
            free = "free space unknown"
        return (f"no space left on device writing results under {dest.parent} "
                f"(at least {human_size(chosen)} of changed files to store, {free})")
    return f"cannot write results under {dest.parent}: {exc.strerror or exc}"


def _store(trees: Mapping[str, tuple[Path, Manifest]], tmp: Path, logs: Mapping[str, Path], opener: OpenFile,
           limits: ResultLimits, progress: Budget, workers_for: Callable[[Manifest], int],
           find: tuple[str | None, int]) -> ResultSummary:
    budget = Budget(limits.max_bytes, limits.max_files)
    records: list[dict[str, Any]] = []
    length = 0
    with open(create_private(tmp / ARCHIVE), "wb", buffering=0) as raw:
        for index, (prefix, (root, before)) in enumerate(sorted(trees.items())):
            tree = TreeCollector(index, prefix, root_path(root), before, tmp, opener, limits, progress, find)
            records += tree.collect(raw, budget, workers_for(before))
            length += tree.length
        raw.write(gzip.compress(end_of_archive(length), compresslevel=COMPRESSLEVEL, mtime=0))
        os.fsync(raw.fileno())
    records.sort(key=lambda record: record["path"])
    summary = _summary(records)
    for folder in {name.rpartition("/")[0] for name in logs} - {""}:
        (tmp / folder).mkdir(mode=0o700, exist_ok=True)
    present = {name: _copy_log(os.fspath(path), tmp / name, opener) for name, path in logs.items()}
    document = {"version": 1, "entries": records, "totals": summary.to_dict(), "logs": present,
                "limits": {"results_max_bytes": limits.max_bytes, "results_max_files": limits.max_files}}
    with open(create_private(tmp / MANIFEST), "wb") as handle:
        handle.write(_manifest_json(document))
        _sync(handle)
    fsync_dir(tmp)
    return summary


def _manifest_json(document: dict[str, Any]) -> bytes:
    """One entry per line (readable, greppable) at the speed of the C encoder, which ``indent`` turns
    off; ASCII: undecodable file names travel as \\udcXX escapes."""
    entries = document.pop("entries")
    head = json.dumps(document)[:-1]
    body = ",\n".join(map(json.dumps, entries))
    return f'{head}, "entries": [\n{body}\n]}}\n'.encode("ascii")


def _check_prefix(prefix: str) -> None:
    parts = prefix.split("/")
    if prefix and (prefix.startswith("/") or any(p in ("", ".", "..") for p in parts) or reserved(prefix)):
        raise ValueError(f"archive prefix {prefix!r} is not a plain relative path outside {META}")


def _check_log_name(name: str) -> None:
    """A plain file beside the results, or one in an earlier attempt's folder (``attempt-2/stderr``)."""
    folder, _, base = name.rpartition("/")
    if folder and not re.fullmatch(r"attempt-[0-9]{1,4}", folder):
        raise ValueError(f"log name {name!r} would not be a plain file beside the results")
    if not base or base.startswith(".") or base in (ARCHIVE, MANIFEST):
        raise ValueError(f"log name {name!r} would not be a plain file beside the results")


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
    """Copy a log if it is there (a job may die before writing one): False when it is not. A log
    that fails mid-read is kept as far as it could be read; only writing the copy raises."""
    try:
        handle = opener(source, None)
    except OSError:
        return False
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return False
        with open(create_private(target), "wb") as out:
            while True:
                try:
                    chunk = handle.read(1 << 20)
                except OSError:
                    break
                if not chunk:
                    break
                out.write(chunk)
            _sync(out)
    return True


def _sync(handle: IO[Any]) -> None:
    handle.flush()
    os.fsync(handle.fileno())


def read_manifest(results_dir: Path) -> dict[str, Any]:
    """The manifest.json of a stored result."""
    return json.loads((Path(results_dir) / MANIFEST).read_text(encoding="ascii"))  # type: ignore[no-any-return]
