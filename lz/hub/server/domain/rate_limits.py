"""Rate limits and sign-in lockouts, counted in the database so every hub process behind a load
balancer shares them (``hub_rate_limits``, one row per key: ``login-from:ADDRESS``,
``login-user:NAME``, ...).

Times are the hub's wall clock (processes share no monotonic clock), so each row keeps the start
of its window and of its lock, never an end: a start in the future (the clock stepped back) is
moved to now, so a step back can neither lock forever nor hold a window open; a step forward at
most ends a window or a lock early. Rows idle for ``KEEP_S`` are purged (by housekeeping, and
whenever a new row is written), which also forgets a user's earlier lockouts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from lz.hub.server.models import RateLimit

limits_t: Any = RateLimit.__table__

KEEP_S = 2 * 86400.0  # an idle row is forgotten after this (longer than the longest lock)
MAX_LOCK_S = 86400.0  # a lock never lasts longer, however many came before it
KEY_CHARS = 200


@dataclass(frozen=True)
class Rule:
    """At most ``limit`` events per ``window_s`` seconds."""

    limit: int
    window_s: float


@dataclass(frozen=True)
class Lockout:
    """``failures`` failures within ``window_s`` lock for ``lock_s``; each next lock (before the row
    is forgotten) lasts twice as long as the one before, up to ``MAX_LOCK_S``."""

    failures: int
    window_s: float
    lock_s: float


def _row(conn: Connection, key: str, now: float) -> Any:
    """The key's row, locked for this transaction (PostgreSQL; SQLite writers are serial),
    created when missing. Two processes creating it at once: one insert wins, both then read it."""
    query = select(limits_t).where(limits_t.c.key == key).with_for_update()
    row = conn.execute(query).first()
    if row is None:
        purge(conn, now)
        try:
            with conn.begin_nested():
                conn.execute(insert(limits_t).values(key=key, started_at=now, count=0, locked_at=None, lock_s=0.0,
                                                     strikes=0, seen_at=now))
        except IntegrityError:
            pass
        row = conn.execute(query).first()
    return row


def _window(row: Any, now: float, window_s: float) -> tuple[float, int]:
    """(window start, events in it): a start in the future is now; a window over starts afresh."""
    started = min(float(row.started_at), now)
    if now - started >= window_s:
        return now, 0
    return started, int(row.count)


def hit(conn: Connection, key: str, now: float, rule: Rule) -> float:
    """Count one event of ``key``: 0.0 when it is within ``rule``, else the seconds until the
    window ends (the refused event is not counted, so a client that waits gets through)."""
    key = key[:KEY_CHARS]
    row = _row(conn, key, now)
    started, count = _window(row, now, rule.window_s)
    refused = count >= rule.limit
    conn.execute(update(limits_t).where(limits_t.c.key == key).values(
        started_at=started, count=count if refused else count + 1, seen_at=now))
    return max(0.001, started + rule.window_s - now) if refused else 0.0


def locked(conn: Connection, key: str, now: float) -> float:
    """Seconds left of ``key``'s lock, 0.0 when it is not locked."""
    key = key[:KEY_CHARS]
    row = conn.execute(select(limits_t).where(limits_t.c.key == key).with_for_update()).first()
    if row is None or row.locked_at is None:
        return 0.0
    if row.locked_at > now:  # the clock stepped back: the lock runs from now, not from the future
        conn.execute(update(limits_t).where(limits_t.c.key == key).values(locked_at=now))
    left = min(float(row.locked_at), now) + float(row.lock_s) - now
    return left if left > 0 else 0.0


def failed(conn: Connection, key: str, now: float, rule: Lockout) -> float:
    """Count one failure of ``key``; when it is the ``rule.failures``-th in the window, lock the
    key and return how long (else 0.0)."""
    key = key[:KEY_CHARS]
    row = _row(conn, key, now)
    started, count = _window(row, now, rule.window_s)
    count += 1
    if count < rule.failures:
        conn.execute(update(limits_t).where(limits_t.c.key == key).values(started_at=started, count=count,
                                                                            seen_at=now))
        return 0.0
    lock_s = min(MAX_LOCK_S, rule.lock_s * 2 ** min(int(row.strikes), 20))
    conn.execute(update(limits_t).where(limits_t.c.key == key).values(
        started_at=now, count=0, locked_at=now, lock_s=lock_s, strikes=int(row.strikes) + 1, seen_at=now))
    return lock_s


def forget(conn: Connection, key: str) -> None:
    """A success: the key's failures and earlier locks no longer count."""
    conn.execute(delete(limits_t).where(limits_t.c.key == key[:KEY_CHARS]))


def purge(conn: Connection, now: float) -> int:
    """Delete rows idle for ``KEEP_S`` (or touched ``KEEP_S`` in the future: a clock stepped far
    back); returns how many."""
    result = conn.execute(delete(limits_t).where(or_(limits_t.c.seen_at < now - KEEP_S,
                                                     limits_t.c.seen_at > now + KEEP_S)))
    return int(result.rowcount or 0)
