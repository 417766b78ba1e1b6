"""Unpacking stored results (``lz results -o DIR``) on real files, with Debian 12's own Python
(3.11.2, whose tarfile has no extraction filters: the venv is built with /usr/bin/python3)."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from lz.core.errors import UserError
from lz.results.collect import collect, read_manifest
from lz.results.manifest import snapshot
from lz.results.unpack import extract_results
from tests.unit.engine.test_collect import collected, logs, tree


def test_unpack_puts_files_in_place_and_lz_files_under_dot_lz(tmp_path: Path) -> None:
    _, dest, _ = collected(tmp_path)
    out = tmp_path / "unpacked"
    assert extract_results(dest, out) == []
    found = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert found == [".lz", ".lz/build.log", ".lz/manifest.json", ".lz/stdout", "change.txt", "chmod.txt",
                     "empty", "link", "out", "out/result.bin", "touch.txt"]
    assert (out / "change.txt").read_text() == "changed!" and os.readlink(out / "link") == "/etc/passwd"
    assert json.loads((out / ".lz" / "manifest.json").read_text()) == read_manifest(dest)
    assert (out / ".lz" / "stdout").read_text() == "hello\n"
    assert stat.S_IMODE((out / "chmod.txt").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / ".lz" / "stdout").stat().st_mode) == 0o600


def test_names_that_are_not_utf8_survive_collect_and_unpack(tmp_path: Path) -> None:
    root = tree(tmp_path / "w")
    before = snapshot(root)
    name = os.fsdecode(b"r\xe9sultat.txt")
    (root / name).write_text("r")
    collect({"": (root, before)}, tmp_path / "r", {})
    assert [e["path"] for e in read_manifest(tmp_path / "r")["entries"]] == [name]
    extract_results(tmp_path / "r", tmp_path / "out")
    assert (tmp_path / "out" / name).read_text() == "r"


def write_results(results: Path, add: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    results.mkdir()
    with tarfile.open(results / "results.tar.gz", "w:gz") as tar:
        for info, data in add:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (results / "manifest.json").write_text(json.dumps({"entries": [], "totals": {}, "logs": {}}))


@pytest.mark.parametrize("name", ["../escaped.txt", "/tmp/absolute.txt", "a/../../escaped.txt"])
def test_unpack_refuses_members_escaping_the_output(tmp_path: Path, name: str) -> None:
    write_results(tmp_path / "r", [(tarfile.TarInfo(name), b"x")])
    with pytest.raises(UserError, match="refusing.*not a plain relative name"):
        extract_results(tmp_path / "r", tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()


@pytest.mark.parametrize("kind", [tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE])
def test_unpack_refuses_hard_links_and_specials(tmp_path: Path, kind: bytes) -> None:
    info = tarfile.TarInfo("odd")
    info.type, info.linkname = kind, "/etc/passwd"
    write_results(tmp_path / "r", [(info, b"")])
    with pytest.raises(UserError, match="neither a file, a directory nor a symlink"):
        extract_results(tmp_path / "r", tmp_path / "out")
    assert not os.path.lexists(tmp_path / "out" / "odd")


def test_unpack_drops_set_id_bits(tmp_path: Path) -> None:
    info = tarfile.TarInfo("tool")
    info.mode = 0o6755
    write_results(tmp_path / "r", [(info, b"#!/bin/sh\n")])
    extract_results(tmp_path / "r", tmp_path / "out")
    assert stat.S_IMODE((tmp_path / "out" / "tool").stat().st_mode) & 0o7000 == 0


def test_unpack_refuses_writing_through_a_link_from_another_tree(tmp_path: Path) -> None:
    # the work directory's job made a link named like the sandbox's prefix, pointing out
    work, sandbox = tree(tmp_path / "w"), tree(tmp_path / "sandbox")
    outside = tmp_path / "outside"
    outside.mkdir()
    trees = {"": (work, snapshot(work)), "container": (sandbox, snapshot(sandbox))}
    os.symlink(outside, work / "container")
    (sandbox / "planted.txt").write_text("x")
    collect(trees, tmp_path / "r", {})
    with pytest.raises(UserError, match="refusing"):
        extract_results(tmp_path / "r", tmp_path / "out")
    assert list(outside.iterdir()) == []


def test_unpack_needs_a_complete_result(tmp_path: Path) -> None:
    (tmp_path / "r").mkdir()
    with pytest.raises(UserError, match="no complete results"):
        extract_results(tmp_path / "r", tmp_path / "out")


# -- issue 8, defect 11 --------------------------------------------------------------------------------


def test_a_non_empty_output_is_refused_without_force(tmp_path: Path) -> None:
    _, dest, _ = collected(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "change.txt").write_text("the user's own")
    with pytest.raises(UserError, match="not empty.*--force"):
        extract_results(dest, out)
    assert (out / "change.txt").read_text() == "the user's own" and sorted(os.listdir(out)) == ["change.txt"]
    extract_results(dest, out, force=True)
    assert (out / "change.txt").read_text() == "changed!"


def test_force_replaces_links_in_the_output_and_never_writes_through_them(tmp_path: Path) -> None:
    _, dest, _ = collected(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("mine")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(victim, out / "change.txt")  # a file of the results lands here
    (out / ".lz").mkdir()
    os.symlink(victim, out / ".lz" / "stdout")  # and a log here
    extract_results(dest, out, force=True)
    assert victim.read_text() == "mine"
    assert not (out / "change.txt").is_symlink() and (out / "change.txt").read_text() == "changed!"
    assert (out / ".lz" / "stdout").read_text() == "hello\n"
    os.rename(out / "out", out / "old-out")
    os.symlink(elsewhere, out / "out")  # a directory of the results is a link to elsewhere
    with pytest.raises(UserError, match="refusing to unpack the results through .*out: it is a symlink"):
        extract_results(dest, out, force=True)
    assert list(elsewhere.iterdir()) == []


def test_a_job_making_dot_lz_is_not_returned_and_unpacking_works(tmp_path: Path) -> None:
    """The job made ``.lz/stdout/`` a directory: once, unpacking crashed after extracting."""
    root = tree(tmp_path / "w")
    before = snapshot(root)
    (root / ".lz" / "stdout").mkdir(parents=True)
    (root / ".lz" / "stdout" / "x").write_text("x")
    (root / "kept.txt").write_text("kept")
    collect({"": (root, before)}, tmp_path / "r", logs(tmp_path))
    entries = {e["path"]: e for e in read_manifest(tmp_path / "r")["entries"]}
    assert entries[".lz/stdout/x"]["status"] == "skipped" and "reserved" in entries[".lz/stdout/x"]["reason"]
    with tarfile.open(tmp_path / "r" / "results.tar.gz") as tar:
        assert tar.getnames() == ["kept.txt"]
    assert extract_results(tmp_path / "r", tmp_path / "out") == []
    assert (tmp_path / "out" / ".lz" / "stdout").read_text() == "hello\n"


def test_an_older_archive_holding_dot_lz_is_unpacked_without_it(tmp_path: Path) -> None:
    directory = tarfile.TarInfo(".lz/stdout")
    directory.type = tarfile.DIRTYPE
    write_results(tmp_path / "r", [(directory, b""), (tarfile.TarInfo(".lz/stdout/x"), b"x"),
                                   (tarfile.TarInfo("a.txt"), b"a")])
    notes = extract_results(tmp_path / "r", tmp_path / "out")
    assert notes == [".lz/stdout: left out (the name is reserved for lz's manifest and logs)",
                     ".lz/stdout/x: left out (the name is reserved for lz's manifest and logs)"]
    assert sorted(os.listdir(tmp_path / "out" / ".lz")) == ["manifest.json"]
    assert (tmp_path / "out" / "a.txt").read_text() == "a"


def test_a_job_that_never_ran_has_an_empty_result_that_unpacks(tmp_path: Path) -> None:
    summary = collect({}, tmp_path / "r", logs(tmp_path))
    assert summary.added == 0 and read_manifest(tmp_path / "r")["entries"] == []
    assert extract_results(tmp_path / "r", tmp_path / "out") == []
    assert sorted(os.listdir(tmp_path / "out" / ".lz")) == ["build.log", "manifest.json", "stdout"]
