"""The end of a log: a build's or a job's output may be gigabytes, and a failure reason, a progress
line or a web page needs only its last bytes; so it is read from the end with a bounded buffer,
never loaded whole."""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

LINES_BUFFER = 64 << 10  # enough for the last lines of any sane log; a longer line is cut at its start


def tail_bytes(handle: IO[bytes], limit: int) -> tuple[bytes, int]:
    """(the last ``limit`` bytes, the size) of an open, seekable file: a file or a tar member.
    Exactly up to the size it had when asked, so the pair agrees while the log grows."""
    size = handle.seek(0, os.SEEK_END)
    start = max(0, size - limit)
    handle.seek(start)
    return handle.read(size - start), size


def read_tail(path: Path, limit: int) -> tuple[bytes, int]:
    """``tail_bytes`` of the file at ``path``; OSError (a missing log) is the caller's to judge."""
    with open(path, "rb") as handle:
        return tail_bytes(handle, limit)


def last_lines(text: str, lines: int = 20) -> str:
    """The last lines of a log's text, for a failure reason."""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def tail_lines(path: Path, lines: int, limit: int = LINES_BUFFER) -> str:
    """The last ``lines`` lines of the file at ``path``, read from its last ``limit`` bytes only."""
    data, _size = read_tail(path, limit)
    return last_lines(data.decode("utf-8", errors="replace"), lines)
