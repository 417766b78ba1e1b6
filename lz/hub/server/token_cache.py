"""Verified tokens, kept a few seconds in this process: a landing zone's job is some eight
requests, each with a token, and looking each up is a transaction of its own (issue 22).

Keyed by the token's digest (the token itself is never kept). Correct with several hub processes
because the time is short: a token revoked, or a user disabled, through another process (or the
hub host's CLI) still works here for at most ``TOKEN_CACHE_S``. Through this process it stops at
once: any statement that changes ``tokens`` or ``users`` on this process's engine empties the
cache (``forget_on_writes``). A cached token past its own expiry is not used.

Tokens in use are *refreshed*, not let expire: every ``REFRESH_S`` one statement verifies again
all tokens used within ``KEEP_UNUSED_S`` (``due``, ``refreshed``), so a landing zone that calls
every 10 or 20 s (longer than ``TOKEN_CACHE_S``) still finds its token here. Before, each of 1,000
idle zones' calls verified its token in a transaction of its own (issue 22). A refresh never
brings back what a change through this process emptied meanwhile (``generation``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, event

from lz.hub.server.domain.accounts import Principal

TOKEN_CACHE_S = 5.0
REFRESH_S = 4.0  # within TOKEN_CACHE_S: a refreshed entry never lapses between two refreshes
KEEP_UNUSED_S = 120.0  # a token not used this long is not refreshed: it lapses
MAX_ENTRIES = 10_000  # a flood of distinct tokens empties it rather than growing it
_CHANGES = ("update tokens", "update users", "delete from tokens", "delete from users")
_TOUCH = "update tokens set last_used_at="  # ``accounts.touch``: changes nothing a principal is made of


class TokenCache:
    def __init__(self, ttl_s: float = TOKEN_CACHE_S, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = ttl_s
        self.clock = clock
        self.lock = threading.Lock()
        self.entries: dict[str, tuple[float, float | None, Principal]] = {}  # digest -> (kept until, token expiry, who)
        self.used: dict[str, float] = {}  # digest -> when last found here (clock)
        self.generation = 0  # counts ``clear``: a refresh read before one is not applied

    def get(self, digest: str, now: float) -> Principal | None:
        """The principal verified within ``ttl_s``, unless its token expired since (``now``: hub time)."""
        with self.lock:
            found = self.entries.get(digest)
        if found is None:
            return None
        until, expires_at, who = found
        clock = self.clock()
        if until <= clock or (expires_at is not None and expires_at <= now):
            return None
        self.used[digest] = clock
        return who

    def put(self, digest: str, who: Principal, expires_at: float | None) -> None:
        if self.ttl_s <= 0:
            return
        with self.lock:
            if len(self.entries) >= MAX_ENTRIES:
                self.entries.clear()
            if len(self.used) >= MAX_ENTRIES:
                self.used.clear()
            self.entries[digest] = (self.clock() + self.ttl_s, expires_at, who)
            self.used[digest] = self.clock()

    def touched(self, digest: str, now: float) -> None:
        """``last_used_at`` was just written: the cached principal says so (no second write)."""
        with self.lock:
            found = self.entries.get(digest)
            if found is not None:
                self.entries[digest] = (found[0], found[1], replace(found[2], last_used_at=now))

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.used.clear()
            self.generation += 1

    def due(self) -> tuple[int, float, list[str]]:
        """What a refresh verifies again: (the generation, the clock before the read, the digests
        used within ``KEEP_UNUSED_S``); the others are dropped now."""
        with self.lock:
            clock = self.clock()
            stale = [d for d, at in self.used.items() if clock - at >= KEEP_UNUSED_S]
            for digest in stale:
                self.used.pop(digest, None)
                self.entries.pop(digest, None)
            return self.generation, clock, [d for d in self.used if d in self.entries]

    def refreshed(self, generation: int, read_at: float, found: dict[str, Principal], asked: list[str]) -> None:
        """The refresh's read: each asked digest kept ``ttl_s`` from ``read_at`` with its principal
        as read, or dropped (revoked, expired, its user disabled); nothing when the cache was
        emptied since ``due`` (a change through this process the read may not have seen)."""
        with self.lock:
            if generation != self.generation:
                return
            for digest in asked:
                who = found.get(digest)
                if who is None:
                    self.entries.pop(digest, None)
                    self.used.pop(digest, None)
                elif digest in self.entries:
                    self.entries[digest] = (read_at + self.ttl_s, who.expires_at, who)

    def forget_on_writes(self, engine: Engine) -> None:
        """Empty the cache whenever this process changes a token or a user (revoke, disable, sign-out)."""
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        head = statement.lstrip()[:40].lower()
        if head.startswith(_CHANGES) and not head.startswith(_TOUCH):
            self.clear()


class ZoneIds:
    """Landing-zone ids by (owner, name), which never change once registered (zones are never
    deleted; a re-registration keeps its row): every zone request named its zone, and finding
    its id was a statement of its own (issue 22). Bounded; emptied when full and whenever this
    process deletes a zone row, in case a later version does."""

    MAX = 100_000

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: dict[tuple[int, str], int] = {}

    def get(self, owner_id: int, name: str) -> int | None:
        with self.lock:
            return self.ids.get((owner_id, name))

    def put(self, owner_id: int, name: str, lz_id: int) -> None:
        with self.lock:
            if len(self.ids) >= self.MAX:
                self.ids.clear()
            self.ids[(owner_id, name)] = lz_id

    def forget_on_deletes(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip()[:26].lower().startswith("delete from landing_zones"):
            with self.lock:
                self.ids.clear()
