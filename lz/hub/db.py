"""The hub's database: SQLite (one file, single writer) by default, PostgreSQL to scale out.

Write transactions on SQLite start with ``BEGIN IMMEDIATE`` so a claim's read-then-update can
never interleave with another writer's; on PostgreSQL claims lock rows with ``FOR UPDATE SKIP
LOCKED`` (see ``lz.hub.claims``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

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

        @event.listens_for(engine, "connect")
        def _configure(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("lz_write") else "BEGIN")

        if path and path != ":memory:" and Path(path).exists():
            os.chmod(path, 0o600)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """One write transaction (BEGIN IMMEDIATE on SQLite), committed on success."""
    with engine.connect().execution_options(lz_write=True) as conn, conn.begin():
        yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


def upgrade(engine: Engine) -> None:
    """Apply the hub's migrations (``lz.hub.migrations``, apart from the landing zone's)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("lz.hub.migrations")))
    with engine.connect().execution_options(lz_write=True) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        conn.commit()
    if engine.url.drivername.startswith("sqlite") and engine.url.database:
        os.chmod(engine.url.database, 0o600)
