"""Results archives, their manifest and logs, and unpacking them, on real files.

Tests run as root, who can open any file, so a file the job made unreadable is simulated by
injecting the file opener: one that fails as open(2) does for another user (EACCES), one that swaps
the file for a dangling symlink just before the real, O_NOFOLLOW open (which then fails), and one
whose reads fail part-way (EIO).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import tarfile
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from lz.results.collect import ResultSummary, collect, open_file, read_manifest
from lz.results.manifest import Manifest, snapshot


def tree(root: Path) -> Path:
    (root / "sub").mkdir(parents=True)
    for name in ("keep.txt", "change.txt", "remove.txt", "touch.txt", "chmod.txt", "sub/inner.txt"):
        (root / name).write_text(name)
    return root


def job_run(root: Path) -> None:
    """What a job does to its work directory."""
    time.sleep(0.02)  # past the filesystem's timestamp granularity
    (root / "change.txt").write_text("changed!")
    (root / "touch.txt").write_text("touch.txt")  # same size and content, new mtime
    os.chmod(root / "chmod.txt", 0o600)
    (root / "remove.txt").unlink()
    (root / "out").mkdir()
    (root / "out" / "result.bin").write_bytes(b"\x00\x01" * 500)
    (root / "empty").mkdir()
    os.symlink("/etc/passwd", root / "link")
    os.mkfifo(root / "pipe")


def logs(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "stdout").write_text("hello\n")
    (tmp_path / "build.log").write_text("built\n")
    return {"stdout": tmp_path / "stdout", "stderr": tmp_path / "no-such-log", "build.log": tmp_path / "build.log"}


def members(results: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(results / "results.tar.gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def by_path(results: Path) -> dict[str, dict[str, object]]:
    return {e["path"]: e for e in read_manifest(results)["entries"]}


def collected(tmp_path: Path, **options: object) -> tuple[Path, Path, ResultSummary]:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    job_run(root)
    dest = tmp_path / "results" / "job"
    summary = collect({"": (root, before)}, dest, logs(tmp_path), **options)  # type: ignore[arg-type]
    return root, dest, summary


def test_the_archive_holds_exactly_the_added_and_modified(tmp_path: Path) -> None:
    _, dest, summary = collected(tmp_path)
    archived = members(dest)
    assert sorted(archived) == ["change.txt", "chmod.txt", "empty", "link", "out/result.bin", "touch.txt"]
    assert "keep.txt" not in archived and "sub/inner.txt" not in archived  # untouched inputs stay out
    assert archived["link"].issym() and archived["link"].linkname == "/etc/passwd"  # a link, not /etc/passwd
    assert archived["empty"].isdir() and stat.S_IMODE(archived["chmod.txt"].mode) == 0o600
    assert summary == ResultSummary(added=3, modified=3, deleted=1, skipped=1, unreadable=0, bytes_archived=1026)  # 1000 + 8 + 9 + 9


def test_the_manifest_lists_every_change_with_hashes_of_archived_files(tmp_path: Path) -> None:
    root, dest, summary = collected(tmp_path)
    entries = by_path(dest)
    assert {p: e["status"] for p, e in entries.items()} == {
        "change.txt": "modified", "chmod.txt": "modified", "touch.txt": "modified", "empty": "added",
        "link": "added", "out/result.bin": "added", "remove.txt": "deleted", "pipe": "skipped"}
    result = entries["out/result.bin"]
    assert result == {"path": "out/result.bin", "status": "added", "type": "file", "size": 1000,
                      "sha256": hashlib.sha256((root / "out" / "result.bin").read_bytes()).hexdigest()}
    assert entries["link"]["type"] == "symlink" and entries["link"]["target"] == "/etc/passwd"
    assert entries["link"]["sha256"] is None and entries["empty"]["type"] == "dir"
    assert entries["pipe"]["type"] == "fifo" and entries["remove.txt"]["type"] == "file"
    document = read_manifest(dest)
    assert document["totals"] == summary.to_dict()
    assert document["logs"] == {"stdout": True, "stderr": False, "build.log": True}
    assert (dest / "stdout").read_text() == "hello\n" and not (dest / "stderr").exists()


def test_trees_are_archived_under_their_prefix(tmp_path: Path) -> None:
    work, sandbox = tree(tmp_path / "w"), tree(tmp_path / "sandbox")
    trees = {"": (work, snapshot(work)), "container": (sandbox, snapshot(sandbox))}
    (work / "a.txt").write_text("a")
    (sandbox / "sub" / "b.txt").write_text("b")
    summary = collect(trees, tmp_path / "r", {})
    assert sorted(members(tmp_path / "r")) == ["a.txt", "container/sub/b.txt"]
    assert summary.added == 2


def test_a_file_that_cannot_be_opened_is_reported_unreadable(tmp_path: Path) -> None:
    def opener(name: str, dir_fd: int | None) -> BinaryIO:
        if name == "change.txt":
            raise PermissionError(errno.EACCES, "Permission denied", name)
        return open_file(name, dir_fd)

    _, dest, summary = collected(tmp_path, opener=opener)
    entry = by_path(dest)["change.txt"]
    assert entry["status"] == "unreadable" and entry["error"] == "Permission denied" and entry["sha256"] is None
    assert "change.txt" not in members(dest) and "touch.txt" in members(dest)
    assert (summary.modified, summary.unreadable) == (2, 1)


def test_a_file_swapped_for_a_symlink_is_not_followed(tmp_path: Path) -> None:
    def swapping(name: str, dir_fd: int | None) -> BinaryIO:  # the race: the walk saw a file, the open finds a link
        if name == "result.bin":
            os.unlink(name, dir_fd=dir_fd)
            os.symlink("/etc/passwd", name, dir_fd=dir_fd)
        return open_file(name, dir_fd)  # O_NOFOLLOW: fails with ELOOP

    _, dest, summary = collected(tmp_path, opener=swapping)
    assert by_path(dest)["out/result.bin"]["status"] == "unreadable"
    assert "out/result.bin" not in members(dest) and summary.unreadable == 1


def test_a_read_failing_part_way_keeps_the_archive_well_formed(tmp_path: Path) -> None:
    class FailingReads(io.BufferedReader):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError(errno.EIO, "Input/output error")

    def opener(name: str, dir_fd: int | None) -> BinaryIO:
        if name == "result.bin":
            return FailingReads(io.FileIO(os.open(name, os.O_RDONLY, dir_fd=dir_fd)))  # type: ignore[return-value]
        return open_file(name, dir_fd)

    _, dest, _ = collected(tmp_path, opener=opener)
    entry = by_path(dest)["out/result.bin"]
    assert entry["status"] == "unreadable" and "Input/output error" in str(entry["error"])
    with tarfile.open(dest / "results.tar.gz") as tar:  # every member still readable after it
        assert tar.extractfile("touch.txt").read() == b"touch.txt"  # type: ignore[union-attr]


def test_collecting_again_after_a_crash_redoes_it_and_after_success_returns_it(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    job_run(root)
    dest = tmp_path / "results" / "job"
    leftover = dest.with_name(".job.tmp")  # a crash mid-collection left this
    (leftover / "locked").mkdir(parents=True)
    (leftover / "results.tar.gz").write_bytes(b"half")
    (leftover / "locked").chmod(0o500)
    first = collect({"": (root, before)}, dest, logs(tmp_path))
    assert not leftover.exists() and sorted(members(dest))[0] == "change.txt"
    stored = (dest / "results.tar.gz").stat()
    (root / "change.txt").unlink()  # e.g. cleanup had begun before a crash
    assert collect({"": (root, before)}, dest, logs(tmp_path)) == first
    assert (dest / "results.tar.gz").stat().st_mtime_ns == stored.st_mtime_ns  # not redone


def test_an_incomplete_destination_is_refused(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "stray").write_text("?")
    with pytest.raises(FileExistsError):
        collect({"": (root, snapshot(root))}, tmp_path / "dest", {})


def test_collect_reads_a_saved_before_manifest(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    snapshot(root).save(tmp_path / "before.json")
    (root / "keep.txt").write_text("kept no more")
    summary = collect({"": (root, Manifest.load(tmp_path / "before.json"))}, tmp_path / "r", {})
    assert summary == ResultSummary(modified=1, bytes_archived=12)
    assert ResultSummary.from_dict(summary.to_dict()) == summary
