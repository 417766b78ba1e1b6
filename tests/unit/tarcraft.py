"""Hand-made tar blocks for hostile-archive tests: every field can lie, which ``tarfile`` won't write."""

from __future__ import annotations

import gzip
import zlib

BLOCK = 512


def header(name: bytes | str, *, size: int = 0, kind: bytes = b"0", link: bytes | str = b"", mode: int = 0o644,
           magic: bytes = b"ustar\x0000", size_field: bytes | None = None, prefix: bytes = b"",
           checksum: int | None = None) -> bytes:
    """One 512-byte header; ``size_field`` (12 bytes) overrides the octal size, e.g. base-256."""
    name_b = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name
    link_b = link.encode() if isinstance(link, str) else link
    block = bytearray(BLOCK)
    block[0:100] = name_b[:100].ljust(100, b"\0")
    block[100:108] = b"%07o\0" % mode
    block[108:116] = b"0000000\0"
    block[116:124] = b"0000000\0"
    block[124:136] = size_field if size_field is not None else (b"%011o\0" % size)
    block[136:148] = b"00000000000\0"
    block[148:156] = b" " * 8
    block[156:157] = kind
    block[157:257] = link_b[:100].ljust(100, b"\0")
    block[257:265] = magic
    block[345:500] = prefix[:155].ljust(155, b"\0")
    total = sum(block) if checksum is None else checksum
    block[148:156] = b"%06o\0 " % total
    return bytes(block)


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK)


def regular(name: str, data: bytes, mode: int = 0o644) -> bytes:
    return header(name, size=len(data), mode=mode) + padded(data)


def pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length += 1
    return str(length).encode() + body


def pax(records: dict[str, str] | bytes, kind: bytes = b"x") -> bytes:
    """A pax extended ('x') or global ('g') header with its records."""
    data = records if isinstance(records, bytes) else b"".join(pax_record(k, v) for k, v in records.items())
    return header("././@PaxHeader", size=len(data), kind=kind) + padded(data)


def end() -> bytes:
    return bytes(2 * BLOCK)


def gz(raw: bytes) -> bytes:
    return gzip.compress(raw, compresslevel=6, mtime=0)


def gz_of_zeros_then(prefix: bytes, zero_mib: int) -> bytes:
    """``prefix`` followed by ``zero_mib`` MiB of zeros, gzipped as concatenated members so a
    gigabyte claim fits in about a megabyte and costs nothing to make."""
    mib = bytes(1 << 20)
    one = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = one.compress(mib) + one.flush()
    return gz(prefix) + member * zero_mib
