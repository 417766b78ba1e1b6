"""Mutated archives: whatever the bytes, intake refuses with one line or accepts a tree that
stays inside its directory; never a traceback, never a partial tree (issue 8, defect 4)."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest

from lz.core.errors import BundleError
from lz.intake.bundle import IntakeLimits, stage_upload
from tests.unit import tarcraft as t
from tests.unit.corpus import report_to, tried

LIMITS = IntakeLimits(max_bytes=1 << 20, max_files=200, max_depth=16, max_name_bytes=1024, max_header_bytes=8192)


def _sample() -> bytes:
    long = "deep/" + "n" * 120
    return (t.pax({"comment": "x"}, kind=b"g") + t.header("deep/", kind=b"5", mode=0o755)
            + t.header("././@LongLink", size=len(long) + 1, kind=b"L") + t.padded(long.encode() + b"\0")
            + t.header(long[:100], size=5) + t.padded(b"hello")
            + t.pax({"path": "p/" + "x" * 120, "size": "3"}) + t.header("x", size=3) + t.padded(b"abc")
            + t.header("ln", kind=b"2", link="deep") + t.header("hard", kind=b"1", link=long)
            + t.regular("lz.toml", b'command = ["sh"]\n') + t.end())


def _mutations(raw: bytes, rng: random.Random, count: int) -> list[bytes]:
    headers = [i for i in range(0, len(raw), 512) if raw[i:i + 512] != bytes(512)]
    out = []
    for _ in range(count):
        data = bytearray(raw)
        how = rng.randrange(5)
        if how == 0:  # flip bytes of a header, fixing the checksum half the time (so the lie is read)
            start = rng.choice(headers)
            for _ in range(rng.randint(1, 4)):
                data[start + rng.randrange(512)] = rng.randrange(256)
            if rng.random() < 0.5:
                block = data[start:start + 512]
                block[148:156] = b" " * 8
                block[148:156] = b"%06o\0 " % sum(block)
                data[start:start + 512] = block
        elif how == 1:  # cut anywhere
            data = data[: rng.randrange(len(data))]
        elif how == 2:  # a block repeated or dropped
            i = rng.randrange(0, len(raw), 512)
            data = data[:i] + data[i:i + 512] * rng.randint(0, 2) + data[i + 512:]
        elif how == 3:  # a size field set to anything, checksum fixed
            start = rng.choice(headers)
            block = data[start:start + 512]
            block[124:136] = rng.choice([b"%011o\0" % rng.randrange(1 << 33), os.urandom(12), b"\xff" * 12,
                                         b"\x80" + os.urandom(11), b"-0000000001\0"])
            block[148:156] = b" " * 8
            block[148:156] = b"%06o\0 " % sum(block)
            data[start:start + 512] = block
        else:  # garbage appended
            data += os.urandom(rng.randint(1, 2000))
        out.append(bytes(data))
    return out


@pytest.mark.parametrize("compress", [False, True])
def test_mutated_archives_are_refused_cleanly_or_accepted_inside(tmp_path: Path, compress: bool,
                                                                   request: pytest.FixtureRequest) -> None:
    report_to(request.config)
    rng = random.Random(8 + compress)
    refused = accepted = 0
    for i, raw in enumerate(_mutations(_sample(), rng, 200)):
        dest = tmp_path / f"d{i}"
        tried()
        try:
            stage_upload(io.BytesIO(t.gz(raw) if compress else raw), dest, LIMITS)
        except BundleError as exc:
            assert "\n" not in str(exc)
            assert not dest.exists()
            refused += 1
            continue
        accepted += 1
        real = os.path.realpath(dest)
        for path in dest.rglob("*"):
            assert os.path.realpath(path).startswith(real + os.sep) or os.path.realpath(path) == real, path
        assert not path.is_symlink() or os.path.realpath(path).startswith(real)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [], "staging left behind"
    print(f"mutated archives: {refused} refused, {accepted} accepted")
    assert refused > 150
