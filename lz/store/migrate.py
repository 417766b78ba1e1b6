"""The schema's version: a cheap check for every command, and the Alembic migrations (shipped as
``lz.migrations``) applied by ``lz run`` and ``lz db upgrade``, or by a command that finds an
older schema. Alembic is imported only when it has work to do: it costs a CLI call 0.3 s."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Engine

SCHEMA_HEAD = "0007_notifications"
"""Alembic's head revision; ``tests/unit/engine/test_migrations.py`` keeps the two equal. This
module imports SQLAlchemy only in its functions: ``lz submit`` reads this constant without it."""


def alembic_config() -> Config:
    from importlib import resources

    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("lz.migrations")))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent; safe with a concurrent CLI)."""
    from alembic import command

    from lz.host.faults import crash_point  # here: ``lz submit`` reads SCHEMA_HEAD alone

    config = alembic_config()
    with engine.connect().execution_options(lz_write=True) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        crash_point("migrate.applied")
        conn.commit()


def current_revision(engine: Engine) -> str | None:
    from sqlalchemy.exc import OperationalError

    with engine.connect() as conn:
        try:
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        except OperationalError:  # no table yet: a new database
            return None


def needs_upgrade(engine: Engine) -> bool:
    return current_revision(engine) != SCHEMA_HEAD


def alembic_head() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
