"""Comparing a tree with its manifest: ``diff`` (the pure reference) and ``changes_since`` (the walk,
alone or shared among forked walkers), on real files."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lz.results.changes import changes_since, diff
from lz.results.find_walk import FIND
from lz.results.manifest import DIR, FILE, Manifest, snapshot
from lz.results.walk import default_workers, open_dir, others_running, runs, walkers
from tests.unit.engine.test_manifest import later, refusing, tree


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

    def __call__(self, name: str, dir_fd: int | None = None) -> int:
        if os.getpid() == self.parent:
            self.opened += 1
        elif self.fail_in_children:
            raise RuntimeError("a forked walker dies")
        return open_dir(name, dir_fd)


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


def test_an_unreadable_root(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    assert snapshot(root, opener=refusing("w")).unreadable == ["."]
    changes = changes_since(root, before, opener=refusing("w"))
    assert changes.unreadable == ["."] and changes.deleted == []


def test_a_bug_in_a_walk_is_raised(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")

    def broken(name: str, dir_fd: int | None = None) -> int:
        if name == "deep":
            raise RuntimeError("bug")
        return open_dir(name, dir_fd)

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


@pytest.mark.parametrize(("workers", "find"), [(1, FIND), (1, None), (3, None)])
def test_changes_since_agrees_with_diff(tmp_path: Path, workers: int, find: str | None) -> None:
    """By find (the snapshot's clock holds on tmp_path) and by Python walkers."""
    root = tree(tmp_path / "w")
    before = snapshot(root)
    assert before.since is not None
    make_every_change(root)
    expected = diff(before, snapshot(root))
    assert changes_since(root, before, workers=workers, parallel_from=0, find=find, find_from=0) == expected
    assert expected.added == ["empty/nested", "sub/deep/c.txt", "sub/link"]
    assert expected.deleted == ["remove.txt", "sub/deep/a.txt"]
    assert dict(changes_since(root, before, workers=workers, parallel_from=0, find=find, find_from=0).current) == dict(
        expected.current)


@pytest.mark.parametrize("find", [FIND, None])
def test_changes_since_finds_deletions_below_a_removed_directory(tmp_path: Path, find: str | None) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    for name in ("a.txt", "b.txt"):
        (root / "sub" / "deep" / name).unlink()
    (root / "sub" / "deep").rmdir()
    os.symlink("/etc", root / "sub" / "deep")  # and a link in its place, not walked into
    changes = changes_since(root, before, find=find, find_from=0)
    assert changes == diff(before, snapshot(root))
    assert changes.modified == ["sub/deep"] and changes.deleted == ["sub/deep/a.txt", "sub/deep/b.txt"]


# -- issue 8, defect 3: a file rewritten in place with its mtime restored ---------------------------


def rewrite_keeping_mtime(root: Path, how: str) -> None:
    """Same size, same inode, new content, and the old mtime put back: only the ctime tells."""
    target = root / "keep.txt"
    later()
    if how == "touch -r":
        shutil.copy2(target, root.parent / "reference")
        target.write_text("KEEP.TXT")
        subprocess.run(["touch", "-r", str(root.parent / "reference"), str(target)], check=True)
    elif how == "cp -p":
        source = root.parent / "newer"
        source.write_text("KEEP.TXT")
        os.utime(source, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns))
        subprocess.run(["cp", "-p", str(source), str(target)], check=True)  # in place: same inode
    else:
        st = target.stat()
        with open(target, "r+b") as handle:
            handle.write(b"KEEP.TXT")
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("how", ["touch -r", "cp -p", "utime"])
def test_a_file_rewritten_in_place_with_its_mtime_restored_is_modified(tmp_path: Path, how: str) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    ino, mtime = (root / "keep.txt").stat().st_ino, (root / "keep.txt").stat().st_mtime_ns
    rewrite_keeping_mtime(root, how)
    st = (root / "keep.txt").stat()
    assert (st.st_ino, st.st_mtime_ns, st.st_size, (root / "keep.txt").read_text()) == (ino, mtime, 8, "KEEP.TXT")
    assert diff(before, snapshot(root)).modified == ["keep.txt"]
    assert changes_since(root, before, find_from=0).modified == ["keep.txt"]  # by find
    assert changes_since(root, before, workers=2, parallel_from=0, find=None).modified == ["keep.txt"]


def test_a_manifest_saved_without_ctimes_is_compared_without_them(tmp_path: Path) -> None:
    """A job snapshotted before an upgrade: ctimes of 0 must not make every file look modified."""
    root = tree(tmp_path / "w")
    before = snapshot(root)
    old = Manifest.from_entries({p: (*e[:6], 0) for p, e in before.entries.items()}, before.unreadable, ctimes=False)
    old.save(tmp_path / "m.json")
    loaded = Manifest.load(tmp_path / "m.json")
    assert loaded == old and not loaded.ctimes
    os.chmod(root / "keep.txt", 0o644)  # the same mode again: a new ctime only
    later()
    (root / "change.txt").write_text("changed")
    assert changes_since(root, loaded).modified == ["change.txt"] == diff(loaded, snapshot(root)).modified


# -- issue 23: the cost of a walk ----------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 3])
def test_unchanged_links_and_fifos_are_decided_on_the_stat_alone(tmp_path: Path, workers: int,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The quick comparison of whole entries covers every kind: an unchanged link is not read
    again; a link replaced (a new target), a file turned into a directory and a directory turned
    into a file are still found."""
    root = tree(tmp_path / "w")
    os.symlink("keep.txt", root / "same-link")
    os.symlink("keep.txt", root / "moved-link")
    os.mkfifo(root / "old-pipe")
    before = snapshot(root)
    later()
    os.unlink(root / "moved-link")
    os.symlink("change.txt", root / "moved-link")
    (root / "touch.txt").unlink()
    (root / "touch.txt").mkdir()
    (root / "touch.txt" / "in.txt").write_text("in")
    shutil.rmtree(root / "sub" / "deep")
    (root / "sub" / "deep").write_text("a file now")
    read: list[str] = []
    real_readlink = os.readlink

    def counting(name: str, *, dir_fd: int | None = None) -> str:
        read.append(name)
        return real_readlink(name, dir_fd=dir_fd)

    monkeypatch.setattr(os, "readlink", counting)
    changes = changes_since(root, before, workers=workers, parallel_from=0)
    monkeypatch.undo()
    assert changes == diff(before, snapshot(root))
    assert changes.added == ["touch.txt/in.txt"] and changes.skipped == []
    assert changes.modified == ["moved-link", "sub/deep", "touch.txt"]
    assert changes.deleted == ["sub/deep/a.txt", "sub/deep/b.txt"]
    if workers == 1:  # a forked walker's calls are not counted here
        assert read == ["moved-link"]


def test_walkers_take_the_idle_cpus_only() -> None:
    assert walkers(cpus=2, others=0) == 2
    assert walkers(cpus=2, others=1) == 1
    assert walkers(cpus=2, others=7) == 1  # a busy host: one walk, no fork
    assert walkers(cpus=64, others=3) == 4  # never more than 4
    assert others_running() >= 0 and 1 <= default_workers() <= min(4, len(os.sched_getaffinity(0)))


def test_walk_shares_are_runs_of_neighbours() -> None:
    assert runs(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert runs(list(range(2)), 3) == [[0], [1], []]
    assert runs([], 2) == [[], []]
