"""Unpacking a job's stored results for its user (``lz results JOB -o DIR``).

The archive holds what a job made, and DIR may hold what its user already had, so extraction is done
here, member by member, rather than by ``tarfile``'s ``extractall`` (whose filters a fresh Debian 12,
with Python 3.11.2, does not have): only regular files, directories and symlinks, names plain and
relative, set-id bits dropped. Symlinks are results too and are restored as links, but nothing in DIR
is ever followed: each directory is opened relative to its parent with ``O_NOFOLLOW`` (as ``lz.results.walk``
does), so neither a link already in DIR nor one just extracted is written through.

DIR must be empty unless ``force``: then files and links already there are replaced (never written
through), and a directory standing where a file goes is refused. The manifest and the logs go to
``DIR/.lz/``; collection never returns a job's own ``.lz`` (it is listed as skipped), and one found in
an older archive is left out.
"""

from __future__ import annotations

import copy
import errno
import os
import shutil
import stat
import tarfile
from pathlib import Path
from typing import IO

from lz.core.errors import UserError
from lz.results.collect import ARCHIVE, MANIFEST, META, read_manifest

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def extract_results(results_dir: Path, dest: Path, *, force: bool = False, only: str | None = None) -> list[str]:
    """Unpack the stored result in ``results_dir`` into ``dest``; returns notes for the user on what
    was left out (one line each). Raises ``UserError`` with one line for anything refused.
    ``only``: one top folder's content alone (a sweep's ``task-7``), unpacked into ``dest`` itself."""
    results_dir, dest = Path(results_dir), Path(dest)
    if not (results_dir / MANIFEST).is_file():
        raise UserError(f"{results_dir} holds no complete results")
    document = read_manifest(results_dir)
    root = _open_destination(dest, force)
    try:
        with tarfile.open(results_dir / ARCHIVE, "r:gz") as tar:
            extraction = _Extraction(root, dest, tar, only)
            notes = extraction.run()
        if only is not None and not extraction.found:
            raise UserError(f"the results hold no {only}/ (the task wrote nothing, or it never ran)")
        meta = _directory(root, META, 0o700, dest / META)
        try:
            _copy(results_dir / MANIFEST, meta, MANIFEST, dest / META)
            for name, present in document.get("logs", {}).items():
                if present:
                    _copy(results_dir / name, meta, name, dest / META)
        finally:
            os.close(meta)
    except (tarfile.TarError, EOFError) as exc:
        raise UserError(f"the stored results in {results_dir} are damaged: {exc}") from exc
    finally:
        os.close(root)
    return notes


def _open_destination(dest: Path, force: bool) -> int:
    """DIR itself is the user's to name, so a symlink to it is fine; it must be empty unless ``force``."""
    try:
        dest.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        if not dest.is_dir():
            raise UserError(f"{dest} exists and is not a directory") from None
        if not force and any(os.scandir(dest)):
            raise UserError(f"{dest} is not empty: choose another directory, or add --force to unpack into it "
                            "(files already there with the same names are replaced)") from None
    except OSError as exc:
        raise UserError(f"cannot create {dest}: {exc.strerror}") from exc
    return os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _plain(name: str) -> list[str] | None:
    """The parts of a plain relative member name, or None ("./", "..", absolute, empty parts)."""
    parts = name.rstrip("/").split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        return None
    return parts


class _Extraction:
    def __init__(self, root: int, dest: Path, tar: tarfile.TarFile, only: str | None = None) -> None:
        self.root, self.dest, self.tar, self.only = root, dest, tar, only
        self.found = 0

    def run(self) -> list[str]:
        notes: list[str] = []
        for member in self.tar:
            parts = _plain(member.name)
            if parts is None:
                raise UserError(f"refusing to unpack the results into {self.dest}: "
                                f"{member.name!r} is not a plain relative name")
            if self.only is not None:
                if parts[0] != self.only or len(parts) == 1:
                    continue
                self.found += 1
                parts, member = parts[1:], copy.copy(member)
                member.name = "/".join(parts)
            if parts[0] == META:
                notes.append(f"{member.name}: left out (the name is reserved for lz's manifest and logs)")
                continue
            if not (member.isreg() or member.isdir() or member.issym()):
                raise UserError(f"refusing to unpack the results into {self.dest}: {member.name!r} is "
                                "neither a file, a directory nor a symlink")
            parent = self._parent(parts)
            try:
                self._member(parent, parts[-1], member)
            finally:
                if parent != self.root:
                    os.close(parent)
        return notes

    def _parent(self, parts: list[str]) -> int:
        """The directory that holds the member, opened from DIR down, made where missing."""
        fd = self.root
        try:
            for depth, part in enumerate(parts[:-1], 1):
                inner = _directory(fd, part, 0o777, self.dest.joinpath(*parts[:depth]))
                if fd != self.root:
                    os.close(fd)
                fd = inner
        except BaseException:
            if fd != self.root:
                os.close(fd)
            raise
        return fd

    def _member(self, parent: int, name: str, member: tarfile.TarInfo) -> None:
        path = self.dest / member.name
        if member.isdir():
            os.close(_directory(parent, name, (member.mode & 0o777) | 0o700, path))
            return
        _clear(parent, name, path)
        if member.issym():
            os.symlink(member.linkname, name, dir_fd=parent)
            return
        source = self.tar.extractfile(member)
        assert source is not None
        fd = os.open(name, _NEW, member.mode & 0o777, dir_fd=parent)
        with open(fd, "wb") as out:
            _copy_exactly(source, out, member.size)
            out.flush()
            os.utime(fd, (member.mtime, member.mtime))


def _directory(parent: int, name: str, mode: int, path: Path) -> int:
    """Open directory ``name`` under ``parent`` (made with ``mode`` if missing), never through a
    link: a link or a file standing there is refused."""
    for _ in range(3):  # a lost race with another process re-checks, a few times
        try:
            return os.open(name, _DIR, dir_fd=parent)
        except FileNotFoundError:
            try:
                os.mkdir(name, mode, dir_fd=parent)
            except FileExistsError:
                continue
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UserError(f"refusing to unpack the results through {path}: "
                                "it is a symlink or a file, not a directory") from exc
            raise UserError(f"cannot open {path}: {exc.strerror}") from exc
    raise UserError(f"{path} keeps changing while the results are unpacked")


def _clear(parent: int, name: str, path: Path) -> None:
    """Make room for a file or link: what stands there is removed, unless it is a directory."""
    try:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        raise UserError(f"refusing to replace the directory {path} with a file from the results")
    os.unlink(name, dir_fd=parent)


def _copy_exactly(source: IO[bytes], out: IO[bytes], size: int) -> None:
    while size > 0:
        chunk = source.read(min(size, 1 << 20))
        if not chunk:
            raise tarfile.ReadError("unexpected end of data")
        out.write(chunk)
        size -= len(chunk)


def _copy(source: Path, parent: int, name: str, where: Path) -> None:
    """Lz's own files under ``DIR/.lz``, private, replacing (never writing through) what is there."""
    _clear(parent, name, where / name)
    with open(source, "rb") as src, open(os.open(name, _NEW, 0o600, dir_fd=parent), "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
