"""What lz needs to know of a Dockerfile beyond building it (pure)."""

from __future__ import annotations

import json
import shlex


def default_command(text: str) -> list[str] | None:
    """The command the image runs by default: ENTRYPOINT + CMD as Docker combines them.

    Charliecloud's ``ch-run`` ignores CMD and ENTRYPOINT, so lz runs them itself. The shell form
    becomes ``/bin/sh -c TEXT`` exactly as Docker does; nothing is ever interpolated by lz.
    """
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    for line in instructions(text):
        keyword, _, rest = line.strip().partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            entrypoint, cmd = None, None  # a new stage starts afresh
        elif keyword == "ENTRYPOINT":
            entrypoint = _form(rest)
        elif keyword == "CMD":
            cmd = _form(rest)
    if entrypoint:
        return entrypoint + (cmd or [])
    return cmd or None


def _form(rest: str) -> list[str]:
    rest = rest.strip()
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", rest]


def instructions(text: str) -> list[str]:
    """A Dockerfile's instructions: continuation lines joined, comments and blank lines dropped."""
    lines: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    return lines


def quote_for_log(argv: list[str]) -> str:
    """For humans reading the build log only; never executed."""
    return shlex.join(argv)
