"""Checks on a results upload from a landing zone (untrusted input): a plain tar holding only
the files a landing zone's results directory has, each a regular file."""

from __future__ import annotations

import tarfile
from pathlib import Path

from lz.hub.protocol.names import RESULT_FILES
from lz.hub.server.errors import Invalid

ALLOWED = frozenset(RESULT_FILES)


def check_results(path: Path) -> None:
    try:
        with tarfile.open(path, "r:") as tar:
            names = set()
            for member in tar:
                if member.name not in ALLOWED or not member.isreg() or member.name in names:
                    raise Invalid(f"results upload: unexpected entry {member.name[:80]!r}")
                names.add(member.name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise Invalid(f"results upload: not a readable tar ({exc})") from None
