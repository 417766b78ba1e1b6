"""Session-wide hooks: the figures of the fault, outage and property suites, printed at the end."""

from __future__ import annotations

from typing import Any

from tests import figures


def pytest_terminal_summary(terminalreporter: Any) -> None:
    found = figures.lines()
    if found:
        terminalreporter.section("lz figures")
        for line in found:
            terminalreporter.write_line(line)
