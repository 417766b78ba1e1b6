"""The results archive, written in segments: each walker compresses what it finds into its own
gzip member, and the members are concatenated into one ``results.tar.gz``.

Gzip members concatenate into one valid gzip stream, and tar members into one tar stream as long as
only the last segment carries the end-of-archive blocks. Headers are written here (tarfile's
``TarFile`` keeps a copy of every member in memory, and builds each header at length).
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
from typing import IO, BinaryIO, NamedTuple

from lz.results.manifest import Entry

COMPRESSLEVEL = 1  # speed matters more than size: results are mostly read once, nearby
CHUNK = 1 << 20

# Forked walkers hash: have OpenSSL's sha256 fetched (under its locks) here, before any fork, so that
# a child never needs a lock another thread of the daemon held when it forked.
hashlib.sha256(b"")


class Member(NamedTuple):
    """A member's header fields (``kind`` is a tarfile type byte)."""

    name: str
    kind: bytes
    mode: int
    size: int = 0
    mtime: int = 0
    uid: int = 0
    gid: int = 0
    linkname: str = ""


_TAIL = bytes(32 + 32 + 8 + 8 + 155 + 12)  # user and group names, device numbers, prefix, padding


def header(member: Member) -> bytes:
    """The GNU tar header ``tarfile`` writes for ``member``, built directly when every field fits
    (names under 100 bytes, numbers in octal): five times quicker, and headers are most of the work
    of archiving small files. Anything else goes through ``tarfile`` (long names, huge numbers)."""
    name, kind, mode, size, mtime, uid, gid, linkname = member
    if kind == tarfile.DIRTYPE and not name.endswith("/"):
        name += "/"  # as tarfile does
    raw_name = name.encode("utf-8", "surrogateescape")
    raw_link = linkname.encode("utf-8", "surrogateescape")
    if (len(raw_name) >= 100 or len(raw_link) >= 100 or not 0 <= size < 8**11 or not 0 <= mtime < 8**11
            or not 0 <= uid < 8**7 or not 0 <= gid < 8**7):
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.size, info.mtime = kind, mode, size, mtime
        info.uid, info.gid, info.linkname = uid, gid, linkname
        return info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
    block = bytearray(b"".join((
        raw_name.ljust(100, b"\0"),
        b"%07o\0%07o\0%07o\0%011o\0%011o\0        " % (mode & 0o7777, uid, gid, size, mtime),
        kind, raw_link.ljust(100, b"\0"), tarfile.GNU_MAGIC, _TAIL)))
    block[148:155] = b"%06o\0" % sum(block)
    return bytes(block)


class Segment:
    """A run of tar members compressed as one gzip member at the end of ``raw``."""

    def __init__(self, raw: BinaryIO) -> None:
        self.gz = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=COMPRESSLEVEL, mtime=0)
        self.length = 0  # tar bytes written

    def add(self, member: Member, data: IO[bytes] | None = None) -> tuple[str, str]:
        """One member; with ``data``, exactly ``member.size`` bytes of it (see ``Exactly``). Returns
        the data's sha256 and why it is incomplete ("" when it is whole), or ("", "") without data."""
        block = header(member)
        self.length += len(block)
        if data is None:
            self.gz.write(block)
            return "", ""
        size = member.size
        reader = Exactly(data, size)
        chunk = reader.read(CHUNK)
        padding = -size % tarfile.BLOCKSIZE
        if len(chunk) == size:  # a small file: one write
            self.gz.write(block + chunk + bytes(padding))
        else:
            self.gz.write(block)
            while chunk:
                self.gz.write(chunk)
                chunk = reader.read(CHUNK)
            self.gz.write(bytes(padding))
        self.length += size + padding
        return reader.sha.hexdigest(), reader.error

    def close(self) -> int:
        """End the gzip member (``raw`` stays open); returns the tar bytes written."""
        self.gz.close()
        return self.length


def end_of_archive(length: int) -> bytes:
    """Two zero blocks, then zeros up to tar's record size, after ``length`` bytes of members."""
    length += 2 * tarfile.BLOCKSIZE
    return bytes(2 * tarfile.BLOCKSIZE + (-length % tarfile.RECORDSIZE))


class Exactly:
    """Gives exactly ``size`` bytes, hashing them as they pass: a file that shrinks or fails mid-read
    is padded with zeros (and the error kept), so the archive stays well-formed; one that grows is
    cut at the size its header announced."""

    def __init__(self, handle: IO[bytes], size: int) -> None:
        self.handle = handle
        self.left = size
        self.sha = hashlib.sha256()
        self.error = ""

    def read(self, size: int) -> bytes:
        size = min(size, self.left)
        data = b""
        if not self.error and size:
            try:
                data = self.handle.read(size) or b""
            except OSError as exc:
                self.error = f"read failed: {exc.strerror or exc}"
            if len(data) < size and not self.error:
                self.error = "it shrank while it was archived"
        if len(data) < size:
            data += bytes(size - len(data))
        self.left -= len(data)
        self.sha.update(data)
        return data


def member_for(name: str, entry: Entry, st: os.stat_result | None = None) -> Member:
    """A member from the walk's entry (and, for a file, the ``fstat`` of the open file)."""
    if st is not None:
        return Member(name, tarfile.REGTYPE, stat.S_IMODE(st.st_mode), st.st_size, st.st_mtime_ns // 1_000_000_000,
                      st.st_uid, st.st_gid)
    kind = tarfile.SYMTYPE if entry[0] == "l" else tarfile.DIRTYPE
    return Member(name, kind, stat.S_IMODE(entry[3]), 0, entry[2] // 1_000_000_000, linkname=entry[5])


def append_file(raw: BinaryIO, path: str) -> None:
    """Append the file at ``path`` to ``raw`` (in the kernel where it can)."""
    with open(path, "rb") as source:
        try:
            while os.copy_file_range(source.fileno(), raw.fileno(), CHUNK * 64):
                pass
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            shutil.copyfileobj(source, raw, CHUNK)
