"""The results archive, written in segments: each walker compresses what it finds into its own
gzip member, and the members are concatenated into one ``results.tar.gz``.

Gzip members concatenate into one valid gzip stream, and tar members into one tar stream as long as
only the last segment carries the end-of-archive blocks. Headers are written here (tarfile's
``TarFile`` keeps a copy of every member in memory and reads exactly what a header announced only
from a file object).
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
from typing import IO, BinaryIO

from lz.manifest import Entry

COMPRESSLEVEL = 1  # speed matters more than size: results are mostly read once, nearby
CHUNK = 1 << 20


class Segment:
    """A run of tar members compressed as one gzip member at the end of ``raw``."""

    def __init__(self, raw: BinaryIO) -> None:
        self.gz = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=COMPRESSLEVEL, mtime=0)
        self.length = 0  # tar bytes written

    def add(self, info: tarfile.TarInfo, data: IO[bytes] | None = None) -> tuple[str, str]:
        """One member; with ``data``, exactly ``info.size`` bytes of it (see ``Exactly``). Returns
        the data's sha256 and why it is incomplete ("" when it is whole), or ("", "") without data."""
        header = info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
        self.gz.write(header)
        self.length += len(header)
        if data is None:
            return "", ""
        reader = Exactly(data, info.size)
        while chunk := reader.read(CHUNK):
            self.gz.write(chunk)
        padding = -info.size % tarfile.BLOCKSIZE
        if padding:
            self.gz.write(bytes(padding))
        self.length += info.size + padding
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


def info_for(name: str, entry: Entry, st: os.stat_result | None = None) -> tarfile.TarInfo:
    """A member header from the walk's entry (and, for a file, the ``fstat`` of the open file)."""
    info = tarfile.TarInfo(name)
    if st is not None:
        info.type = tarfile.REGTYPE
        info.mode = stat.S_IMODE(st.st_mode)
        info.mtime = st.st_mtime_ns // 1_000_000_000
        info.size = st.st_size
        info.uid, info.gid = st.st_uid, st.st_gid
        return info
    info.type = tarfile.SYMTYPE if entry[0] == "l" else tarfile.DIRTYPE
    info.mode = stat.S_IMODE(entry[3])
    info.mtime = entry[2] // 1_000_000_000
    info.linkname = entry[5]
    return info


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
