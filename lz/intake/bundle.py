"""Intake of a job folder or tarball into the spool, refusing anything unsafe.

Everything is checked while copying (never after filling the disk) and written under a hidden
temporary name that is fsynced and renamed into place at the end, so a refused or interrupted
intake leaves nothing behind and an accepted one survives a node crash. Symlinks are kept as
links, never followed, and must stay inside the tree. Archives are read by ``lz.intake.tar_reader``;
``stage_upload`` takes one as a stream (the CLI's file, a station's HTTP body).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO, Literal, overload

from lz.core.errors import BundleError, printable
from lz.core.value_class import value_class
from lz.host.fs import fsync_dir, special_kind

if TYPE_CHECKING:  # the reader is imported when a tarball comes: a folder's ``lz submit`` never needs it
    from lz.intake.tar_reader import Member, TarStream

_CHUNK = 1 << 20


@value_class
class IntakeLimits:
    """The most one job folder or archive may hold, checked while it is copied."""

    max_bytes: int = 1 << 30
    max_files: int = 100_000
    max_depth: int = 64
    max_name_bytes: int = 4096  # a whole path, as PATH_MAX
    max_header_bytes: int = 1 << 20  # a tar member's extended headers (pax records, GNU long names)

    @property
    def max_stream_bytes(self) -> int:
        """An archive's whole decompressed stream: the data, a header and padding per file, and
        some room for extended headers (decompression costs CPU even where nothing is written)."""
        return self.max_bytes + self.max_files * 2048 + (32 << 20)


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


def stage_bundle(source: Path, dest: Path, limits: IntakeLimits | None = None, *, settle: bool = True) -> None:
    """Copy ``source`` (a folder, or a .tar/.tar.gz/.tgz of one) into ``dest``, which must not exist.
    Not ``settle``: the caller renames ``dest`` again and fsyncs the folder of that rename (intake's
    ``receive``), so ``dest``'s own name need not survive a crash, and its folder is not fsynced here
    (the files and folders inside still are). A crash before that rename leaves a hidden entry
    without a job, which the daemon's recovery removes, named ``dest`` or not."""
    limits = limits or IntakeLimits()
    source = Path(source)
    if source.is_dir():
        _staged(dest, lambda tmp: _copy_folder(source, tmp, _Budget(limits), limits), settle=settle)
    elif source.is_file():
        try:
            stream = open(source, "rb")
        except OSError as exc:
            raise BundleError(f"{source.name}: cannot read ({exc.strerror})") from None
        with stream:
            stage_upload(stream, dest, limits, label=source.name, settle=settle)
    elif not source.exists() and not source.is_symlink():
        raise BundleError(f"{source}: no such file or directory")
    else:
        raise BundleError(f"{source}: not a folder or a tarball")


def _staged(dest: Path, fill: Callable[[Path], None], durable: bool = True, settle: bool = True) -> None:
    """Fill a hidden sibling of ``dest``, check it, make it durable, then rename it into place:
    a refused or interrupted intake leaves nothing, and a committed job never has empty files
    after a node crash (its files and directories are fsynced before the rename). Not
    ``durable``: a copy only checked and removed (the hub's), with no fsync."""
    if dest.exists():
        raise FileExistsError(dest)
    tmp = dest.parent / f".tmp-{dest.name}-{os.urandom(4).hex()}"
    tmp.mkdir(mode=0o700, parents=True)
    try:
        fill(tmp)
        _check_links_resolve_inside(tmp)
        if durable:
            _fsync_tree(tmp)
        os.rename(tmp, dest)
        if durable and settle:
            fsync_dir(dest.parent)
    except BaseException:
        import shutil  # here: an accepted job never needs it (issue 23)

        shutil.rmtree(tmp, ignore_errors=True)
        raise


# -- names ---------------------------------------------------------------------------------------
show = printable


@overload
def _check_name(rel: str, limits: IntakeLimits, root_ok: Literal[False] = False) -> PurePosixPath: ...
@overload
def _check_name(rel: str, limits: IntakeLimits, root_ok: bool) -> PurePosixPath | None: ...
def _check_name(rel: str, limits: IntakeLimits, root_ok: bool = False) -> PurePosixPath | None:
    """The member's path inside the job; ``None`` for the job folder itself (``./``), where
    ``root_ok``. Only a leading ``/`` is absolute: ``k:v`` is an ordinary POSIX name."""
    if rel.startswith("/"):
        raise BundleError(f"{show(rel)}: absolute paths are not allowed in a job")
    path = PurePosixPath(rel)
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts:
        if root_ok and rel:
            return None
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
def stage_upload(stream: BinaryIO, dest: Path, limits: IntakeLimits | None = None, *, label: str = "upload",
                 durable: bool = True, settle: bool = True) -> None:
    """Check and unpack a tar stream (plain or compressed; a file, a pipe or an HTTP body) into
    ``dest``, which must not exist: the one way an archive from outside enters lz. Read once,
    front to back; all of it or nothing lands, under the same limits as a folder. Not
    ``durable``: a copy that is only checked, then removed (no fsync); ``settle``: as ``stage_bundle``."""
    limits = limits or IntakeLimits()
    _staged(dest, lambda tmp: _extract_tarball(stream, tmp, _Budget(limits), limits, label), durable, settle)


def _extract_tarball(stream: BinaryIO, dest: Path, budget: _Budget, limits: IntakeLimits, label: str) -> None:
    from lz.intake.tar_reader import DamagedArchive, NotAnArchive, TarLimits, TarStream

    archive = TarStream(stream, TarLimits(max_name_bytes=limits.max_name_bytes,
                                          max_header_bytes=limits.max_header_bytes,
                                          max_stream_bytes=limits.max_stream_bytes))
    written: set[PurePosixPath] = set()
    links: set[PurePosixPath] = set()
    try:
        for member in archive.members():
            try:
                _extract_member(archive, member, dest, budget, limits, written, links)
            except OSError as exc:  # a name too long for the filesystem, the disk full...
                raise BundleError(f"{show(member.name)}: cannot be unpacked ({exc.strerror or exc})") from None
    except NotAnArchive as exc:
        raise BundleError(f"{label}: {exc}") from None
    except DamagedArchive as exc:
        raise BundleError(f"{label}: damaged tarball: {exc}") from None
    _unwrap_single_directory(dest)


def _extract_member(archive: TarStream, member: Member, dest: Path, budget: _Budget,
                    limits: IntakeLimits, written: set[PurePosixPath], links: set[PurePosixPath]) -> None:
    rel = _check_name(member.name, limits, root_ok=member.kind == "dir")
    budget.entry(member.name)
    if rel is None:
        return  # "./", the folder itself (``tar czf job.tgz -C job .``)
    for parent in list(rel.parents)[:-1]:
        if parent in links:
            raise BundleError(f"{show(member.name)}: would be written through the symlink {show(str(parent))}")
    target = dest / rel
    if rel in written:
        raise BundleError(f"{show(member.name)}: appears twice in the tarball")
    _make_parents(dest, rel)
    if member.kind == "dir":
        target.mkdir(mode=0o700, exist_ok=True)
        os.chmod(target, _dir_mode(member.mode))
    elif member.kind == "file":
        budget.data(member.name, member.size)
        with open(target, "xb") as dst:
            _copy_stream(archive, dst, budget, member.name, counted=member.size)
        os.chmod(target, _file_mode(member.mode))
    elif member.kind == "symlink":
        _check_link(rel, member.linkname)
        os.symlink(member.linkname, target)
        links.add(rel)
    elif member.kind == "hardlink":
        try:
            origin = _check_name(member.linkname, limits)
        except BundleError:
            raise BundleError(f"{show(member.name)}: hard link to {show(member.linkname)} points outside the job") from None
        if origin is None or origin not in written or (dest / origin).is_symlink() or not (dest / origin).is_file():
            raise BundleError(f"{show(member.name)}: hard link to {show(member.linkname)}, which is not a file of this job")
        budget.data(member.name, (dest / origin).stat().st_size)
        with open(dest / origin, "rb") as src, open(target, "xb") as dst:
            _copy_stream(src, dst, budget, member.name, counted=(dest / origin).stat().st_size)
        os.chmod(target, _file_mode((dest / origin).stat().st_mode))
    else:
        kind = "device" if member.kind == "device" else "fifo"
        raise BundleError(f"{show(member.name)}: {kind} files are not allowed in a job")
    written.add(rel)


def _make_parents(dest: Path, rel: PurePosixPath) -> None:
    """Directories a member lives in that the archive did not list (private until listed)."""
    current = dest
    for part in rel.parts[:-1]:
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            raise BundleError(f"{show(str(rel))}: {show(str(current.relative_to(dest)))} is not a directory")
        if not current.exists():
            current.mkdir(mode=0o700)


def _unwrap_single_directory(root: Path) -> None:
    """A tarball of ``job/...`` holds the job folder itself: use its content."""
    entries = list(root.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        inner = entries[0]
        hidden = root / f".unwrap-{os.urandom(4).hex()}"
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
def _copy_stream(src: object, dst: BinaryIO, budget: _Budget, name: str, counted: int) -> None:
    """Copy in chunks, then fsync; bytes beyond what was announced (a growing or lying file)
    count too."""
    seen = 0
    while True:
        chunk = src.read(_CHUNK)  # type: ignore[attr-defined]
        if not chunk:
            break
        seen += len(chunk)
        if seen > counted:
            budget.data(name, len(chunk))
        dst.write(chunk)


SERIAL_FSYNCS = 8
"""Up to this many files, fsynced in turn (0.6 ms for 2 files and their folder, 0.9 ms with 2 threads)."""


def _fsync_tree(root: Path) -> None:
    """fsync every file, then every directory, of the staged copy. The files go in parallel:
    the filesystem's journal then commits them together instead of once per file. A few files
    (the usual small job) go one after the other: starting threads costs more than it saves."""
    files: list[str] = []
    directories: list[str] = []
    for directory, _dirs, names in os.walk(root):
        directories.append(directory)
        files += [os.path.join(directory, n) for n in names if not os.path.islink(os.path.join(directory, n))]
    if len(files) <= SERIAL_FSYNCS:
        for path in (*files, *directories):
            _fsync_path(path)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(16, len(files) or 1)) as pool:
        list(pool.map(_fsync_path, files))
        list(pool.map(_fsync_path, directories))


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
