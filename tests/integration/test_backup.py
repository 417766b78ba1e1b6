"""The backup and restore the operations guide documents: ``sqlite3 .backup`` and ``VACUUM INTO``
while the daemon runs give a consistent database; restored, it resumes a job that was running at
backup time (the job kept running while the daemon was down) and runs it exactly once."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.skipif(shutil.which("sqlite3") is None,
                                                          reason="the sqlite3 command is not installed")]


def _check(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return dict(conn.execute("SELECT id, state FROM jobs").fetchall())
    finally:
        conn.close()


def test_online_backup_and_restore(tmp_path: Path, example_job: Path) -> None:
    (example_job / "run.sh").write_text("echo run >> runs.txt\nsleep 8\n")
    zone = LandingZone(tmp_path / "lz")
    backups = tmp_path / "backup"
    backups.mkdir()
    try:
        zone.start()
        running = zone.submit(example_job)
        zone.wait_for_state(running, ["running"], timeout=60)
        subprocess.run(["sqlite3", str(zone.db), f".backup '{backups / 'online.db'}'"], check=True, timeout=60)
        subprocess.run(["sqlite3", str(zone.db), f"VACUUM INTO '{backups / 'vacuum.db'}'"], check=True, timeout=60)
        zone.submit(example_job)  # after the backup: unknown to it
    finally:
        zone.stop()  # the job keeps running without its daemon
    for copy in ("online.db", "vacuum.db"):
        assert _check(backups / copy) == {running: "running"}, copy

    # restore (daemon stopped): the database from the backup, its -wal and -shm removed
    shutil.copy(backups / "online.db", zone.db)
    for suffix in ("-wal", "-shm"):
        Path(f"{zone.db}{suffix}").unlink(missing_ok=True)
    try:
        zone.start()
        jobs = zone.wait_all_cleaned([running], timeout=180)
    finally:
        zone.stop()
    assert (jobs[running]["state"], jobs[running]["outcome"]) == ("cleaned", "succeeded")
    with tarfile.open(zone.db.parent / "results" / running / "results.tar.gz") as archive:
        runs = archive.extractfile("runs.txt")
        assert runs is not None and runs.read().decode().count("run\n") == 1  # adopted, never started twice
    assert [j["id"] for j in zone.status()] == [running]  # the later job is unknown to the backup
