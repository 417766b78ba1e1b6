"""Alembic environment of the hub: run by ``lz.hub.server.db.upgrade`` with an open connection."""

from __future__ import annotations

from alembic import context

from lz.hub.server.models import HubBase

config = context.config
connection = config.attributes["connection"]
context.configure(connection=connection, target_metadata=HubBase.metadata,
                  render_as_batch=connection.dialect.name == "sqlite", version_table="hub_alembic_version")
with context.begin_transaction():
    context.run_migrations()
