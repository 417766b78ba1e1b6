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


def _open_and_write(path: str, start: "object", errors: "object") -> None:
    from lz.store.sqlite_setup import enable_wal

    start.wait()  # type: ignore[attr-defined]
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        enable_wal(conn, 30)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE IF NOT EXISTS t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("COMMIT")
    except Exception as exc:  # reported to the test: a child's traceback would be lost
        errors.put(repr(exc))  # type: ignore[attr-defined]


def test_processes_opening_a_new_database_at_once_all_get_it(tmp_path: Path) -> None:
    """A daemon's first start beside an ``lz submit``: both turn WAL on in a brand-new database,
    and SQLite answered the loser "database is locked" at once, past any busy timeout (CI: a
    daemon died at start). Three processes race on 20 new databases; before the retry, 59 of 600
    opens failed here."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    for i in range(20):
        start = context.Event()
        racers = [context.Process(target=_open_and_write, args=(str(tmp_path / f"db{i}"), start, errors))
                  for _ in range(3)]
        for racer in racers:
            racer.start()
        start.set()
        for racer in racers:
            racer.join(60)
        assert sqlite3.connect(tmp_path / f"db{i}").execute("SELECT count(*) FROM t").fetchone() == (3,)
    assert errors.empty(), errors.get()
