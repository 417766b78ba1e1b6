"""Alembic environment: run by ``lz.store.migrate`` with an open connection (or a URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from lz.host.faults import crash_point
from lz.store.models import metadata

config = context.config
target_metadata = metadata


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///lz.db")
    with engine.connect() as conn:
        _migrate(conn)


def _migrate(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      on_version_apply=lambda **_: crash_point("migrate.step"))
    with context.begin_transaction():
        context.run_migrations()


run()
