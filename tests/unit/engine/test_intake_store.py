"""``lz submit``'s intake store (the standard library's sqlite3, issue 23) writes and reads the same
rows as the daemon's ``JobStore``, on a real migrated SQLite database; a database that is missing or
behind ``SCHEMA_HEAD`` is left to the full store; and ``lz submit`` no longer imports SQLAlchemy."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lz.config import Settings
from lz.core.errors import JobNotFound
from lz.core.job import JobSpec
from lz.intake.receive import Rejected, receive
from lz.store.db import make_engine
from lz.store.intake_store import IntakeStore
from lz.store.jobs import JobStore
from lz.store.migrate import upgrade
from tests.paths import ROOT


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(db=tmp_path / "state" / "lz.db", workdir=tmp_path / "work", runtime="none")


@pytest.fixture()
def stores(settings: Settings) -> tuple[JobStore, IntakeStore]:
    engine = make_engine(settings.db)
    upgrade(engine)
    lite = IntakeStore.open(settings.db)
    assert lite is not None
    return JobStore(engine), lite


def rows(db: Path, job_id: str) -> tuple[dict[str, object], list[tuple[object, ...]]]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    job = dict(conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())
    log = [tuple(r)[2:] for r in conn.execute("SELECT * FROM transitions WHERE job_id = ? ORDER BY id", (job_id,))]
    conn.close()
    return job, log


def without_ids_and_times(job: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in job.items() if k not in ("id", "created_at", "updated_at", "ended_at")}


def test_both_stores_write_the_same_rows(stores: tuple[JobStore, IntakeStore], settings: Settings) -> None:
    full, lite = stores
    spec = JobSpec(name="same", command=("true",))
    a, b = full.create(spec, job_id="aaaaaaaaaa"), lite.create(spec, job_id="bbbbbbbbbb")
    job_a, log_a = rows(settings.db, a.id)
    job_b, log_b = rows(settings.db, b.id)
    assert without_ids_and_times(job_a) == without_ids_and_times(job_b)
    assert [r[:3] for r in log_a] == [r[:3] for r in log_b] == [("", "received", "receive")]
    assert lite.get(a.id) == full.get(a.id) and full.get(b.id) == lite.get(b.id)
    assert b.state == "received" and b.attempt == 1 and b.spec == spec

    ra = full.create_rejected(spec, job_id="cccccccccc", reason="rejected at intake: no", detail="no")
    rb = lite.create_rejected(spec, job_id="dddddddddd", reason="rejected at intake: no", detail="no")
    job_a, log_a = rows(settings.db, ra.id)
    job_b, log_b = rows(settings.db, rb.id)
    assert without_ids_and_times(job_a) == without_ids_and_times(job_b)
    assert [(*r[:3], r[4]) for r in log_a] == [(*r[:3], r[4]) for r in log_b]
    assert rb.state == ra.state and rb.outcome == "failed"


def test_find_and_status_as_the_full_store(stores: tuple[JobStore, IntakeStore]) -> None:
    full, lite = stores
    spec = JobSpec(name="x", command=("true",))
    for job_id in ("ab12000000", "ab13000000", "cd_0000000"):
        full.create(spec, job_id=job_id)
    assert lite.find("ab12").id == full.find("ab12").id == "ab12000000"
    for prefix in ("ab1", "zz", "cd%", "c_"):
        with pytest.raises(JobNotFound) as lite_error:
            lite.find(prefix)
        with pytest.raises(JobNotFound) as full_error:
            full.find(prefix)
        assert str(lite_error.value) == str(full_error.value)
    assert lite.find("cd_").id == "cd_0000000"
    full.set_status(runtime="none", name="zone")
    assert lite.status() == full.status()


def test_receive_through_the_intake_store(stores: tuple[JobStore, IntakeStore], settings: Settings,
                                          tmp_path: Path) -> None:
    full, lite = stores
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "lz.toml").write_text('command = ["true"]\n')
    job = receive(lite, settings, folder)
    assert full.get(job.id).state == "received" and (settings.spool_dir / job.id / "lz.toml").exists()
    (folder / "lz.toml").write_text("nonsense = \n")
    with pytest.raises(Rejected) as refused:
        receive(lite, settings, folder)
    assert full.get(refused.value.job.id).outcome == "failed"


def test_a_database_missing_or_behind_is_left_to_the_full_store(tmp_path: Path, settings: Settings) -> None:
    assert IntakeStore.open(tmp_path / "none.db") is None
    upgrade(make_engine(settings.db))
    conn = sqlite3.connect(settings.db)
    conn.execute("UPDATE alembic_version SET version_num = '0006_older'")
    conn.commit()
    conn.close()
    assert IntakeStore.open(settings.db) is None


def test_lz_submit_does_not_import_sqlalchemy(tmp_path: Path) -> None:
    env = {**os.environ, "LZ_DB": str(tmp_path / "state" / "lz.db"), "LZ_WORKDIR": str(tmp_path / "work"),
           "LZ_RUNTIME": "none", "LZ_CONFIG": str(tmp_path / "config.toml"), "PYTHONPATH": str(ROOT)}
    (tmp_path / "config.toml").write_text("")
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "lz.toml").write_text('command = ["true"]\n')
    probe = ("import runpy, sys\nsys.argv = ['lz', 'submit', sys.argv[1]]\n"
             "try:\n    runpy.run_module('lz.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "print('sqlalchemy' in sys.modules, file=sys.stderr)\n")
    first = subprocess.run([sys.executable, "-c", probe, str(folder)], env=env, capture_output=True, text=True)
    assert first.stderr.strip().endswith("True")  # a new database: created and migrated by the full store
    second = subprocess.run([sys.executable, "-c", probe, str(folder)], env=env, capture_output=True, text=True)
    assert second.stderr.strip().endswith("False"), second.stderr
    assert len(second.stdout.split()) == 1
