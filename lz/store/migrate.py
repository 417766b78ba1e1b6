"""Apply the Alembic migrations (shipped as ``lz.migrations``) to a database."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("lz.migrations")))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; safe with a concurrent CLI)."""
    config = alembic_config()
    with engine.connect().execution_options(lz_write=True) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        conn.commit()


def needs_upgrade(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return current != head
