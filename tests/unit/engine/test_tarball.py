"""Tarball intake against hand-made archives whose metadata lies (issue 8, defects 4 and 6).

Every header and record is bounded, sizes are never negative, and a stream that is short, out of
step or carries anything after its end is damaged: refused whole, never read in part.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

from lz.core.errors import BundleError
from lz.intake.bundle import IntakeLimits, stage_bundle, stage_upload
from tests.paths import ROOT
from tests.unit import tarcraft as t
from tests.unit.corpus import bad_input, nothing_left, report_to, tried

SMALL = IntakeLimits(max_bytes=10 << 20, max_files=1000, max_depth=16)
TOML = b'command = ["sh", "run.sh"]\n'


@pytest.fixture(autouse=True)
def _corpus(request: pytest.FixtureRequest) -> None:
    report_to(request.config)


def write(tmp_path: Path, raw: bytes, name: str = "job.tar") -> Path:
    path = tmp_path / name
    path.write_bytes(raw)
    return path


def refused(tmp_path: Path, raw: bytes, match: str, *, name: str = "job.tar", limits: IntakeLimits = SMALL) -> None:
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    with bad_input(BundleError, match):
        stage_bundle(write(tmp_path, raw, name), spool / "job1", limits)
    nothing_left(spool)


def accepted(tmp_path: Path, raw: bytes, name: str = "job.tar") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    dest = tmp_path / "spool" / "job1"
    dest.parent.mkdir(exist_ok=True)
    stage_bundle(write(tmp_path, raw, name), dest, SMALL)
    return dest


# -- defect 6: ordinary archives -------------------------------------------------------------------
def test_tar_of_dot_is_accepted(tmp_path: Path) -> None:
    """``tar czf job.tgz -C job .`` (members ``./``, ``./run.sh``), made by the real GNU tar."""
    job = tmp_path / "job"
    (job / "data").mkdir(parents=True)
    (job / "run.sh").write_text("echo hi\n")
    (job / "data" / "in.txt").write_text("x\n")
    (job / "lz.toml").write_bytes(TOML)
    subprocess.run(["tar", "czf", str(tmp_path / "job.tgz"), "-C", str(job), "."], check=True)
    assert tarfile.open(tmp_path / "job.tgz").getnames()[0] == "."  # the member "./"
    dest = tmp_path / "spool" / "j"
    dest.parent.mkdir()
    stage_bundle(tmp_path / "job.tgz", dest, SMALL)
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) == ["data", "data/in.txt", "lz.toml", "run.sh"]


def test_colon_in_second_place_is_a_relative_name(tmp_path: Path) -> None:
    dest = accepted(tmp_path, t.regular("k:v", b"1") + t.regular("C:x", b"2") + t.end())
    assert (dest / "k:v").read_bytes() == b"1" and (dest / "C:x").read_bytes() == b"2"


def test_long_names_pax_paths_and_global_headers_are_read(tmp_path: Path) -> None:
    long = "d/" + "n" * 150 + ".txt"
    gnu = t.header("././@LongLink", size=len(long) + 1, kind=b"L") + t.padded(long.encode() + b"\0")
    raw = (t.pax({"comment": "git archive's commit id"}, kind=b"g")
           + gnu + t.header(long[:100], size=1, magic=b"ustar  \0") + t.padded(b"g")
           + t.pax({"path": "p/" + "x" * 200, "mtime": "1.5"}) + t.header("ignored", size=1) + t.padded(b"p")
           + t.pax({"linkpath": "p/" + "x" * 200}) + t.header("ln", kind=b"2") + t.end())
    dest = accepted(tmp_path, raw)
    assert (dest / long).read_bytes() == b"g" and (dest / "p" / ("x" * 200)).read_bytes() == b"p"
    assert os.readlink(dest / "ln") == "p/" + "x" * 200


def test_ustar_prefix_and_old_style_directories(tmp_path: Path) -> None:
    raw = (t.header("sub/", kind=b"\0") + t.header("file.txt", size=2, prefix=b"sub/deeper")
           + t.padded(b"ok") + t.regular("lz.toml", TOML) + t.end())
    dest = accepted(tmp_path, raw)
    assert (dest / "sub" / "deeper" / "file.txt").read_bytes() == b"ok"


def test_bz2_and_xz_and_an_upload_stream_from_a_pipe(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    (job / "lz.toml").write_bytes(TOML)
    for flag, name in (("j", "job.tar.bz2"), ("J", "job.tar.xz")):
        subprocess.run(["tar", f"c{flag}f", str(tmp_path / name), "-C", str(job), "."], check=True)
        dest = tmp_path / f"spool-{flag}" / "j"
        dest.parent.mkdir()
        stage_bundle(tmp_path / name, dest, SMALL)
        assert (dest / "lz.toml").read_bytes() == TOML
    tar = subprocess.Popen(["tar", "czf", "-", "-C", str(job), "."], stdout=subprocess.PIPE)
    assert tar.stdout is not None
    stage_upload(tar.stdout, tmp_path / "upload", SMALL)  # not seekable: read once, front to back
    assert tar.wait() == 0 and (tmp_path / "upload" / "lz.toml").read_bytes() == TOML


# -- defect 4: metadata bounded ------------------------------------------------------------------
def test_gigantic_gnu_long_name_is_refused_quickly_with_bounded_memory(tmp_path: Path) -> None:
    """The issue's bomb: a 1.5 MB .tar.gz whose GNU long-name record claims 1.5 GB (the old code
    held it all in memory: 6.2 GB for 2 min 42 s). Run in a child with an address-space cap, so a
    regression fails the test instead of the machine."""
    claim = 1536 << 20
    bomb = write(tmp_path, t.gz_of_zeros_then(t.header("././@LongLink", size=claim, kind=b"L"), 1536), "bomb.tgz")
    assert bomb.stat().st_size < 2 << 20
    child = textwrap.dedent("""
        import json, resource, sys, time
        from pathlib import Path
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from lz.intake.bundle import IntakeLimits, stage_bundle
        from lz.core.errors import BundleError
        start = time.monotonic()
        try:
            stage_bundle(Path(sys.argv[1]), Path(sys.argv[2]), IntakeLimits())
            error = None
        except BundleError as exc:
            error = str(exc)
        except MemoryError:
            error = "MemoryError"
        # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec
        hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
        print(json.dumps({"error": error, "seconds": time.monotonic() - start, "max_rss_mb": hwm / 1024}))
    """)
    out = subprocess.run([sys.executable, "-c", child, str(bomb), str(tmp_path / "dest")], capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    tried()
    result = json.loads(out.stdout or "{}") or {"stderr": out.stderr[-2000:]}
    print(f"long-name bomb: {result}")
    assert "long name of 1610612736 bytes" in str(result.get("error")), result
    assert result["seconds"] < 5 and result["max_rss_mb"] < 150, result
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("raw,match", [
    (t.header("././@LongLink", size=5 << 20, kind=b"K") + t.end(), "long link name of 5242880 bytes"),
    (t.pax({"comment": "x" * (2 << 20)}) + t.header("a") + t.end(), "pax header of 2097.* bytes"),
    (t.pax({"size": "-1000000000000000"}) + t.header("a", size=1) + t.padded(b"a") + t.end(),
     "size -1000000000000000 is not a size"),
    (t.pax({"size": "+5"}) + t.header("a") + t.end(), "size \\+5 is not a size"),
    (t.pax({"size": "1e3"}) + t.header("a") + t.end(), "size 1e3 is not a size"),
    (t.header("a", size_field=b"\xff" * 12) + t.end(), "a: negative size"),
    (t.header("a", size_field=b"\x80" + b"\0" * 3 + b"\xff" * 8) + t.end(), "larger than 10 MiB once unpacked, at a"),
    (t.header("a", size_field=b"12x4\0\0\0\0\0\0\0\0") + t.end(), "bad number in the size field"),
    (t.header("a", size=1, checksum=1) + t.padded(b"a") + t.end(), "not a tar archive"),
    (t.regular("ok", b"1") + t.header("a", size=1, checksum=1) + t.padded(b"a") + t.end(),
     "the block at byte 1024 is not a tar header"),
    (t.header("a", kind=b"S", size=0) + t.end(), "a: sparse files are not supported"),
    (t.header("a", kind=b"V") + t.end(), "a: tar entry type 'V' is not supported"),
    (t.header("d", kind=b"5", size=512) + bytes(512) + t.end(), "d: a directory cannot carry data"),
    (t.header("l", kind=b"2", link="x", size=512) + t.regular("x", b"1") + t.end(), "l: a symlink cannot carry data"),
    (t.pax(b"8 path=a\n") + t.header("a") + t.end(), "malformed pax record"),
    (t.pax(b"06 path=a\n") + t.header("a") + t.end(), "malformed pax record"),
    (t.pax(b"10 patha\n\n") + t.header("a") + t.end(), "malformed pax record"),
    (t.pax({"GNU.sparse.map": "0,1"}) + t.header("a") + t.end(), "sparse files are not supported"),
    (t.pax({"path": "x"}, kind=b"g") + t.header("a") + t.end(), "global pax header sets 'path'"),
    (t.pax({"path": "x"}) + t.end(), "extended header with no member"),
    (b"".join(t.pax({"comment": str(i)}) for i in range(20)) + t.header("a") + t.end(), "more than 8 extended"),
    (t.header("n" * 99 + "é", size=1) + t.padded(b"x") + t.end(), None),
])
def test_lying_metadata_is_refused(tmp_path: Path, raw: bytes, match: str | None) -> None:
    if match is None:  # a name cut in the middle of a UTF-8 sequence by the 100-byte field
        match = "not valid UTF-8"
    refused(tmp_path, raw, match)
    refused(tmp_path, t.gz(raw), match, name="job.tgz")


def test_negative_pax_size_no_longer_drops_later_members(tmp_path: Path) -> None:
    """The issue's case: the stream lost sync and lz.toml, behind it, silently vanished."""
    raw = (t.regular("run.sh", b"echo hi\n") + t.pax({"size": "-1000000000000000"})
           + t.header("data.bin", size=4) + t.padded(b"data") + t.regular("lz.toml", TOML) + t.end())
    refused(tmp_path, t.gz(raw), "size -1000000000000000", name="job.tgz")


def test_out_of_step_stream_is_damaged_not_ended(tmp_path: Path) -> None:
    """A pax size smaller than the data: the next 'header' is file data, which must not read as
    the end of the archive (tarfile stops there quietly and drops everything after it)."""
    raw = (t.pax({"size": "0"}) + t.header("a", size=1024) + b"not a header".ljust(512, b"!") + bytes(512)
           + t.regular("lz.toml", TOML) + t.end())
    refused(tmp_path, raw, "not a tar header")


@pytest.mark.parametrize("cut,match", [
    (lambda raw: raw[: 512 + 100], "ends in the middle of run.sh"),
    (lambda raw: raw[:300], "ends in the middle of a header"),
    (lambda raw: raw[: 512 * 3], "ends without the end-of-archive marker"),
    (lambda raw: raw[:-1024], "ends without the end-of-archive marker"),
    (lambda raw: raw + t.regular("hidden", b"x"), "data after the end of the archive"),
    (lambda raw: raw[:-1024] + t.regular("hidden", b"x")[:700], "ends in the middle of hidden"),
])
def test_short_or_padded_streams_are_damaged(tmp_path: Path, cut: object, match: str) -> None:
    raw = t.regular("run.sh", b"echo hi\n" * 100) + t.regular("lz.toml", TOML) + t.end()
    refused(tmp_path, cut(raw), match)  # type: ignore[operator]


def test_truncated_and_trailing_garbage_gzip_are_damaged(tmp_path: Path) -> None:
    raw = t.gz(t.regular("run.sh", os.urandom(50_000)) + t.regular("lz.toml", TOML) + t.end())
    refused(tmp_path, raw[: len(raw) // 2], "damaged", name="job.tgz")
    refused(tmp_path, raw[:-4], "damaged", name="job.tgz")  # the length in the trailer is gone
    refused(tmp_path, raw + b"PK\x03\x04 more", "damaged", name="job.tgz")


def test_trailing_zeros_and_a_lone_end_block_are_fine(tmp_path: Path) -> None:
    for tail in (t.end() + bytes(10240 + 100), bytes(512)):
        raw = t.regular("lz.toml", TOML) + tail
        assert (accepted(tmp_path / str(len(tail)), raw) / "lz.toml").read_bytes() == TOML


def test_bounded_names(tmp_path: Path) -> None:
    refused(tmp_path, t.pax({"path": "a/" * 3000}) + t.header("x") + t.end(), "name longer than 4096 bytes")
    refused(tmp_path, t.pax({"linkpath": "a/" * 3000}) + t.header("x", kind=b"2") + t.end(),
            "name longer than 4096 bytes")


def test_upload_limits_apply_to_streams(tmp_path: Path) -> None:
    raw = t.gz(b"".join(t.regular(f"f{i}", b"x") for i in range(20)) + t.end())
    with bad_input(BundleError, "too many files"):
        stage_upload(io.BytesIO(raw), tmp_path / "up", IntakeLimits(max_files=10))
    with bad_input(BundleError, "larger than"):
        stage_upload(io.BytesIO(t.regular("big", bytes(4096)) + t.end()), tmp_path / "up", IntakeLimits(max_bytes=1000))
    with bad_input(BundleError, "not a tar archive"):
        stage_upload(io.BytesIO(b"PK\x03\x04" + bytes(600)), tmp_path / "up", SMALL)
    with bad_input(BundleError, "empty"):
        stage_upload(io.BytesIO(b""), tmp_path / "up", SMALL)
    nothing_left(tmp_path / "up")
    assert list(tmp_path.iterdir()) == [], "no staging directory left behind"


def test_xz_decoder_memory_is_capped_and_streams_may_follow_each_other(tmp_path: Path) -> None:
    """An xz archive picks its decoder's dictionary (up to 4 GiB): the cap refuses a big one."""
    import lzma

    from lz.intake.tar_reader import TarLimits, TarStream

    raw = t.regular("a", b"1" * 1000) + t.regular("lz.toml", TOML) + t.end()
    half = len(raw) // 1024 * 512
    two_streams = lzma.compress(raw[:half]) + lzma.compress(raw[half:])
    names = [m.name for m in TarStream(io.BytesIO(two_streams)).members()]
    assert names == ["a", "lz.toml"]
    big_dictionary = lzma.compress(raw, filters=[{"id": lzma.FILTER_LZMA2, "dict_size": 32 << 20}])
    with bad_input(BundleError, "damaged compressed stream .*[Mm]emory"):
        list(TarStream(io.BytesIO(big_dictionary), TarLimits(max_decoder_bytes=8 << 20)).members())
    with bad_input(BundleError, "damaged compressed stream .*ends before its end marker"):
        list(TarStream(io.BytesIO(lzma.compress(raw)[:-20])).members())


def test_old_signed_checksums_are_read(tmp_path: Path) -> None:
    block = bytearray(t.header("caf\xe9".encode("latin-1") + b".txt", size=0))
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(b - 256 if b > 127 else b for b in block)  # as old tars summed
    refused(tmp_path, bytes(block) + t.end(), "not valid UTF-8")  # read as a header; its name is then refused
