"""Snapshots and diffs on real files.

Tests run as root, who can list a chmod-000 directory, so an unreadable directory is made by
injecting the directory opener: either one that fails as open(2) would for another user, or one that
removes the directory first (a path vanishing mid-walk, which the real open then fails on).
"""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from pathlib import Path

import pytest

from lz.manifest import DIR, FILE, LINK, OTHER, Manifest, changes_since, diff, open_dir, snapshot, type_name


def tree(root: Path) -> Path:
    (root / "sub" / "deep").mkdir(parents=True)
    for name in ("keep.txt", "change.txt", "remove.txt", "touch.txt", "chmod.txt", "sub/inner.txt",
                 "sub/deep/a.txt", "sub/deep/b.txt"):
        (root / name).write_text(name)
    return root


def later() -> None:
    """Let the clock move past the coarse timestamp granularity of the filesystem."""
    time.sleep(0.02)


def refusing(*names: str):  # type: ignore[no-untyped-def]
    """A directory opener that fails with EACCES for the named directories."""

    def opener(path: str) -> int:
        if os.path.basename(path) in names:
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return open_dir(path)

    return opener


def test_snapshot_records_each_kind_without_following_links(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    os.symlink("/etc/passwd", root / "passwd")
    os.symlink("/etc", root / "etc")  # a link to a directory is not walked into
    os.mkfifo(root / "pipe")
    manifest = snapshot(root)
    st = os.lstat(root / "keep.txt")
    assert manifest.entries["keep.txt"] == (FILE, 8, st.st_mtime_ns, st.st_mode, st.st_ino, "")
    assert manifest.entries["passwd"][0] == LINK and manifest.entries["passwd"][5] == "/etc/passwd"
    assert manifest.entries["etc"][5] == "/etc" and not any(p.startswith("etc/") for p in manifest.entries)
    assert manifest.entries["sub"][0] == DIR and manifest.entries["sub"][1] == 0
    assert manifest.entries["pipe"][0] == OTHER and type_name(manifest.entries["pipe"]) == "fifo"
    assert sorted(manifest.entries) == ["change.txt", "chmod.txt", "etc", "keep.txt", "passwd", "pipe", "remove.txt",
                                        "sub", "sub/deep", "sub/deep/a.txt", "sub/deep/b.txt", "sub/inner.txt",
                                        "touch.txt"]
    assert manifest.children == {"": 9, "sub": 2, "sub/deep": 2}
    assert manifest.unreadable == []


def wide_tree(root: Path) -> Path:
    """61 directories: enough for a walk to share among processes."""
    for d in range(30):
        (root / f"d{d}" / "inner").mkdir(parents=True)
        for f in range(10):
            (root / f"d{d}" / "inner" / f"f{f}").write_bytes(b"x" * f)
    return root


class CountingOpener:
    """The real opener, counting the directories this process (not a forked child) opened."""

    def __init__(self, fail_in_children: bool = False) -> None:
        self.parent = os.getpid()
        self.fail_in_children = fail_in_children
        self.opened = 0

    def __call__(self, path: str) -> int:
        if os.getpid() == self.parent:
            self.opened += 1
        elif self.fail_in_children:
            raise RuntimeError("a forked walker dies")
        return open_dir(path)


def test_forked_walkers_find_the_same_as_one_walk(tmp_path: Path) -> None:
    root = wide_tree(tmp_path / "w")
    before = snapshot(root)
    later()
    (root / "d3" / "inner" / "f1").write_text("changed")
    (root / "d7" / "inner" / "f2").unlink()
    (root / "d9" / "new").write_text("new")
    one = changes_since(root, before, workers=1)
    opener = CountingOpener()
    assert changes_since(root, before, workers=3, parallel_from=0, opener=opener) == one
    assert opener.opened < 61  # the children walked the rest
    assert (one.added, one.modified, one.deleted) == (["d9/new"], ["d3/inner/f1"], ["d7/inner/f2"])


def test_a_failed_walker_process_has_its_share_walked_again(tmp_path: Path) -> None:
    root = wide_tree(tmp_path / "w")
    before = snapshot(root)
    (root / "d20" / "new").write_text("new")
    opener = CountingOpener(fail_in_children=True)
    assert changes_since(root, before, workers=3, parallel_from=0, opener=opener).added == ["d20/new"]
    assert opener.opened == 61


def test_diff_finds_every_kind_of_change(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    os.mkfifo(root / "old-pipe")
    before = snapshot(root)
    later()
    (root / "change.txt").write_text("different length now")
    (root / "remove.txt").unlink()
    (root / "touch.txt").write_text("touch.txt")  # same size and content, new mtime
    os.chmod(root / "chmod.txt", 0o600)  # mode only
    (root / "new.txt").write_text("new")
    (root / "empty").mkdir()  # a new empty directory is a result
    (root / "full" / "more").mkdir(parents=True)  # a new directory with files is implied by them
    (root / "full" / "more" / "x.txt").write_text("x")
    os.symlink("/etc/passwd", root / "link")
    os.mkfifo(root / "pipe")
    changes = diff(before, snapshot(root))
    assert changes.added == ["empty", "full/more/x.txt", "link", "new.txt"]
    assert changes.modified == ["change.txt", "chmod.txt", "touch.txt"]
    assert changes.deleted == ["remove.txt"]
    assert changes.skipped == ["pipe"] and changes.unreadable == []  # the old, unchanged fifo is not listed
    assert changes.current["link"][5] == "/etc/passwd" and changes.current["empty"][0] == DIR
    assert "keep.txt" not in changes.current and "sub" not in changes.current


def test_directories_are_results_only_when_new_or_re_permissioned(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    later()
    (root / "sub" / "tmp").write_text("scratch")  # the directory's mtime changes...
    (root / "sub" / "tmp").unlink()
    (root / "sub" / "deep").chmod(0o700)  # ...but only this is the job's doing
    changes = diff(before, snapshot(root))
    assert (changes.added, changes.modified, changes.deleted) == ([], ["sub/deep"], [])


def test_a_removed_directory_and_a_directory_turned_file(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    for path in sorted((root / "sub").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (root / "sub").rmdir()
    (root / "sub").write_text("now a file")
    changes = diff(before, snapshot(root))
    assert changes.modified == ["sub"] and changes.current["sub"][0] == FILE
    assert changes.deleted == ["sub/deep", "sub/deep/a.txt", "sub/deep/b.txt", "sub/inner.txt"]


def test_a_file_replaced_by_another_of_the_same_size_and_time(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    st = os.stat(root / "keep.txt")
    (root / "other").write_text("KEEP.TXT")
    os.utime(root / "other", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(root / "other", root / "keep.txt")  # only the inode tells
    assert diff(before, snapshot(root)).modified == ["keep.txt"]


def test_unreadable_directory_is_listed_and_its_contents_not_called_deleted(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    after = snapshot(root, opener=refusing("deep"))
    assert after.unreadable == ["sub/deep"] and "sub/deep" in after.entries
    assert "sub/deep/a.txt" not in after.entries
    changes = diff(before, after)
    assert changes.unreadable == ["sub/deep"] and changes.deleted == []
    assert changes_since(root, before, opener=refusing("deep")) == changes


def test_a_directory_vanishing_mid_walk_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")

    def vanishing(path: str) -> int:
        if path.endswith("/deep"):
            for name in os.listdir(path):
                os.unlink(os.path.join(path, name))
            os.rmdir(path)
        return open_dir(path)  # the real open, failing with ENOENT

    manifest = snapshot(root, opener=vanishing)
    assert manifest.unreadable == ["sub/deep"]
    assert not (root / "sub" / "deep").exists()


def test_an_unreadable_root(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    assert snapshot(root, opener=refusing("w")).unreadable == ["."]
    changes = changes_since(root, before, opener=refusing("w"))
    assert changes.unreadable == ["."] and changes.deleted == []


def test_a_bug_in_a_walk_is_raised(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")

    def broken(path: str) -> int:
        if path.endswith("/deep"):
            raise RuntimeError("bug")
        return open_dir(path)

    with pytest.raises(RuntimeError, match="bug"):
        changes_since(root, snapshot(root), workers=2, parallel_from=0, opener=broken)


def make_every_change(root: Path) -> None:
    later()
    (root / "change.txt").write_text("changed")
    (root / "remove.txt").unlink()
    (root / "touch.txt").write_text("touch.txt")
    os.chmod(root / "chmod.txt", 0o600)
    (root / "sub" / "deep" / "a.txt").unlink()
    (root / "sub" / "deep" / "c.txt").write_text("c")
    (root / "empty" / "nested").mkdir(parents=True)
    os.symlink("../keep.txt", root / "sub" / "link")
    os.mkfifo(root / "pipe")


@pytest.mark.parametrize("workers", [1, 3])
def test_changes_since_agrees_with_diff(tmp_path: Path, workers: int) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    make_every_change(root)
    expected = diff(before, snapshot(root))
    assert changes_since(root, before, workers=workers, parallel_from=0) == expected
    assert expected.added == ["empty/nested", "sub/deep/c.txt", "sub/link"]
    assert expected.deleted == ["remove.txt", "sub/deep/a.txt"]
    assert dict(changes_since(root, before, workers=workers, parallel_from=0).current) == dict(expected.current)


def test_changes_since_finds_deletions_below_a_removed_directory(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    for name in ("a.txt", "b.txt"):
        (root / "sub" / "deep" / name).unlink()
    (root / "sub" / "deep").rmdir()
    os.symlink("/etc", root / "sub" / "deep")  # and a link in its place, not walked into
    changes = changes_since(root, before)
    assert changes == diff(before, snapshot(root))
    assert changes.modified == ["sub/deep"] and changes.deleted == ["sub/deep/a.txt", "sub/deep/b.txt"]


def test_manifest_round_trip_is_atomic_and_compact(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    os.symlink("keep.txt", root / "link")
    (root / os.fsdecode(b"caf\xe9")).write_text("not utf-8")  # a name that is not UTF-8
    manifest = snapshot(root, opener=refusing("deep"))
    target = tmp_path / "m.json"
    manifest.save(target)
    assert Manifest.load(target) == manifest
    assert sorted(os.listdir(tmp_path)) == ["m.json", "w"]  # no temporary file left
    data = json.loads(target.read_text())
    assert data["version"] == 2 and isinstance(data["paths"], list) and data["targets"] == {
        str(data["paths"].index("link")): "keep.txt"}


def test_the_first_manifest_format_still_loads(tmp_path: Path) -> None:
    legacy = tmp_path / "old.json"
    entry = [FILE, 3, 1, stat.S_IFREG | 0o644, 7, ""]
    legacy.write_text(json.dumps({"version": 1, "entries": {"a": entry, "d/b": entry}, "unreadable": [],
                                  "counts": {"a": 1, "d": 1}}))
    loaded = Manifest.load(legacy)
    assert loaded.entries["d/b"] == tuple(entry) and loaded.children == {"": 1, "d": 1}
