"""The hub's database: SQLite (one file, single writer) by default, PostgreSQL to scale out.

Write transactions on SQLite start with ``BEGIN IMMEDIATE`` so a claim's read-then-update can
never interleave with another writer's; on PostgreSQL claims lock rows with ``FOR UPDATE SKIP
LOCKED`` (see ``lz.hub.server.domain.claims``).
"""

from __future__ import annotations

import os
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError

from lz.store.db import configure_sqlite, read, write

__all__ = ["read", "write", "make_hub_engine", "upgrade", "database_url", "files_dir_for", "default_hub_dir"]

BUSY_TIMEOUT_MS = 30_000


def default_hub_dir(environ: Any = os.environ) -> Path:
    state_home = environ.get("XDG_STATE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".local" / "state")
    return Path(state_home) / "lz" / "hub"


def database_url(db: str | None, hub_dir: Path) -> str:
    """``--db``: a SQLAlchemy URL, or a plain path for SQLite; default ``<hub dir>/hub.db``."""
    if not db:
        return f"sqlite:///{hub_dir / 'hub.db'}"
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


def files_dir_for(url: str, hub_dir: Path) -> Path:
    """Bundles and results live beside a SQLite database; for a server database, in the hub dir."""
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):]).parent / "files"
    return hub_dir / "files"


def make_hub_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
        configure_sqlite(engine, BUSY_TIMEOUT_MS)
        if path and path != ":memory:" and Path(path).exists():
            os.chmod(path, 0o600)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=20)
    ping_when_idle(engine, PING_IDLE_S)
    return engine


PING_IDLE_S = 1.0
"""A pooled server connection idle this long is pinged before use (issue 22): ``pool_pre_ping``
pinged before every transaction, a round trip each, some ten a job. A connection used within
the last second needs none: a server restart takes longer than that, and the first statement
that meets a dead connection invalidates the whole pool anyway."""


def ping_when_idle(engine: Engine, idle_s: float, clock: Any = time.monotonic) -> None:
    """SQLAlchemy's pessimistic ping, only for connections idle ``idle_s`` or more: a failed ping
    raises ``DisconnectionError``, and the pool replaces the connection and tries again."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["lz_idle_since"] = clock()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("lz_idle_since")
        if since is None or clock() - since < idle_s:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # any failure: this connection is gone, the pool makes another
            raise DisconnectionError(f"a pooled connection failed its ping ({type(exc).__name__})") from exc


def upgrade(engine: Engine) -> None:
    """Apply the hub's migrations (``lz.hub.server.migrations``, apart from the landing zone's)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("lz.hub.server.migrations")))
    with engine.connect().execution_options(lz_write=True) as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # a batch-mode table copy must not cascade its DROP into the tables that refer to it
            _pragma(conn, "PRAGMA foreign_keys=OFF")  # outside a transaction, or SQLite ignores it
        try:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
        finally:
            if sqlite:
                conn.rollback()
                _pragma(conn, "PRAGMA foreign_keys=ON")
    if engine.url.drivername.startswith("sqlite") and engine.url.database:
        os.chmod(engine.url.database, 0o600)


def _pragma(conn: Any, statement: str) -> list[Any]:
    """A PRAGMA on the raw SQLite connection, outside SQLAlchemy's transaction."""
    cursor = conn.connection.driver_connection.cursor()
    try:
        return list(cursor.execute(statement).fetchall())
    finally:
        cursor.close()


class StatementCount:
    """SQL statements this process sent, by their first word (SELECT, INSERT, UPDATE, DELETE;
    the rest as ``other``): what ``lz_hub_db_statements_total`` serves and ``bench/hub_scale.py``
    divides by jobs."""

    KINDS = ("select", "insert", "update", "delete")

    def __init__(self, engine: Engine):
        self.counts: dict[str, int] = dict.fromkeys((*self.KINDS, "other"), 0)
        self.lock = threading.Lock()
        event.listen(engine, "before_cursor_execute", self._one)

    def _one(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        word = statement.lstrip()[:6].lower()
        with self.lock:
            self.counts[word if word in self.KINDS else "other"] += 1

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)
