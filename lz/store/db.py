"""The SQLite engine: WAL, a busy timeout, foreign keys, and write transactions that lock early.

Write transactions start with ``BEGIN IMMEDIATE`` so a read-modify-write (a state transition) can
never interleave with another process's; read transactions stay ``BEGIN`` (deferred) and never
wait for writers under WAL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc

from lz.store.sqlite_setup import prepare_connection

BUSY_TIMEOUT_MS = 30_000


def make_engine(db_path: Path, busy_timeout_s: float = BUSY_TIMEOUT_MS / 1000) -> Engine:
    db_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{db_path}",
        connect_args={"timeout": busy_timeout_s, "check_same_thread": False},
    )
    configure_sqlite(engine, int(busy_timeout_s * 1000))
    return engine


def configure_sqlite(engine: Engine, busy_ms: int = BUSY_TIMEOUT_MS) -> None:
    """WAL, a busy timeout, foreign keys, full sync, and BEGIN IMMEDIATE for write transactions:
    the landing zone's database and a SQLite hub both open their engines through here."""

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _begin)
        prepare_connection(dbapi_conn, busy_ms / 1000)

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        sql = "BEGIN IMMEDIATE" if conn.get_execution_options().get("lz_write") else "BEGIN"
        try:  # the driver's own call: SQLAlchemy's statement path costs more CPU than the BEGIN itself
            conn.connection.dbapi_connection.execute(sql)
        except sqlite3.Error as exc:  # as SQLAlchemy would have raised it (a busy database: StoreBusy upstream)
            raise exc_class(exc)(sql, None, exc) from exc


def exc_class(exc: Exception) -> type[sa_exc.DBAPIError]:
    """SQLAlchemy's wrapper class for a driver error (OperationalError for a locked database)."""
    return getattr(sa_exc, type(exc).__name__, sa_exc.DBAPIError)


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """One write transaction (BEGIN IMMEDIATE on SQLite), committed on success."""
    with engine.connect().execution_options(lz_write=True) as conn, conn.begin():
        yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """One read transaction (deferred BEGIN: it never blocks a writer's start)."""
    with engine.connect() as conn, conn.begin():
        yield conn
