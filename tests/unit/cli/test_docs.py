"""The documentation site builds with warnings as errors (broken links and anchors included), and
the commands it documents exist."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lz.cli import main
from tests.paths import ROOT


def test_site_builds_strict(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[test]')")
    result = subprocess.run([mkdocs, "build", "--strict", "-d", str(tmp_path / "site")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    site = tmp_path / "site"
    assert (site / "state_diagrams" / "job_lifecycle.svg").read_bytes() == \
        (ROOT / "state_diagrams" / "job_lifecycle.svg").read_bytes()
    assert (site / "architecture.svg").exists() and (site / "grafana" / "lz.json").exists()
    for page in ("quickstart/gateway", "quickstart/pilot", "quickstart/pilots", "hub", "operations", "security",
                 "configuration", "how-it-works", "job-folders", "command-line"):
        assert (site / page / "index.html").exists(), page


def shell_lines(markdown: str) -> list[str]:
    """Lines of the shell code blocks (```sh, ```bash or unlabelled)."""
    found, fence = [], None
    for line in markdown.splitlines():
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip()
        elif fence in ("", "sh", "bash"):
            found.append(line.split("#", 1)[0])
    return found


def test_documented_lz_commands_exist() -> None:
    """Every `lz WORD` in a code block of the docs is a command (the hub's come with the hub)."""
    hub_commands = {"hub", "station", "zones"}
    lines = [line for p in (ROOT / "docs").rglob("*.md") for line in shell_lines(p.read_text())]
    used = {m for line in lines for m in re.findall(r"(?:^|[\s$(;|&])lz ([a-z][a-z-]+)", line)}
    known = set(main.commands) | hub_commands
    assert used and used <= known, sorted(used - known)
    for name in used - hub_commands:
        assert CliRunner().invoke(main, [name, "--help"]).exit_code == 0
