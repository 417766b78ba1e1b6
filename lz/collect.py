"""Turning a finished job's changes into results: ``results.tar.gz``, ``manifest.json`` and logs.

Results are built in a temporary sibling directory and renamed into place, so the results store
holds a complete result or none; collecting again after a crash finds the complete one and
returns it unchanged (idempotent).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tarfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from lz.manifest import DIR, FILE, LINK, Manifest, changes_since

ARCHIVE = "results.tar.gz"
MANIFEST = "manifest.json"
LOG_NAMES = ("stdout", "stderr", "build.log")


@dataclass(frozen=True)
class ResultSummary:
    added: int = 0
    modified: int = 0
    deleted: int = 0
    skipped: int = 0
    unreadable: int = 0
    bytes_archived: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class _HashingReader:
    """Feeds tarfile while hashing, so each returned file is read exactly once."""

    def __init__(self, handle: IO[bytes]):
        self.handle = handle
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.sha.update(data)
        return data


def collect(trees: Mapping[str, tuple[Path, Manifest]], dest: Path, logs: Mapping[str, Path]) -> ResultSummary:
    """Store what changed in each tree (archive prefix -> (root, manifest before)) under ``dest``."""
    if (dest / MANIFEST).exists():
        return ResultSummary(**json.loads((dest / MANIFEST).read_text())["totals"])
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    records: list[dict[str, Any]] = []
    counts = {"added": 0, "modified": 0, "deleted": 0, "skipped": 0, "unreadable": 0, "bytes_archived": 0}
    with tarfile.open(tmp / ARCHIVE, "w:gz", compresslevel=1, format=tarfile.GNU_FORMAT) as tar:
        for prefix, (root, before) in sorted(trees.items()):
            changes, current = changes_since(root, before)
            for status, paths in (("added", changes.added), ("modified", changes.modified)):
                for rel in paths:
                    record = _archive(tar, root, rel, _arcname(prefix, rel), current[rel][0], status)
                    records.append(record)
                    counts[record["status"]] += 1
                    counts["bytes_archived"] += record.get("size") or 0
            for status, paths in (("deleted", changes.deleted), ("skipped", changes.skipped),
                                  ("unreadable", changes.unreadable)):
                for rel in paths:
                    records.append({"path": _arcname(prefix, rel), "status": status, "type": None})
                    counts[status] += 1
    summary = ResultSummary(**counts)
    copied = {}
    for name, path in logs.items():
        try:
            shutil.copyfile(path, tmp / name)
            copied[name] = True
        except OSError:
            copied[name] = False
    document = {"version": 1, "entries": records, "totals": summary.to_dict(), "logs": copied}
    (tmp / MANIFEST).write_text(json.dumps(document, indent=1, ensure_ascii=False))
    _fsync_dir(tmp)
    os.rename(tmp, dest)
    _fsync_dir(dest.parent)
    return summary


def _arcname(prefix: str, rel: str) -> str:
    return f"{prefix}/{rel}" if prefix else rel


def _archive(tar: tarfile.TarFile, root: Path, rel: str, arcname: str, kind: str, status: str) -> dict[str, Any]:
    path = os.path.join(root, rel)
    record: dict[str, Any] = {"path": arcname, "status": status}
    try:
        if kind == FILE:
            with open(path, "rb") as handle:
                info = _info(arcname, os.fstat(handle.fileno()), tarfile.REGTYPE)
                reader = _HashingReader(handle)
                tar.addfile(info, reader)  # type: ignore[arg-type]
            record.update(type="file", size=info.size, sha256=reader.sha.hexdigest())
        elif kind == LINK:
            info = _info(arcname, os.lstat(path), tarfile.SYMTYPE, linkname=os.readlink(path))
            tar.addfile(info)
            record.update(type="symlink", target=info.linkname, size=0)
        elif kind == DIR:
            tar.addfile(_info(arcname, os.lstat(path), tarfile.DIRTYPE))
            record.update(type="dir", size=0)
    except OSError as exc:
        return {"path": arcname, "status": "unreadable", "type": None, "error": exc.strerror or str(exc)}
    return record


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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_manifest(results_dir: Path) -> dict[str, Any]:
    return json.loads((results_dir / MANIFEST).read_text())  # type: ignore[no-any-return]


def unpack_results(results_dir: Path, out_dir: Path) -> None:
    """The files at their paths under ``out_dir``; manifest and logs under ``out_dir/.lz/``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(results_dir / ARCHIVE, "r:gz") as tar:
        tar.extractall(out_dir, filter=_within(out_dir))
    meta = out_dir / ".lz"
    meta.mkdir(exist_ok=True)
    shutil.copyfile(results_dir / MANIFEST, meta / MANIFEST)
    for name in LOG_NAMES:
        if (results_dir / name).exists():
            shutil.copyfile(results_dir / name, meta / name)


def _within(out_dir: Path) -> Any:
    """Refuse members whose path escapes out_dir (tarfile.tar_filter); symlinks are restored as links."""

    def _filter(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        member = tarfile.tar_filter(member, dest)  # links are results too: kept even if they point out
        if member.isreg() and member.mode is not None:
            member = member.replace(mode=member.mode & ~(stat.S_ISUID | stat.S_ISGID), deep=False)
        return member

    return _filter
