"""The exit statuses of every ``lz`` command, in one place; docs/command-line.md's table lists
exactly these (``tests/unit/cli/test_exit_codes.py`` keeps the two equal)."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    """Done: the command did what was asked (a submitted job's id was printed, a job was cancelled)."""

    FAILED = 1
    """It ran and the answer is no: a job waited for did not succeed, a doctor or deps check failed,
    or an unexpected error (a bug: it prints a traceback)."""

    USAGE = 2
    """A mistake to fix and retry, one line on stderr: a bad flag or value, an unknown job, state or
    field, a path that does not exist, an unusable configuration or database, a hub refusal."""
