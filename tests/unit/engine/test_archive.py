"""Archive segments: headers byte-identical to tarfile's, and gzip members that concatenate into one
archive every reader accepts."""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from lz.results.archive import Member, Segment, append_file, end_of_archive, header

NAMES = ["a", "d/f.txt", "x" * 99, "x" * 100, "y" * 150, "caf\u00e9/\u65e5\u672c", os.fsdecode(b"r\xe9sultat"),
         "sp ace/tab\tname"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind, size, link", [(tarfile.REGTYPE, 0, ""), (tarfile.REGTYPE, 8**11 - 1, ""),
                                               (tarfile.REGTYPE, 8**11, ""), (tarfile.DIRTYPE, 0, ""),
                                               (tarfile.SYMTYPE, 0, "../target"), (tarfile.SYMTYPE, 0, "t" * 120)])
def test_headers_are_the_ones_tarfile_writes(name: str, kind: bytes, size: int, link: str) -> None:
    for mode, mtime, uid, gid in [(0o644, 1_700_000_000, 0, 0), (0o4755, 0, 1000, 8**7), (0o7777, 8**11, 65534, 1)]:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.size, info.mtime, info.uid, info.gid, info.linkname = (
            kind, mode, size, mtime, uid, gid, link)
        expected = info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
        assert header(Member(name, kind, mode, size, mtime, uid, gid, link)) == expected


def test_segments_concatenate_into_one_archive(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    other = tmp_path / "segment"
    lengths = 0
    with open(archive, "wb", buffering=0) as raw:
        first = Segment(raw)
        first.add(Member("one.txt", tarfile.REGTYPE, 0o644, 3), io.BytesIO(b"one"))
        lengths += first.close()
        with open(other, "wb", buffering=0) as raw_other:
            second = Segment(raw_other)
            second.add(Member("sub", tarfile.DIRTYPE, 0o755))
            sha, error = second.add(Member("sub/two.bin", tarfile.REGTYPE, 0o600, 2_000_000),
                                    io.BytesIO(os.urandom(1_999_000)))  # shrank: padded, reported
            lengths += second.close()
        assert error == "it shrank while it was archived" and len(sha) == 64
        append_file(raw, os.fspath(other))
        empty = Segment(raw)
        lengths += empty.close()
        raw.write(gzip.compress(end_of_archive(lengths)))
    assert len(gzip.decompress(archive.read_bytes())) % tarfile.RECORDSIZE == 0
    with tarfile.open(archive) as tar:
        assert tar.getnames() == ["one.txt", "sub", "sub/two.bin"]
        assert tar.extractfile("one.txt").read() == b"one"  # type: ignore[union-attr]
    listing = subprocess.run(["tar", "tzvf", str(archive)], capture_output=True, text=True, check=True)
    assert len(listing.stdout.splitlines()) == 3 and listing.stderr == ""
    subprocess.run(["gzip", "-t", str(archive)], check=True)
