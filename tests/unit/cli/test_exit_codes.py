"""Issue 24: the exit statuses are named constants in one module and docs/command-line.md's table
lists exactly those; no command exits with a bare number."""

from __future__ import annotations

import re

from lz.cli.exit_codes import ExitCode
from tests.paths import ROOT


def documented() -> dict[int, str]:
    text = (ROOT / "docs" / "command-line.md").read_text()
    section = text.split("## Exit status", 1)[1].split("\n## ", 1)[0]
    return {int(code): name for code, name in re.findall(r"^\| (\d+) \| `(\w+)` \|", section, re.M)}


def test_the_table_lists_exactly_the_constants() -> None:
    assert documented() == {code.value: code.name for code in ExitCode}


def test_no_command_exits_with_a_bare_number() -> None:
    literal = re.compile(r"(sys\.exit|ctx\.exit|SystemExit)\(\d+\)|\bcode = \d+\b")
    found = [f"{path.relative_to(ROOT)}:{n}" for path in sorted((ROOT / "lz" / "cli").glob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if literal.search(line)]
    assert found == []
