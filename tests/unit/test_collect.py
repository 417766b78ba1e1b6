"""Manifests, diffs and results archives on real files."""

from __future__ import annotations

import json
import os
import tarfile
import time
from pathlib import Path

from lz.collect import collect, read_manifest, unpack_results
from lz.manifest import Manifest, diff, snapshot


def tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    for name in ("keep.txt", "change.txt", "remove.txt", "touch.txt", "chmod.txt", "sub/inner.txt"):
        (root / name).write_text(name)
    return root


def test_diff_finds_every_kind_of_change(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    time.sleep(0.01)
    (root / "change.txt").write_text("different length now")
    (root / "remove.txt").unlink()
    (root / "touch.txt").write_text("touch.txt")  # same size and content, new mtime
    os.chmod(root / "chmod.txt", 0o600)
    (root / "new.txt").write_text("new")
    (root / "newdir").mkdir()
    os.symlink("/etc/passwd", root / "link")
    os.mkfifo(root / "pipe")
    changes = diff(before, snapshot(root))
    assert changes.added == ["link", "new.txt", "newdir"]
    assert changes.modified == ["change.txt", "chmod.txt", "touch.txt"]
    assert changes.deleted == ["remove.txt"] and changes.skipped == ["pipe"]


def test_manifest_round_trip(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    manifest = snapshot(root)
    manifest.save(tmp_path / "m.json")
    assert Manifest.load(tmp_path / "m.json").entries == manifest.entries


def test_collect_archive_manifest_logs_and_unpack(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    (root / "change.txt").write_text("changed!")
    (root / "out").mkdir()
    (root / "out" / "result.bin").write_bytes(os.urandom(1000))
    os.symlink("/etc/passwd", root / "link")
    (root / "remove.txt").unlink()
    os.mkfifo(root / "pipe")
    logs = tmp_path / "stdout"
    logs.write_text("hello\n")
    dest = tmp_path / "results" / "job"
    summary = collect({"": (root, before)}, dest, {"stdout": logs, "stderr": tmp_path / "missing"})
    assert (summary.added, summary.modified, summary.deleted, summary.skipped) == (3, 1, 1, 1)
    with tarfile.open(dest / "results.tar.gz") as tar:
        names = sorted(tar.getnames())
        assert tar.getmember("link").issym() and tar.getmember("link").linkname == "/etc/passwd"
    assert names == ["change.txt", "link", "out", "out/result.bin"]
    manifest = read_manifest(dest)
    entries = {e["path"]: e for e in manifest["entries"]}
    assert entries["out/result.bin"]["size"] == 1000 and len(entries["out/result.bin"]["sha256"]) == 64
    assert entries["remove.txt"]["status"] == "deleted" and entries["pipe"]["status"] == "skipped"
    assert manifest["logs"] == {"stdout": True, "stderr": False}
    out = tmp_path / "unpacked"
    unpack_results(dest, out)
    assert (out / "change.txt").read_text() == "changed!" and os.readlink(out / "link") == "/etc/passwd"
    assert not (out / "keep.txt").exists()
    assert (out / ".lz" / "stdout").read_text() == "hello\n"
    assert json.loads((out / ".lz" / "manifest.json").read_text())["totals"]["added"] == 3


def test_collect_is_idempotent_after_a_crash(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    (root / "new.txt").write_text("x")
    dest = tmp_path / "results" / "job"
    leftover = dest.with_name(".job.tmp")
    leftover.mkdir(parents=True)
    (leftover / "results.tar.gz").write_bytes(b"half")  # a crash mid-collection
    first = collect({"": (root, before)}, dest, {})
    (root / "new.txt").unlink()  # e.g. the work dir was half removed before the crash
    assert collect({"": (root, before)}, dest, {}) == first
    assert not leftover.exists()


def test_a_file_that_cannot_be_read_is_reported_not_fatal(tmp_path: Path) -> None:
    # Tests run as root, who reads anything; a file that vanishes between the snapshot and the
    # read fails the same way (open() raises) as one the job made unreadable.
    from lz.collect import _archive

    with tarfile.open(tmp_path / "a.tar.gz", "w:gz") as tar:
        record = _archive(tar, tmp_path, "gone.txt", "gone.txt", "f", "added")
    assert record["status"] == "unreadable" and "No such file" in record["error"]


def test_a_directory_that_cannot_be_listed_is_reported(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    (root / "sub").chmod(0o000)
    try:
        manifest = snapshot(root)
    finally:
        (root / "sub").chmod(0o755)
    if os.geteuid() != 0:
        assert manifest.unreadable == ["sub"]
    assert "sub" in manifest.entries
