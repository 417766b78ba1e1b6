"""The models and the migrations must describe the same schema."""

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from lz.store.db import make_engine
from lz.store.migrate import needs_upgrade, upgrade
from lz.store.models import metadata


def test_models_and_migrations_agree(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "lz.db")
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"models differ from migrations; add a migration: {diff}"


def test_upgrade_is_idempotent_and_sets_wal(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "lz.db")
    assert needs_upgrade(engine)
    upgrade(engine)
    upgrade(engine)
    assert not needs_upgrade(engine)
    assert {"jobs", "transitions", "lz_status"} <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_the_fast_schema_check_knows_alembics_head() -> None:
    from lz.store.migrate import SCHEMA_HEAD, alembic_head

    assert alembic_head() == SCHEMA_HEAD, "set lz.store.migrate.SCHEMA_HEAD to the new migration's revision"
