"""How every SQLite connection of lz is set up, in one place: the daemon's and the full store's
(SQLAlchemy, ``lz.store.db``), ``lz submit``'s (the standard library's, ``lz.store.intake_store``)
and a SQLite hub's."""

from __future__ import annotations

import sqlite3
import time
from typing import Any


def prepare_connection(dbapi_conn: Any, busy_timeout_s: float) -> None:
    """WAL, a busy timeout, foreign keys, and full sync (a node reboot must not lose a commit)."""
    enable_wal(dbapi_conn, busy_timeout_s)
    for pragma in (f"busy_timeout={int(busy_timeout_s * 1000)}", "foreign_keys=ON", "synchronous=FULL"):
        dbapi_conn.execute(f"PRAGMA {pragma}")


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
