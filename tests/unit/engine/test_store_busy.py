"""A database locked by another process past the busy timeout is one clear error (StoreBusy), not
an OperationalError traceback; found by the database-lock drill (tests/integration/test_outages.py)."""

import sqlite3
from pathlib import Path

import pytest

from lz.core.errors import StoreBusy
from lz.core.job import JobSpec
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import upgrade


def test_a_write_past_the_busy_timeout_is_store_busy(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "lz.db", busy_timeout_s=0.1)
    upgrade(engine)
    store = JobStore(engine)
    job = store.create(JobSpec(name="x", command=("true",)))
    holder = sqlite3.connect(tmp_path / "lz.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreBusy, match="locked by another process"):
            store.record(job.id, reason="never written")
        assert store.get(job.id).state == "received"  # reads still answer under WAL
    finally:
        holder.execute("ROLLBACK")
    store.record(job.id, reason="written")
    assert store.get(job.id).reason == "written"
