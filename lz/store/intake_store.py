"""What intake needs of the job store, on the standard library's sqlite3 (issue 23).

``lz submit`` writes two rows and reads one; SQLAlchemy's import alone cost it ~0.15 s of CPU, half
of the process, and on a 2-CPU submit host that CPU is taken from the jobs. So the CLI's intake
uses this store when the database is already at ``SCHEMA_HEAD`` (else the full ``JobStore``, which
migrates first). The same rows, the same transaction rules as ``lz.store.jobs``: one
``BEGIN IMMEDIATE`` per write, WAL, full sync, the same busy timeout; ``tests/unit/engine/
test_intake_store.py`` checks that both stores write and read the same rows.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lz.core.errors import JobNotFound, StoreBusy
from lz.core.job import Job, JobSpec
from lz.core.value_class import fields
from lz.core.zone import STATUS_FIELDS, LandingZoneStatus
from lz.store.migrate import SCHEMA_HEAD
from lz.store.sqlite_setup import prepare_connection

BUSY_TIMEOUT_S = 30.0
_JOB_FIELDS = tuple(f.name for f in fields(Job))


def new_job_id() -> str:
    """Short, random and unguessable: ids never repeat even if the database is recreated, so a
    SLURM job named after an old id can never be mistaken for a new job's."""
    return os.urandom(5).hex()  # secrets.token_hex(5), without importing hmac and OpenSSL for it


class IntakeStore:
    """Receive, reject and read back jobs; nothing else (the daemon and the other commands use
    ``lz.store.jobs.JobStore``)."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float] = time.time):
        self.conn = conn
        self.clock = clock

    @classmethod
    def open(cls, db: Path, busy_timeout_s: float = BUSY_TIMEOUT_S) -> IntakeStore | None:
        """The store, or None when the database is missing or not at ``SCHEMA_HEAD`` (the caller
        then takes the full store, which creates or migrates it)."""
        if not db.exists():
            return None
        conn = sqlite3.connect(str(db), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
        try:
            prepare_connection(conn, busy_timeout_s)  # as the daemon's store's
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            conn.close()
            return None
        if row is None or row[0] != SCHEMA_HEAD:
            conn.close()
            return None
        return cls(conn)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreBusy("the database is locked by another process past the busy timeout; "
                                "this write is retried later") from None
            raise
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def create(self, spec: JobSpec, *, job_id: str, source: str = "cli") -> Job:
        now = self.clock()
        with self._write() as conn:
            conn.execute("INSERT INTO jobs (id, name, state, source, spec, created_at, updated_at, attempt) "
                         "VALUES (?, ?, 'received', ?, ?, ?, ?, 1)",
                         (job_id, spec.name, source, json.dumps(spec.to_dict()), now, now))
            conn.execute("INSERT INTO transitions (job_id, from_state, to_state, event, at, detail) "
                         "VALUES (?, '', 'received', 'receive', ?, NULL)", (job_id, now))
        return self.get(job_id)

    def create_rejected(self, spec: JobSpec, *, job_id: str, reason: str, detail: str | None = None,
                        source: str = "cli") -> Job:
        """As ``JobStore.create_rejected``: stored already ended, its log receive then reject."""
        now = self.clock()
        from lz.core.machine import Lifecycle  # here: a received job never needs the lifecycle table

        state = Lifecycle().next_state("received", "reject")
        with self._write() as conn:
            conn.execute("INSERT INTO jobs (id, name, state, outcome, reason, source, spec, created_at, updated_at, "
                         "ended_at, attempt) VALUES (?, ?, ?, 'failed', ?, ?, ?, ?, ?, ?, 1)",
                         (job_id, spec.name, state, reason, source, json.dumps(spec.to_dict()), now, now, now))
            conn.executemany("INSERT INTO transitions (job_id, from_state, to_state, event, at, detail) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             [(job_id, "", "received", "receive", now, None),
                              (job_id, "received", state, "reject", now, detail)])
        return self.get(job_id)

    def _rows(self, where: str, params: Iterable[Any]) -> list[Job]:
        cursor = self.conn.execute(f"SELECT * FROM jobs WHERE {where}", tuple(params))
        names = [d[0] for d in cursor.description]
        return [_job(dict(zip(names, row))) for row in cursor.fetchall()]

    def get(self, job_id: str) -> Job:
        found = self._rows("id = ?", (job_id,))
        if not found:
            raise JobNotFound(f"no job {job_id!r} in this landing zone")
        return found[0]

    def find(self, prefix: str) -> Job:
        """As ``JobStore.find``: the id or an unambiguous prefix of it."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        found = self._rows("id LIKE ? ESCAPE '\\' LIMIT 2", (escaped + "%",))
        found = [j for j in found if j.id.startswith(prefix)]  # LIKE ignores ASCII case; ids are lower case
        if not found:
            raise JobNotFound(f"no job {prefix!r} in this landing zone")
        if len(found) > 1:
            raise JobNotFound(f"{prefix!r} matches more than one job; give more of its id")
        return found[0]

    def status(self) -> LandingZoneStatus:
        values: dict[str, Any] = {}
        for key, text in self.conn.execute("SELECT key, value FROM lz_status").fetchall():
            if key in STATUS_FIELDS and text is not None:
                try:
                    values[key] = json.loads(text)
                except ValueError:
                    continue
        return LandingZoneStatus(**{k: v for k, v in values.items() if v is not None})

    def close(self) -> None:
        self.conn.close()


def _job(data: dict[str, Any]) -> Job:
    data["spec"] = JobSpec.from_dict(json.loads(data["spec"]))
    return Job(**{name: data[name] for name in _JOB_FIELDS})
