"""The walk after a job by find(1) (``lz.results.find_walk``) and the snapshot clock that allows it
(``lz.results.since``): the same answer as the Python walk and the pure ``diff``, with only what changed
looked at in Python, and the Python walk again wherever find fails."""

from __future__ import annotations

import os
import tarfile
import time
from pathlib import Path

import pytest

from lz.results.changes import FIND_FROM, Comparison, by_find, changes_since, diff
from lz.results.collect import ARCHIVE, collect, read_manifest
from lz.results.find_walk import FIND, find_argv, find_walk, split_records
from lz.results.manifest import Manifest, snapshot
from lz.results.since import MARGIN_NS, STEP_NS, Since, mount_type, still_valid
from lz.results.walk import open_dir
from tests.unit.engine.test_manifest import later

# captured from a Linux host (fields trimmed to what the parser reads), with a mount point holding a space
MOUNTINFO = """\
22 1 252:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
25 22 0:23 / /proc rw,nosuid shared:12 - proc proc rw
31 22 0:27 / /srv/scratch rw,relatime shared:20 - nfs4 server:/export rw,vers=4.2
32 31 0:28 / /srv/scratch/local\\040disk rw,relatime shared:21 - xfs /dev/vdb rw
33 22 0:29 / /dev/shm rw,nosuid,nodev shared:3 - tmpfs tmpfs rw
"""


def wide(root: Path) -> Path:
    """20 directories of 10 files, a link and a nested directory."""
    for d in range(20):
        (root / f"d{d:02d}" / "inner").mkdir(parents=True)
        for f in range(10):
            (root / f"d{d:02d}" / f"f{f}").write_bytes(b"x" * f)
    os.symlink("d00/f1", root / "link")
    return root


def settled(root: Path) -> Manifest:
    """A snapshot taken as if the tree had been built long before it (the margin passed): only what
    changes after it has a newer ctime."""
    before = snapshot(root)
    assert before.since is not None  # tmp_path is on a local filesystem
    before.since = before.since._replace(ns=time.time_ns())
    later()
    return before


def change_everything(root: Path) -> None:
    (root / "d00" / "f0").write_bytes(b"modified")
    old = (root / "d01" / "f1").stat()
    (root / "d01" / "new-with-old-mtime").write_bytes(b"n")  # a new file dated before the snapshot
    os.utime(root / "d01" / "new-with-old-mtime", ns=(old.st_atime_ns, old.st_mtime_ns))
    with open(root / "d02" / "f3", "r+b") as handle:  # rewritten in place, its mtime put back
        handle.write(b"YYY")
    os.utime(root / "d02" / "f3", ns=(old.st_atime_ns, (root / "d02" / "f3").stat().st_mtime_ns - 10**9))
    os.rename(root / "d03" / "f1", root / "d03" / "renamed")
    os.chmod(root / "d04", 0o700)
    for f in range(10):
        (root / "d05" / f"f{f}").unlink()
    (root / "d05" / "inner").rmdir()
    (root / "d05").rmdir()
    (root / "d06" / "inner").rmdir()
    os.symlink("/etc", root / "d06" / "inner")  # a directory swapped for a link: never followed
    (root / "d07" / "line\nbreak").write_bytes(b"hostile name")
    os.mkfifo(root / "d08" / "pipe")
    (root / "new" / "deep").mkdir(parents=True)
    (root / "new" / "deep" / "file").write_bytes(b"new")
    os.unlink(root / "link")
    os.symlink("d00/f2", root / "link")


class Counting(Comparison):
    """Counts the directories compared in full and those listed again."""

    visits = relists = 0

    def visit(self, fd: int, rel: str) -> list[str]:
        self.visits += 1
        return super().visit(fd, rel)

    def relisted(self, fd: int, rel: str) -> set[str] | None:
        new = super().relisted(fd, rel)
        self.relists += new is not None
        return new


def test_find_is_asked_for_changed_entries_and_the_directories() -> None:
    assert find_argv("/w/job", 1_700_000_000_000_000_123) == [
        "find", "/w/job", "(", "-newerct", "@1700000000.000000123", "-printf", "c%y%P\\0", ")",
        "-o", "(", "-type", "d", "-printf", "ud%P\\0", ")"]


def test_records_split_across_reads_keep_newlines_in_names() -> None:
    chunks = [b"ud\0cfd01/a\nb\0cd", b"d02\0", b"", b"cld03/x\0"]
    assert list(split_records(iter(chunks))) == [b"ud", b"cfd01/a\nb", b"cdd02", b"cld03/x"]
    with pytest.raises(ValueError):
        list(split_records(iter([b"ud\0cfd01/cut sh"])))


def test_mount_type_is_the_deepest_mount_above_the_path() -> None:
    assert mount_type(MOUNTINFO, "/srv/h/work") == "ext4"
    assert mount_type(MOUNTINFO, "/srv/scratch/job") == "nfs4"
    assert mount_type(MOUNTINFO, "/srv/scratch/local disk/job") == "xfs"
    assert mount_type(MOUNTINFO, "/srv/scratchy") == "ext4"
    assert mount_type(MOUNTINFO, "/dev/shm") == "tmpfs"
    assert mount_type("", "/x") == "" and mount_type("garbage line\n", "/x") == ""


def test_the_snapshot_clock_holds_only_in_the_same_boot_without_a_step_back() -> None:
    since = Since(10 * 10**9, "boot-a", 5 * 10**9)
    assert still_valid(since, ("boot-a", 5 * 10**9))
    assert still_valid(since, ("boot-a", 5 * 10**9 - STEP_NS + 1))  # slewed a little: ctimes still after ns
    assert not still_valid(since, ("boot-a", 5 * 10**9 - STEP_NS))  # stepped back
    assert not still_valid(since, ("boot-b", 5 * 10**9))  # rebooted
    assert not still_valid(None, ("boot-a", 0)) and not still_valid(Since(1, "", 0), ("", 0))
    assert STEP_NS < MARGIN_NS


def test_the_snapshot_clock_is_saved_with_the_manifest(tmp_path: Path) -> None:
    before = snapshot(wide(tmp_path / "w"))
    assert before.since is not None and before.since.ns < time.time_ns() - MARGIN_NS + 10**9
    before.save(tmp_path / "m.json")
    assert Manifest.load(tmp_path / "m.json") == before
    before.since = None  # a manifest saved before lz recorded it: walked in Python
    before.save(tmp_path / "old.json")
    assert Manifest.load(tmp_path / "old.json").since is None


def test_find_compares_only_what_changed_and_agrees_with_the_python_walk(tmp_path: Path) -> None:
    root = wide(tmp_path / "w")
    before = settled(root)
    change_everything(root)
    expected = diff(before, snapshot(root))
    comparer = Counting(before)
    assert before.since is not None and find_walk(str(root), before.since.ns, comparer)
    # listed in full: only new/ and new/deep, which the snapshot never listed; the root (d05 gone, new/
    # made), d01, d03, d04 (chmod), d06, d07 and d08 are listed again without a stat of what they kept
    assert comparer.visits == 2 and comparer.relists == 7
    assert changes_since(root, before, find_from=0) == expected
    assert changes_since(root, before, find=None) == expected
    assert dict(changes_since(root, before, find_from=0).current) == dict(expected.current)
    assert expected.added == ["d01/new-with-old-mtime", "d03/renamed", "d07/line\nbreak", "new/deep/file"]
    assert expected.modified == ["d00/f0", "d02/f3", "d04", "d06/inner", "link"]
    assert {"d03/f1", "d05", "d05/f9", "d05/inner"} <= set(expected.deleted) and expected.skipped == ["d08/pipe"]


def test_a_name_gained_and_one_lost_in_every_directory(tmp_path: Path) -> None:
    """Every directory listed again (none compared in full): gains and losses all found."""
    root = wide(tmp_path / "w")
    before = settled(root)
    for d in range(20):
        (root / f"d{d:02d}" / "f0").unlink()
        (root / f"d{d:02d}" / "inner" / "gained").write_bytes(b"g")
        os.link(root / f"d{d:02d}" / "f1", root / f"d{d:02d}" / "linked")  # an old inode under a new name
    expected = diff(before, snapshot(root))
    assert len(expected.deleted) == 20 and len(expected.added) == 40 and len(expected.modified) == 20
    assert changes_since(root, before, find_from=0) == expected == changes_since(root, before, find=None)


def test_a_small_tree_is_walked_in_python_without_starting_find(tmp_path: Path) -> None:
    """A process start costs more than a Python walk of a few entries (a small job pays no find)."""
    before = settled(wide(tmp_path / "w"))
    assert before.entry_count() < FIND_FROM
    assert not by_find(before, open_dir) and by_find(before, open_dir, find_from=0)
    assert not by_find(before, lambda name, fd=None: open_dir(name, fd), find_from=0)  # an injected opener
    before.since = None
    assert not by_find(before, open_dir, find_from=0)


@pytest.mark.parametrize("program", ["false", "echo", "/nonexistent/find"])
def test_where_find_fails_the_tree_is_walked_in_python(tmp_path: Path, program: str) -> None:
    root = wide(tmp_path / "w")
    before = settled(root)
    change_everything(root)
    assert changes_since(root, before, find=program, find_from=0) == diff(before, snapshot(root))


def test_collect_by_find_archives_each_change_once_even_after_find_failed_midway(tmp_path: Path) -> None:
    """A find that prints everything and then fails: what the first try archived is thrown away."""
    root = wide(tmp_path / "w")
    before = settled(root)
    change_everything(root)
    failing = tmp_path / "failing-find"
    failing.write_text(f'#!/bin/sh\n{FIND} "$@"\nexit 1\n')
    failing.chmod(0o755)
    expected = diff(before, snapshot(root))
    names = {}
    for how, program in (("find", FIND), ("failed", str(failing)), ("python", None)):
        summary = collect({"": (root, before)}, tmp_path / how, {}, find=program, find_from=0)
        with tarfile.open(tmp_path / how / ARCHIVE) as archive:
            names[how] = sorted(archive.getnames())
        assert len(names[how]) == len(set(names[how]))
        assert (summary.added, summary.modified) == (len(expected.added), len(expected.modified))
        assert read_manifest(tmp_path / how)["totals"] == read_manifest(tmp_path / "find")["totals"]
    assert names["find"] == names["failed"] == names["python"]
    assert "d07/line\nbreak" in names["find"] and "d02/f3" in names["find"]
