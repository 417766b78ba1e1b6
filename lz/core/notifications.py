"""Notifications a job sends its owner (``lz-notify "text"`` or ``echo text > $LZ_NOTIFY``): the
limits every message passes, as pure functions over bytes, a clock and a little state.

A message is one line. Whatever a job writes (any bytes, as fast as it likes) becomes at most
``per_minute`` messages a minute of at most ``max_bytes`` UTF-8 bytes each, and the reader's
memory stays bounded by one unfinished line per job: the rest is dropped with a note saying so.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_BYTES = 4096
"""The most UTF-8 bytes of one message, the note of a truncation included (the hub checks it too)."""
CHANNEL_DIR = ".lz-notify"
"""The folder in the job's work directory that holds the channel (a FIFO) and the helper."""
CHANNEL_NAME = "notify"
HELPER_NAME = "lz-notify"


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    per_minute: int = 10  # a burst of this many, then one more every 60/per_minute seconds
    per_job: int = 1000  # the most a job keeps; later ones are dropped (one note says so)


def clean(raw: bytes, max_bytes: int = MAX_BYTES) -> str:
    """Printable text of at most ``max_bytes`` UTF-8 bytes: bad bytes become U+FFFD, control
    characters (tabs aside) a space, and a longer message is cut with a note of how long it was."""
    text = raw.decode("utf-8", "replace")
    text = "".join(c if c == "\t" or (c.isprintable() or c == " ") else " " for c in text).strip()
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    note = f" … [truncated to {max_bytes} bytes]"
    room = max(0, max_bytes - len(note.encode("utf-8")))
    return encoded[:room].decode("utf-8", "ignore") + note


@dataclass
class Lines:
    """Splits a byte stream into lines, keeping at most ``max_bytes`` + 1 of an unfinished one:
    a longer line keeps its start (so ``clean`` can say it was cut) and the rest is skipped."""

    max_bytes: int = MAX_BYTES
    _partial: bytearray = field(default_factory=bytearray)
    _overflow: int = 0  # bytes of the current line beyond what is kept

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        while data:
            cut = data.find(b"\n")
            piece, data = (data, b"") if cut < 0 else (data[:cut], data[cut + 1:])
            room = self.max_bytes + 1 - len(self._partial)
            self._partial += piece[:room]
            self._overflow += max(0, len(piece) - room)
            if cut >= 0:
                out.append(self._take())
        return out

    def flush(self) -> list[bytes]:
        """What is left once the writer is gone (a last line without its newline)."""
        return [self._take()] if self._partial or self._overflow else []

    def _take(self) -> bytes:
        line = bytes(self._partial)  # max_bytes + 1 bytes when it overflowed: ``clean`` cuts it
        self._partial.clear()
        self._overflow = 0
        return line


@dataclass
class RateLimit:
    """A token bucket per job: ``per_minute`` at once, then one every ``60/per_minute`` s."""

    limits: Limits = field(default_factory=Limits)
    _tokens: float = -1.0
    _at: float = 0.0
    dropped: int = 0  # since the last message let through

    def allow(self, now: float) -> bool:
        rate = self.limits.per_minute / 60.0
        if self._tokens < 0:
            self._tokens, self._at = float(self.limits.per_minute), now
        self._tokens = min(float(self.limits.per_minute), self._tokens + max(0.0, now - self._at) * rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        self.dropped += 1
        return False


def admit(lines: Iterable[bytes], bucket: RateLimit, now: float, kept: int, limits: Limits) -> list[str]:
    """The messages of these lines that pass the limits, given ``kept`` already stored for the
    job; dropped ones are counted and named in a note on the next message let through."""
    out: list[str] = []
    for line in lines:
        text = clean(line, limits.max_bytes)
        if not text:
            continue
        if kept + len(out) >= limits.per_job:
            bucket.dropped += 1
            continue
        if not bucket.allow(now):
            continue
        if bucket.dropped and kept + len(out) + 1 < limits.per_job:
            out.append(dropped_note(bucket.dropped, limits))
            bucket.dropped = 0
        out.append(text)
    return out


def dropped_note(count: int, limits: Limits) -> str:
    return f"[lz: {count} messages dropped: at most {limits.per_minute} a minute]"


# -- the TCP channel (the original's ``$LZ_NOTIFY=host:port``) --------------------------------------
TOKEN_ENV = "LZ_NOTIFY_TOKEN"
MAX_TOKEN_BYTES = 200
"""The first line of a TCP connection is the job's token; a longer one is not a token."""


def job_token(key: bytes, job_id: str) -> str:
    """A job's secret for the TCP channel: its id and an HMAC of it under the landing zone's key,
    so the listener needs no table (and a daemon restart changes nothing) and a job that knows its
    own token cannot make another's."""
    return f"{job_id}.{hmac.new(key, job_id.encode('utf-8'), hashlib.sha256).hexdigest()[:40]}"


def job_of_token(key: bytes, token: bytes) -> str | None:
    """The job a presented token is for, or None when it is not one (compared in constant time)."""
    try:
        text = token.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    job_id, dot, _ = text.rpartition(".")
    if not dot or not job_id or len(text) > MAX_TOKEN_BYTES:
        return None
    return job_id if hmac.compare_digest(job_token(key, job_id), text) else None
