"""Intake of a job folder or tarball into the spool, refusing anything unsafe.

Everything is checked while copying (never after filling the disk) and written under a hidden
temporary name that is renamed into place at the end, so a refused or interrupted intake leaves
nothing behind. Symlinks are kept as links, never followed, and must stay inside the tree.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lz.errors import BundleError
from lz.fs import special_kind

_CHUNK = 1 << 20


@dataclass(frozen=True)
class IntakeLimits:
    max_bytes: int = 1 << 30
    max_files: int = 100_000
    max_depth: int = 64


class _Budget:
    """Counts entries and bytes as they are written; refuses the bundle the moment a cap is passed."""

    def __init__(self, limits: IntakeLimits):
        self.limits = limits
        self.files = 0
        self.bytes = 0

    def entry(self, name: str) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise BundleError(f"too many files (more than {self.limits.max_files}), at {show(name)}")

    def data(self, name: str, size: int) -> None:
        self.bytes += size
        if self.bytes > self.limits.max_bytes:
            raise BundleError(f"job is larger than {_size(self.limits.max_bytes)} once unpacked, at {show(name)}")


def stage_bundle(source: Path, dest: Path, limits: IntakeLimits | None = None) -> None:
    """Copy ``source`` (a folder, or a .tar/.tar.gz/.tgz of one) into ``dest``, which must not exist."""
    limits = limits or IntakeLimits()
    source = Path(source)
    if dest.exists():
        raise FileExistsError(dest)
    tmp = dest.parent / f".tmp-{dest.name}-{secrets.token_hex(4)}"
    tmp.mkdir(parents=True)
    try:
        if source.is_dir():
            _copy_folder(source, tmp, _Budget(limits), limits)
        elif source.is_file():
            _extract_tarball(source, tmp, _Budget(limits), limits)
            _unwrap_single_directory(tmp)
        elif not source.exists() and not source.is_symlink():
            raise BundleError(f"{source}: no such file or directory")
        else:
            raise BundleError(f"{source}: not a folder or a tarball")
        _check_links_resolve_inside(tmp)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# -- names ---------------------------------------------------------------------------------------
def show(name: str) -> str:
    """A name as it can be printed on one line (control characters and bad bytes escaped)."""
    return repr(name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))[1:-1]


def _check_name(rel: str, limits: IntakeLimits) -> PurePosixPath:
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        raise BundleError(f"{show(rel)}: absolute paths are not allowed in a job")
    path = PurePosixPath(rel)
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts:
        raise BundleError(f"{show(rel)}: empty name")
    for part in parts:
        if part == "..":
            raise BundleError(f"{show(rel)}: '..' would leave the job folder")
        try:
            part.encode("utf-8")
        except UnicodeEncodeError:
            raise BundleError(f"{show(rel)}: file name is not valid UTF-8") from None
        if any(ord(c) < 32 or ord(c) == 127 for c in part):
            raise BundleError(f"{show(rel)}: file name has control characters (newline, tab...)")
    if len(parts) > limits.max_depth:
        raise BundleError(f"{show(rel)}: nested deeper than {limits.max_depth} directories")
    return PurePosixPath(*parts)


def _check_link(rel: PurePosixPath, target: str) -> None:
    if not target or target.startswith("/"):
        raise BundleError(f"{show(str(rel))}: symlink to an absolute path ({show(target)}) points outside the job")
    depth = len(rel.parts) - 1
    for part in PurePosixPath(target).parts:
        if part == "..":
            depth -= 1
        elif part != ".":
            depth += 1
        if depth < 0:
            raise BundleError(f"{show(str(rel))}: symlink to {show(target)} points outside the job")


# -- folders -------------------------------------------------------------------------------------
def _copy_folder(source: Path, dest: Path, budget: _Budget, limits: IntakeLimits) -> None:
    stack = [(source, PurePosixPath())]
    while stack:
        directory, rel_dir = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise BundleError(f"{show(str(rel_dir) or '.')}: cannot read ({exc.strerror})") from None
        for entry in entries:
            rel = _check_name(str(rel_dir / entry.name), limits)
            budget.entry(str(rel))
            st = entry.stat(follow_symlinks=False)
            target = dest / rel
            if stat.S_ISLNK(st.st_mode):
                link = os.readlink(entry.path)
                _check_link(rel, link)
                os.symlink(link, target)
            elif stat.S_ISDIR(st.st_mode):
                target.mkdir(mode=0o700)
                os.chmod(target, _dir_mode(st.st_mode))
                stack.append((Path(entry.path), rel))
            elif stat.S_ISREG(st.st_mode):
                budget.data(str(rel), st.st_size)
                try:
                    with open(entry.path, "rb") as src, open(target, "xb") as dst:
                        _copy_stream(src, dst, budget, str(rel), counted=st.st_size)
                except PermissionError:
                    raise BundleError(f"{show(str(rel))}: cannot read (permission denied)") from None
                os.chmod(target, _file_mode(st.st_mode))
            else:
                raise BundleError(f"{show(str(rel))}: {special_kind(st.st_mode)} files are not allowed in a job")


# -- tarballs ------------------------------------------------------------------------------------
def _extract_tarball(source: Path, dest: Path, budget: _Budget, limits: IntakeLimits) -> None:
    try:
        tar = tarfile.open(source, mode="r:*", errorlevel=2)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleError(f"{source.name}: not a readable tarball ({exc})") from None
    written: set[PurePosixPath] = set()
    links: set[PurePosixPath] = set()
    with tar:
        try:
            for member in tar:
                _extract_member(tar, member, dest, budget, limits, written, links)
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            if isinstance(exc, BundleError):
                raise
            raise BundleError(f"{source.name}: damaged tarball ({exc})") from None


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, budget: _Budget,
                    limits: IntakeLimits, written: set[PurePosixPath], links: set[PurePosixPath]) -> None:
    rel = _check_name(member.name, limits)
    budget.entry(member.name)
    for parent in list(rel.parents)[:-1]:
        if parent in links:
            raise BundleError(f"{show(member.name)}: would be written through the symlink {show(str(parent))}")
    target = dest / rel
    if rel in written:
        raise BundleError(f"{show(member.name)}: appears twice in the tarball")
    target.parent.mkdir(parents=True, exist_ok=True)
    if member.isdir():
        target.mkdir(exist_ok=True)
        os.chmod(target, _dir_mode(member.mode))
    elif member.isreg():
        budget.data(member.name, member.size)
        extracted = tar.extractfile(member)
        assert extracted is not None
        with extracted, open(target, "xb") as dst:
            _copy_stream(extracted, dst, budget, member.name, counted=member.size)
        os.chmod(target, _file_mode(member.mode))
    elif member.issym():
        _check_link(rel, member.linkname)
        os.symlink(member.linkname, target)
        links.add(rel)
    elif member.islnk():
        try:
            origin = _check_name(member.linkname, limits)
        except BundleError:
            raise BundleError(f"{show(member.name)}: hard link to {show(member.linkname)} points outside the job") from None
        if origin not in written or not (dest / origin).is_file() or (dest / origin).is_symlink():
            raise BundleError(f"{show(member.name)}: hard link to {show(member.linkname)}, which is not a file of this job")
        budget.data(member.name, (dest / origin).stat().st_size)
        shutil.copyfile(dest / origin, target)
        os.chmod(target, _file_mode((dest / origin).stat().st_mode))
    else:
        kind = "device" if member.ischr() or member.isblk() else "fifo" if member.isfifo() else "special"
        raise BundleError(f"{show(member.name)}: {kind} files are not allowed in a job")
    written.add(rel)


def _unwrap_single_directory(root: Path) -> None:
    """A tarball of ``job/...`` holds the job folder itself: use its content."""
    entries = list(root.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        inner = entries[0]
        hidden = root / f".unwrap-{secrets.token_hex(4)}"
        inner.rename(hidden)
        for child in hidden.iterdir():
            child.rename(root / child.name)
        hidden.rmdir()


def _check_links_resolve_inside(root: Path) -> None:
    """Each link resolves inside the tree even through other links (chains can climb out)."""
    real_root = os.path.realpath(root)
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                resolved = os.path.realpath(path)
                if resolved != real_root and not resolved.startswith(real_root + os.sep):
                    rel = os.path.relpath(path, root)
                    raise BundleError(f"{show(rel)}: symlink to {show(os.readlink(path))} points outside the job")


# -- helpers -------------------------------------------------------------------------------------
def _copy_stream(src: object, dst: object, budget: _Budget, name: str, counted: int) -> None:
    """Copy in chunks; bytes beyond what was announced (a growing or lying file) count too."""
    seen = 0
    while True:
        chunk = src.read(_CHUNK)  # type: ignore[attr-defined]
        if not chunk:
            return
        seen += len(chunk)
        if seen > counted:
            budget.data(name, len(chunk))
        dst.write(chunk)  # type: ignore[attr-defined]


def _file_mode(mode: int) -> int:
    return (mode & 0o777) | 0o600


def _dir_mode(mode: int) -> int:
    return (mode & 0o777) | 0o700


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n //= 1024
    return f"{n} PiB"
