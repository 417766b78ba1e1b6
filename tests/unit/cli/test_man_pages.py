"""Issue 24: man pages generated from the command line (click-man), one per command, each with
the command's own options; nothing is committed, so nothing can drift."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lz.cli import main
from lz.cli.manpages import command_paths, write
from tests.paths import ROOT

pytest.importorskip("click_man", reason="click-man is a dev extra (pip install -e '.[dev]')")


def test_every_command_has_a_page_with_its_options(tmp_path: Path) -> None:
    pages = write(tmp_path / "man", date="2026-12-06")
    expected = {"-".join(path) + ".1" for path in command_paths(main)}
    assert {p.name for p in (tmp_path / "man").iterdir()} == expected == {p.name for p in pages}
    assert {"lz.1", "lz-submit.1", "lz-status.1", "lz-cancel.1", "lz-hub-token-create.1"} <= expected
    status = (tmp_path / "man" / "lz-status.1").read_text()
    assert status.startswith('.TH "LZ STATUS" "1"') and "squeue" in status
    for option in (r"\-\-state", r"\-\-name", r"\-\-since", r"\-\-format", r"\-\-limit", r"\-\-zone"):
        assert option in status, option
    for args in (["-h"], ["status", "-h"], ["hub", "-h"]):  # writing the pages left every -h working
        shown = CliRunner().invoke(main, args)
        assert shown.exit_code == 0 and "Usage:" in shown.stdout, (args, shown.output)


def test_every_command_says_what_it_does() -> None:
    """A command without help made click-man fail (and `lz CMD -h` say nothing)."""
    bare = [" ".join(p) for p in command_paths(main) if not _command(p).help]
    assert bare == []


def _command(path: tuple[str, ...]) -> object:
    command = main
    for name in path[1:]:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


@pytest.mark.skipif(shutil.which("man") is None, reason="needs man")
def test_the_script_writes_pages_man_can_read(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "man-pages"), str(tmp_path / "man")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip().endswith(str(tmp_path / "man")), done.stderr
    shown = subprocess.run(["man", "-l", str(tmp_path / "man" / "lz-cancel.1")], capture_output=True, text=True,
                           timeout=60, env={"MANPAGER": "cat", "PATH": "/usr/bin:/bin", "COLUMNS": "100"})
    assert shown.returncode == 0 and "scancel" in shown.stdout
