"""The hostile-input corpus's bookkeeping: every refusal a test checks counts as one bad input
tried, and the total is printed at the end of the run ("bad inputs tried: N"), the figure the
hardening issue asks for."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lz.core.errors import UserError

_PLUGIN = "lz-intake-corpus"


class _Tally:
    def __init__(self) -> None:
        self.tried = 0

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_line(f"bad inputs tried: {self.tried}")


_TALLY = _Tally()


def report_to(config: pytest.Config) -> None:
    """Print the tally at the end of this run (idempotent; called by each corpus module's fixture)."""
    if not config.pluginmanager.has_plugin(_PLUGIN):
        config.pluginmanager.register(_TALLY, _PLUGIN)


def tried(count: int = 1) -> None:
    """Count bad inputs a test checks by other means (a child process, a daemon)."""
    _TALLY.tried += count


@contextmanager
def bad_input(error: type[UserError] = UserError, match: str | None = None) -> Iterator[None]:
    """One hostile input: it must be refused with a one-line ``UserError`` matching ``match``."""
    _TALLY.tried += 1
    with pytest.raises(error, match=match) as caught:
        yield
    assert "\n" not in str(caught.value), f"not one line: {caught.value!r}"


def nothing_left(directory: Path) -> None:
    assert not directory.exists() or list(directory.iterdir()) == [], "nothing half-stored"
