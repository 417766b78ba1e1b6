"""A strict, streaming reader of untrusted tar archives (plain, gzip, bzip2 or xz).

Python's ``tarfile`` reads a GNU long-name or pax record of any claimed size into memory, lets a
pax ``size`` be negative, and takes a header it cannot parse (a stream out of step, or cut short)
for the end of the archive, so the members behind it vanish without a word. Uploads come from
strangers, so this reader bounds every header and record before reading it, checks every
header's checksum, refuses negative or unreadable numbers, requires the end-of-archive marker,
and refuses anything but zeros after it: an archive is read whole or refused, never in part.
It reads front to back once, so a socket or a pipe works as well as a file.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal, cast

from lz.core.errors import BundleError, printable

BLOCK = 512
_CHUNK = 1 << 20
_DIGITS = re.compile(rb"[0-9]+")

Kind = Literal["file", "dir", "symlink", "hardlink", "device", "fifo"]
_KINDS: dict[bytes, Kind] = {b"0": "file", b"\0": "file", b"7": "file", b"1": "hardlink", b"2": "symlink",
                             b"3": "device", b"4": "device", b"5": "dir", b"6": "fifo"}
_KIND_WORDS = {"dir": "a directory", "symlink": "a symlink", "hardlink": "a hard link",
               "device": "a device file", "fifo": "a fifo"}
_GNU_LONG = {b"L": "name", b"K": "link name"}


class DamagedArchive(BundleError):
    """The stream is not a whole, well-formed tar archive (cut short, out of step, or lying)."""


class NotAnArchive(DamagedArchive):
    """The stream does not even start as a tar archive (empty, a zip, a text file...)."""


@dataclass(frozen=True)
class TarLimits:
    """Bounds on an archive's metadata; data is bounded by the caller's byte budget."""

    max_name_bytes: int = 4096  # PATH_MAX
    max_header_bytes: int = 1 << 20  # all extended headers (pax, GNU long names) of one member
    max_extended_headers: int = 8  # in a row, before one member
    max_trailing_bytes: int = 16 << 20  # zeros after the end marker (tar pads to its record size)
    max_decoder_bytes: int = 128 << 20  # xz's dictionary is chosen by the archive (up to 4 GiB)
    # the whole stream once decompressed (data, headers, padding): what a reader may spend on it,
    # however little of it is written (a few KiB of gzip expand to GiBs of pax headers); None: any
    max_stream_bytes: int | None = None


@dataclass(frozen=True)
class Member:
    name: str
    kind: Kind
    size: int
    mode: int
    linkname: str


class TarStream:
    """Iterate with ``members()``; read a regular file's data with ``read()`` before moving on."""

    def __init__(self, stream: BinaryIO, limits: TarLimits | None = None):
        self.limits = limits or TarLimits()
        self._raw = _open_decompressed(stream, self.limits.max_decoder_bytes)
        # a plain archive in a seekable file: members' data is skipped by seeking, not read
        self._seekable = self._raw is stream
        self._offset = 0  # in the decompressed stream, for messages
        self._left = 0  # data bytes of the current member not yet read
        self._pad = 0
        self._current = ""

    # -- reading ---------------------------------------------------------------------------------
    def _read(self, n: int) -> bytes:
        try:
            data = self._raw.read(n)
        except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
            raise DamagedArchive(f"damaged compressed stream ({exc})") from None
        self._offset += len(data)
        cap = self.limits.max_stream_bytes
        if cap is not None and self._offset > cap:
            raise DamagedArchive(f"more than {cap} bytes once decompressed")
        return data

    def _read_upto(self, n: int) -> bytes:
        """``n`` bytes, fewer only at the end of the stream (pipes and decompressors return less)."""
        parts = []
        while n:
            data = self._read(min(n, _CHUNK))
            if not data:
                break
            parts.append(data)
            n -= len(data)
        return b"".join(parts)

    def _read_exact(self, n: int, what: str) -> bytes:
        data = self._read_upto(n)
        if len(data) < n:
            raise DamagedArchive(f"the archive ends in the middle of {what} (cut short?)")
        return data

    def read(self, n: int = _CHUNK) -> bytes:
        """The current member's data, at most ``n`` bytes at a time; b"" at its end."""
        n = min(n, self._left)
        if n <= 0:
            return b""
        data = self._read_exact(n, self._current)
        self._left -= len(data)
        return data

    @property
    def data_offset(self) -> int:
        """Where the current member's unread data starts in the (decompressed) stream: right after
        ``members()`` yields it, where its data starts."""
        return self._offset

    def _finish_member(self) -> None:
        if self._seekable and self._left:
            self._raw.seek(self._left, 1)
            self._offset += self._left
            self._left = 0
        while self._left:
            self.read()
        if self._pad:
            self._read_exact(self._pad, self._current)
            self._pad = 0

    # -- headers ---------------------------------------------------------------------------------
    def members(self) -> Iterator[Member]:
        extended: dict[str, str] = {}
        meta_count = meta_bytes = 0
        while True:
            self._finish_member()
            at = self._offset
            block = self._read_upto(BLOCK)
            if not block:
                if at == 0:
                    raise NotAnArchive("empty: not a tar archive")
                raise DamagedArchive("the archive ends without the end-of-archive marker (cut short?)")
            if len(block) < BLOCK:
                raise DamagedArchive("the archive ends in the middle of a header (cut short?)")
            if block == bytes(BLOCK):
                if meta_count:
                    raise DamagedArchive("an extended header with no member after it")
                self._check_trailer()
                return
            header = _parse_header(block, at)
            if header.size < 0:
                raise DamagedArchive(f"{printable(header.name)}: negative size")
            if header.kind in _GNU_LONG or header.kind in (b"x", b"g"):
                meta_count += 1
                meta_bytes += header.size
                if meta_count > self.limits.max_extended_headers:
                    raise DamagedArchive(f"more than {self.limits.max_extended_headers} extended headers in a row")
                self._check_meta_size(header, meta_bytes)
                self._current = "an extended header"
                data = self._read_exact(header.size, self._current)
                self._pad = -header.size % BLOCK
                if header.kind in _GNU_LONG:
                    value = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                    extended["path" if header.kind == b"L" else "linkpath"] = value
                elif header.kind == b"x":
                    extended.update(_pax_records(data))
                else:
                    _check_global(_pax_records(data))
                continue
            member = self._member(header, extended)
            extended, meta_count, meta_bytes = {}, 0, 0
            self._current = printable(member.name)
            self._left = member.size
            self._pad = -member.size % BLOCK
            yield member

    def _check_meta_size(self, header: _Header, meta_bytes: int) -> None:
        if header.kind in _GNU_LONG and header.size > self.limits.max_name_bytes + 1:
            raise DamagedArchive(f"a long {_GNU_LONG[header.kind]} of {header.size} bytes "
                                 f"(names are at most {self.limits.max_name_bytes} bytes)")
        if header.size > self.limits.max_header_bytes or meta_bytes > self.limits.max_header_bytes:
            raise DamagedArchive(f"a pax header of {max(header.size, meta_bytes)} bytes "
                                 f"(at most {self.limits.max_header_bytes})")

    def _member(self, header: _Header, extended: dict[str, str]) -> Member:
        name = extended.get("path", header.name)
        linkname = extended.get("linkpath", header.linkname)
        for text in (name, linkname):
            if len(text.encode("utf-8", "surrogateescape")) > self.limits.max_name_bytes:
                raise DamagedArchive(f"{printable(text[:60])}...: name longer than {self.limits.max_name_bytes} bytes")
        size = header.size
        if "size" in extended:
            size = _pax_size(extended["size"])
        if any(key.startswith("GNU.sparse.") for key in extended):
            raise BundleError(f"{printable(name)}: sparse files are not supported")
        if header.kind == b"S":
            raise BundleError(f"{printable(name)}: sparse files are not supported")
        kind = _KINDS.get(header.kind)
        if kind is None:
            raise BundleError(f"{printable(name)}: tar entry type {header.kind.decode('latin-1')!r} is not supported")
        if kind == "file" and header.kind == b"\0" and name.endswith("/"):
            kind = "dir"  # pre-POSIX archives mark directories by the trailing slash only
        if kind != "file" and size != 0:
            raise DamagedArchive(f"{printable(name)}: {_KIND_WORDS[kind]} cannot carry data ({size} bytes)")
        return Member(name=name, kind=kind, size=size, mode=header.mode, linkname=linkname)

    def _check_trailer(self) -> None:
        """After the end marker only zeros (record padding); anything else would be members
        that a tar tool never shows, so the archive is refused rather than read in part."""
        seen = 0
        while True:
            data = self._read(_CHUNK)
            if not data:
                return
            if data.count(0) != len(data):
                raise DamagedArchive("data after the end of the archive (a second archive appended?)")
            seen += len(data)
            if seen > self.limits.max_trailing_bytes:
                raise DamagedArchive(f"more than {self.limits.max_trailing_bytes} bytes of padding after the end")


@dataclass(frozen=True)
class _Header:
    name: str
    kind: bytes
    size: int
    mode: int
    linkname: str


def _parse_header(block: bytes, at: int) -> _Header:
    try:
        stored: int | None = _number(block[148:156], "checksum", at)
    except DamagedArchive:
        stored = None
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    if stored != unsigned and stored != _signed_sum(block):
        if at == 0:
            raise NotAnArchive("not a tar archive (nor a gzip, bzip2 or xz compressed one)")
        raise DamagedArchive(f"the block at byte {at} is not a tar header (the archive is corrupt or out of step)")
    name = _cstring(block[0:100])
    if block[257:263] == b"ustar\0":  # POSIX ustar: a prefix extends the name (GNU uses the field otherwise)
        prefix = _cstring(block[345:500])
        if prefix:
            name = f"{prefix}/{name}"
    size = _number(block[124:136], "size", at, name)
    return _Header(name=name, kind=block[156:157], size=size, mode=_number(block[100:108], "mode", at, name),
                   linkname=_cstring(block[157:257]))


def _signed_sum(block: bytes) -> int:
    """The checksum as old tars computed it, over signed chars."""
    fields = block[:148] + b" " * 8 + block[156:]
    return sum(b - 256 if b > 127 else b for b in fields)


def _cstring(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")


def _number(field: bytes, what: str, at: int, name: str = "") -> int:
    """An octal field, or GNU base-256 (high bit set; 0xff first means negative)."""
    if field[:1] == b"\xff":
        return -1
    if field[0] & 0x80:
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.split(b"\0", 1)[0].strip(b" ")
    if text and not all(48 <= c <= 55 for c in text):
        where = printable(name) if name else f"header at byte {at}"
        raise DamagedArchive(f"{where}: bad number in the {what} field ({printable(text.decode('latin-1'))})")
    return int(text, 8) if text else 0


def _pax_records(data: bytes) -> dict[str, str]:
    """``"%d %s=%s\\n"`` records; the length counts the whole record, itself included."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if data.count(0, pos) == len(data) - pos:
            break  # some writers pad with NULs
        space = data.find(b" ", pos, pos + 21)
        length_text = data[pos:space] if space > pos else b""
        if not _DIGITS.fullmatch(length_text):
            raise DamagedArchive(f"malformed pax record at byte {pos} of its header")
        length = int(length_text)
        record = data[space + 1: pos + length]
        key, sep, value = record[:-1].partition(b"=")
        if pos + length > len(data) or length <= space + 1 - pos or not record.endswith(b"\n") or not sep or not key:
            raise DamagedArchive(f"malformed pax record at byte {pos} of its header")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def _pax_size(text: str) -> int:
    if not re.fullmatch(r"[0-9]{1,20}", text, re.ASCII):
        raise DamagedArchive(f"pax header: size {printable(text[:40])} is not a size (a whole number of bytes)")
    return int(text)


def _check_global(records: dict[str, str]) -> None:
    """Global headers (``git archive`` writes one with its commit id) may not change members."""
    for key in records:
        if key in ("path", "linkpath", "size") or key.startswith("GNU.sparse."):
            raise BundleError(f"a global pax header sets {printable(key)!r}, which lz does not support")


def _open_decompressed(stream: BinaryIO, max_decoder_bytes: int) -> BinaryIO:
    """gzip and bzip2 decoders use a few MiB at most; xz's is bounded here (``LZMAFile`` can't)."""
    seekable = _seekable(stream)
    head = stream.read(6)
    if seekable and head[:2] != b"\x1f\x8b" and head[:3] != b"BZh" and head[:6] != b"\xfd7zXZ\0":
        stream.seek(-len(head), 1)  # plain, in a file: read it as it is (and seek past members' data)
        return stream
    source = cast(BinaryIO, _Prefixed(head, stream))
    if head[:2] == b"\x1f\x8b":
        return cast(BinaryIO, gzip.GzipFile(fileobj=source, mode="rb"))
    if head[:3] == b"BZh":
        return cast(BinaryIO, bz2.BZ2File(source))
    if head[:6] == b"\xfd7zXZ\0":
        return cast(BinaryIO, _XzReader(source, max_decoder_bytes))
    return source


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def member_index(stream: BinaryIO, limits: TarLimits | None = None) -> dict[str, tuple[int, int]]:
    """name -> (offset of its data, size) of every regular file of a plain archive in a seekable
    file, read with this reader's bounds (seeking past the data): where to read one member
    without loading anything else. A name given twice keeps its last entry, as tar does."""
    tar = TarStream(stream, limits)
    return {m.name: (tar.data_offset, m.size) for m in tar.members() if m.kind == "file"}


class _XzReader:
    """xz streams (one after another, as ``cat a.xz b.xz`` makes) through decoders whose memory
    is capped; a stream cut short is an error, as gzip's is."""

    def __init__(self, raw: BinaryIO, memlimit: int):
        self._raw = raw
        self._memlimit = memlimit
        self._decoder = lzma.LZMADecompressor(memlimit=memlimit)
        self._pending = b""  # compressed input not yet given to the decoder

    def read(self, n: int) -> bytes:
        while True:
            if self._decoder.eof:
                rest = self._decoder.unused_data or self._pending or self._raw.read(_CHUNK)
                self._pending = b""
                if not rest:
                    return b""
                self._decoder = lzma.LZMADecompressor(memlimit=self._memlimit)
                self._pending = rest
            if self._decoder.needs_input and not self._pending:
                self._pending = self._raw.read(_CHUNK)
                if not self._pending:
                    raise EOFError("the xz stream ends before its end marker")
            data = self._decoder.decompress(self._pending, max_length=n)
            self._pending = b""
            if data:
                return data


class _Prefixed:
    """A stream with its first bytes (already read to sniff the compression) put back."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head = head
        self._rest = rest

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._rest.read(n)

    def readable(self) -> bool:
        return True
