"""Turning a finished job's changes into results: ``results.tar.gz``, ``manifest.json`` and logs.

Results are built in a temporary sibling directory and renamed into place, so the results store
holds a complete result or none: collecting again after a crash throws the half-built one away and
starts over, and collecting a result that is already complete returns it unchanged (idempotent).
Each returned file is read once, hashed while it streams into the archive.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import IO, Any, BinaryIO

from lz.errors import UserError
from lz.fs import remove_tree
from lz.manifest import DIR, FILE, LINK, Changes, Entry, Manifest, changes_since, type_name

ARCHIVE = "results.tar.gz"
MANIFEST = "manifest.json"
META = ".lz"  # where unpacking puts the manifest and the logs, beside the job's files
COMPRESSLEVEL = 1  # speed matters more than size: results are mostly read once, nearby

OpenFile = Callable[[str], BinaryIO]
"""Opens a file for reading; tests inject one that fails, as open(2) would for a file the job chmod-ed."""


def open_file(path: str) -> BinaryIO:
    """Never through a symlink, never blocking on a fifo: a file swapped for either since the walk
    fails here (and is reported unreadable) instead of being followed."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    return open(fd, "rb")


@dataclass(frozen=True)
class ResultSummary:
    """What one collection stored, in numbers: the engine logs it, the manifest keeps it as totals."""

    added: int = 0
    modified: int = 0
    deleted: int = 0
    skipped: int = 0
    unreadable: int = 0
    bytes_archived: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResultSummary:
        return cls(**{f.name: int(data.get(f.name, 0)) for f in fields(cls)})


def collect(trees: Mapping[str, tuple[Path, Manifest]], dest: Path, logs: Mapping[str, Path], *,
            opener: OpenFile = open_file, workers: int | None = None) -> ResultSummary:
    """Store what changed in each tree (archive prefix -> (root, manifest before)) and the logs
    (name -> path; a missing one is recorded as absent) under ``dest``, which must not exist yet
    unless it holds this very result already."""
    dest = Path(dest)
    if (dest / MANIFEST).is_file():
        return ResultSummary.from_dict(read_manifest(dest)["totals"])
    if os.path.lexists(dest):
        raise FileExistsError(errno.EEXIST, "results directory exists but holds no manifest", str(dest))
    for prefix in trees:
        _check_prefix(prefix)
    for name in logs:
        _check_log_name(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    remove_tree(tmp)  # left by a crash mid-collection: start over
    tmp.mkdir()
    records: list[dict[str, Any]] = []
    with open(tmp / ARCHIVE, "wb") as raw:
        with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=COMPRESSLEVEL, format=tarfile.GNU_FORMAT) as tar:
            tar.copybufsize = 1 << 20  # type: ignore[attr-defined]  # not 16 KiB reads of large files
            for prefix, (root, before) in sorted(trees.items()):
                changes = changes_since(root, before, workers=workers)
                records += _archive_changes(tar, prefix, os.fspath(root), before, changes, opener)
        _sync(raw)
    records.sort(key=lambda record: record["path"])
    summary = _summary(records)
    present = {name: _copy_log(os.fspath(path), tmp / name, opener) for name, path in logs.items()}
    document = {"version": 1, "entries": records, "totals": summary.to_dict(), "logs": present}
    with open(tmp / MANIFEST, "w", encoding="ascii") as handle:
        json.dump(document, handle, indent=1)  # ASCII: undecodable file names travel as \udcXX escapes
        _sync(handle)
    _sync_dir(tmp)
    os.rename(tmp, dest)
    _sync_dir(dest.parent)
    return summary


def _check_prefix(prefix: str) -> None:
    parts = prefix.split("/")
    if prefix and (prefix.startswith("/") or any(p in ("", ".", "..") for p in parts)):
        raise ValueError(f"archive prefix {prefix!r} is not a plain relative path")


def _check_log_name(name: str) -> None:
    if not name or "/" in name or name.startswith(".") or name in (ARCHIVE, MANIFEST):
        raise ValueError(f"log name {name!r} would not be a plain file beside the results")


def _archive_changes(tar: tarfile.TarFile, prefix: str, root: str, before: Manifest, changes: Changes,
                     opener: OpenFile) -> list[dict[str, Any]]:
    """Archive the added and modified entries of one tree; list everything that changed."""
    status = dict.fromkeys(changes.added, "added")
    status.update(dict.fromkeys(changes.modified, "modified"))
    records = [_archive(tar, root, rel, _arcname(prefix, rel), changes.current[rel], status[rel], opener)
               for rel in sorted(status)]  # sorted: a directory comes before what it holds
    for rel in changes.deleted:
        records.append(_record(_arcname(prefix, rel), "deleted", type_name(before.entries[rel])))
    for rel in changes.skipped:
        records.append(_record(_arcname(prefix, rel), "skipped", type_name(changes.current[rel])))
    for rel in changes.unreadable:
        records.append(_record(_arcname(prefix, rel), "unreadable", None))
    return records


def _record(path: str, status: str, kind: str | None, **more: Any) -> dict[str, Any]:
    return {"path": path, "status": status, "type": kind, "size": None, "sha256": None, **more}


def _arcname(prefix: str, rel: str) -> str:
    if rel == ".":  # the tree's root could not be read
        return prefix or "."
    return f"{prefix}/{rel}" if prefix else rel


def _archive(tar: tarfile.TarFile, root: str, rel: str, arcname: str, entry: Entry, status: str,
             opener: OpenFile) -> dict[str, Any]:
    """One member; a file that cannot be opened (or is no longer what the walk saw) is unreadable."""
    path = os.path.join(root, rel)
    kind = entry[0]
    try:
        if kind == FILE:
            with opener(path) as handle:
                st = _expect(os.fstat(handle.fileno()), stat.S_ISREG, path)
                info = _info(arcname, st, tarfile.REGTYPE)
                reader = _Exactly(handle)
                tar.addfile(info, reader)  # type: ignore[arg-type]
            if reader.error:
                return _record(arcname, "unreadable", "file", error=f"{reader.error} (its archived copy is incomplete)")
            return _record(arcname, status, "file", size=info.size, sha256=reader.sha.hexdigest())
        if kind == LINK:
            st = _expect(os.lstat(path), stat.S_ISLNK, path)
            target = os.readlink(path)
            tar.addfile(_info(arcname, st, tarfile.SYMTYPE, linkname=target))
            return _record(arcname, status, "symlink", size=0, target=target)
        if kind == DIR:
            tar.addfile(_info(arcname, _expect(os.lstat(path), stat.S_ISDIR, path), tarfile.DIRTYPE))
            return _record(arcname, status, "dir", size=0)
        raise AssertionError(f"never archived: {kind!r}")  # specials are skipped by the diff
    except OSError as exc:
        return _record(arcname, "unreadable", type_name(entry), error=exc.strerror or str(exc))


def _expect(st: os.stat_result, is_kind: Callable[[int], bool], path: str) -> os.stat_result:
    if not is_kind(st.st_mode):
        raise OSError(errno.ESTALE, "changed type while results were collected", path)
    return st


class _Exactly:
    """Gives tarfile exactly the bytes its header announced, hashing them as they pass: a file that
    shrinks or fails mid-read is padded with zeros (and reported), so the archive stays well-formed."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.sha = hashlib.sha256()
        self.error = ""

    def read(self, size: int) -> bytes:
        data = b""
        if not self.error:
            try:
                data = self.handle.read(size)
            except OSError as exc:
                self.error = f"read failed: {exc.strerror or exc}"
            if len(data) < size and not self.error:
                self.error = "it shrank while it was archived"
        if len(data) < size:
            data += bytes(size - len(data))
        self.sha.update(data)
        return data


def _info(name: str, st: os.stat_result, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    """A TarInfo from a stat we already have (tarfile's gettarinfo looks up user names per file)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = st.st_mtime
    info.size = st.st_size if kind == tarfile.REGTYPE else 0
    info.linkname = linkname
    info.uid, info.gid = st.st_uid, st.st_gid
    return info


def _summary(records: list[dict[str, Any]]) -> ResultSummary:
    counts = dict.fromkeys(("added", "modified", "deleted", "skipped", "unreadable"), 0)
    archived = 0
    for record in records:
        counts[record["status"]] += 1
        if record["sha256"]:
            archived += record["size"]
    return ResultSummary(**counts, bytes_archived=archived)


def _copy_log(source: str, target: Path, opener: OpenFile) -> bool:
    """Copy a log if it is there (a job may die before writing one): False when it is not."""
    try:
        handle = opener(source)
    except OSError:
        return False
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            return False
        with open(target, "wb") as out:
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


def unpack_results(results_dir: Path, out_dir: Path) -> None:
    """The job's files at their paths under ``out_dir``; the manifest and logs under ``out_dir/.lz/``.

    We wrote the archive, but it holds what a job made, so members that would land outside
    ``out_dir`` (through ``..`` or a symlink extracted earlier) are refused, as are device nodes."""
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    if not (results_dir / MANIFEST).is_file():
        raise UserError(f"{results_dir} holds no complete results")
    document = read_manifest(results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(results_dir / ARCHIVE, "r:gz") as tar:
            tar.extractall(out_dir, filter=_within)
    except tarfile.FilterError as exc:
        raise UserError(f"refusing to unpack the results into {out_dir}: {exc}") from exc
    meta = out_dir / META
    if meta.is_symlink() or (meta.exists() and not meta.is_dir()):
        raise UserError(f"cannot put the manifest and logs in {meta}: it exists and is not a directory")
    meta.mkdir(exist_ok=True)
    _replace(results_dir / MANIFEST, meta / MANIFEST)
    for name, present in document.get("logs", {}).items():
        if present:
            _replace(results_dir / name, meta / name)


def _within(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
    """tarfile's ``tar`` filter (stays inside ``dest``, drops setuid bits), and only the kinds we write;
    symlinks are results too, so they are restored as links wherever they point."""
    if not (member.isreg() or member.isdir() or member.issym()):
        raise tarfile.SpecialFileError(member)
    return tarfile.tar_filter(member, dest)


def _replace(source: Path, target: Path) -> None:
    """Copy, replacing (never writing through) whatever the job's files put at ``target``."""
    if target.is_symlink() or target.is_file():
        target.unlink()
    shutil.copyfile(source, target)
