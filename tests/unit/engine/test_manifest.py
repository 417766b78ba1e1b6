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

from lz.results.manifest import DIR, FILE, LINK, OTHER, Manifest, snapshot, type_name
from lz.results.walk import open_dir


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

    def opener(name: str, dir_fd: int | None = None) -> int:
        if os.path.basename(name) in names:
            raise PermissionError(errno.EACCES, "Permission denied", name)
        return open_dir(name, dir_fd)

    return opener


def test_snapshot_records_each_kind_without_following_links(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    os.symlink("/etc/passwd", root / "passwd")
    os.symlink("/etc", root / "etc")  # a link to a directory is not walked into
    os.mkfifo(root / "pipe")
    manifest = snapshot(root)
    st = os.lstat(root / "keep.txt")
    assert manifest.entries["keep.txt"] == (FILE, 8, st.st_mtime_ns, st.st_mode, st.st_ino, "", st.st_ctime_ns)
    assert manifest.entries["passwd"][0] == LINK and manifest.entries["passwd"][5] == "/etc/passwd"
    assert manifest.entries["etc"][5] == "/etc" and not any(p.startswith("etc/") for p in manifest.entries)
    assert manifest.entries["sub"][0] == DIR and manifest.entries["sub"][1] == 0
    assert manifest.entries["pipe"][0] == OTHER and type_name(manifest.entries["pipe"]) == "fifo"
    assert sorted(manifest.entries) == ["change.txt", "chmod.txt", "etc", "keep.txt", "passwd", "pipe", "remove.txt",
                                        "sub", "sub/deep", "sub/deep/a.txt", "sub/deep/b.txt", "sub/inner.txt",
                                        "touch.txt"]
    assert {rel: len(names) for rel, names in manifest.dirs.items()} == {"": 9, "sub": 2, "sub/deep": 2}
    assert manifest.unreadable == []


def test_a_directory_vanishing_mid_walk_is_unreadable_not_a_crash(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")

    def vanishing(name: str, dir_fd: int | None = None) -> int:
        if name == "deep":
            path = root / "sub" / "deep"
            for inner in os.listdir(path):
                os.unlink(path / inner)
            os.rmdir(path)
        return open_dir(name, dir_fd)  # the real open, failing with ENOENT

    manifest = snapshot(root, opener=vanishing)
    assert manifest.unreadable == ["sub/deep"]
    assert not (root / "sub" / "deep").exists()


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
    assert data["version"] == 3 and isinstance(data["names"], list) and data["targets"] == {
        str(data["names"].index("link")): "keep.txt"}


def test_the_first_manifest_format_still_loads(tmp_path: Path) -> None:
    legacy = tmp_path / "old.json"
    entry = [FILE, 3, 1, stat.S_IFREG | 0o644, 7, ""]
    legacy.write_text(json.dumps({"version": 1, "entries": {"a": entry, "d/b": entry}, "unreadable": [],
                                  "counts": {"a": 1, "d": 1}}))
    loaded = Manifest.load(legacy)
    assert loaded.entries["d/b"] == (*entry, 0) and {rel: len(names) for rel, names in loaded.dirs.items()} == {"": 1, "d": 1} and not loaded.ctimes


def test_the_second_manifest_format_still_loads(tmp_path: Path) -> None:
    """Paths, not names by directory, and no ctimes: a job snapshotted before an upgrade."""
    saved = tmp_path / "v2.json"
    saved.write_text(json.dumps({"version": 2, "paths": ["a", "d", "d/b", "e"], "kinds": "fdfd", "sizes": [1, 0, 2, 0],
                                 "mtimes": [5, 6, 7, 8], "modes": [0o100644, 0o40755, 0o100600, 0o40700],
                                 "inodes": [11, 12, 13, 14], "targets": {}, "unreadable": ["x"],
                                 "children": {"": 3, "d": 1, "e": 0}}))
    loaded = Manifest.load(saved)
    assert not loaded.ctimes and loaded.unreadable == ["x"]
    assert loaded.dirs == {"": {"a": (FILE, 1, 5, 0o100644, 11, "", 0), "d": (DIR, 0, 6, 0o40755, 12, "", 0),
                                "e": (DIR, 0, 8, 0o40700, 14, "", 0)},
                           "d": {"b": (FILE, 2, 7, 0o100600, 13, "", 0)}, "e": {}}
    loaded.save(tmp_path / "again.json")
    assert Manifest.load(tmp_path / "again.json") == loaded  # saved again, still without ctimes
