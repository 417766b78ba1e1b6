"""The API on this machine's landing zone: its database and folders, through the same parts the
daemon uses (intake, the job store, the workspace). Works while the daemon is down: a submitted
job waits for it, and the daemon is nudged when it runs."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lz.client.errors import Error, NotFound, Rejected, Unavailable, translated

if TYPE_CHECKING:
    from lz.config import Settings
    from lz.core.job import Job as StoredJob
    from lz.core.selection import Selection
    from lz.store.intake_store import IntakeStore
    from lz.store.jobs import JobStore

MAX_LOG_READ = 16 << 20  # bytes of a log read in one call (a caller loops for more)


def open_store(settings: Settings) -> JobStore:
    """The job store; a new or older database is brought up to date first (this works while the
    daemon is down), checked cheaply so the usual call never loads Alembic."""
    from lz.core.errors import ConfigError
    from lz.host.fs import private_directory
    from lz.store.db import make_engine
    from lz.store.jobs import JobStore
    from lz.store.migrate import needs_upgrade, upgrade

    try:
        # the state directory holds every job's environment (often secrets): closed to others
        private_directory(settings.state_dir, group=settings.group_access)
        engine = make_engine(settings.db)
        if needs_upgrade(engine):
            upgrade(engine)
    except OSError as exc:
        raise ConfigError(f"database {settings.db}: {exc.strerror or exc}") from None
    return JobStore(engine)


@contextmanager
def _umask(settings: Settings) -> Iterator[None]:
    """What lz writes is private (the settings' umask, as the CLI's), without leaving the caller's
    process changed: a notebook keeps its own umask."""
    old = os.umask(settings.umask)
    try:
        yield
    finally:
        os.umask(old)


@contextmanager
def _local() -> Iterator[None]:
    """``translated``, and a database that cannot be used (locked past the busy timeout,
    read-only, gone) as ``Unavailable`` with the CLI's line."""
    with translated():
        try:
            yield
        except Exception as exc:
            cause = _database_error(exc)
            if cause is None:
                raise
            raise Unavailable(f"database: {cause}") from None


def _database_error(exc: Exception) -> BaseException | None:
    """sqlite3's error (the intake store's), or SQLAlchemy's with its cause; SQLAlchemy is not
    imported for this (where it is not loaded, none of its errors can have been raised)."""
    import sqlite3
    import sys

    if isinstance(exc, sqlite3.OperationalError):
        return exc
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is not None and isinstance(exc, errors.OperationalError):
        return exc.orig
    return None


class LocalBackend:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._store: JobStore | None = None
        self._intake: IntakeStore | JobStore | None = None

    @property
    def store(self) -> JobStore:
        if self._store is None:
            with _local(), _umask(self.settings):
                self._store = open_store(self.settings)
        return self._store

    @property
    def intake_store(self) -> IntakeStore | JobStore:
        """For submissions: the standard library's sqlite3 when the database is current (no
        SQLAlchemy to import: most of a small ``lz submit``'s CPU), else the full store."""
        if self._intake is None:
            from lz.store.intake_store import IntakeStore

            with _local(), _umask(self.settings):
                self._intake = IntakeStore.open(self.settings.db) or self.store
        return self._intake

    def _json(self, job: StoredJob, with_history: bool = False) -> dict[str, Any]:
        from lz.core import views

        return views.job_json(job, time.time(), self.store.history(job.id) if with_history else None)

    def submit(self, path: Path, station: str | None, name: str | None, overrides: dict[str, Any]) -> dict[str, Any]:
        from lz.engine.zone_lock import wake_daemon
        from lz.intake.receive import Rejected as Refusal
        from lz.intake.receive import receive

        wanted = {k: v for k, v in overrides.items() if k not in ("max_attempts", "after", "template")}
        with _local(), _umask(self.settings):
            try:
                job = receive(self.intake_store, self.settings, path, name=name, overrides=wanted,
                              after=tuple(overrides.get("after") or ()))
            except Refusal as exc:
                raise Rejected(str(exc), data=self._json(exc.job)) from None
            except OSError as exc:  # the landing zone's own disk (full, read-only): nothing was stored
                raise Error(f"cannot store the job in {self.settings.state_dir}: {exc.strerror or exc}") from None
            wake_daemon(self.settings)
            return self._json(job)

    def get(self, job_id: str) -> dict[str, Any]:
        with _local():
            return self._json(self.store.find(job_id), with_history=True)

    def listing(self, selection: Selection, where: dict[str, str]) -> tuple[list[dict[str, Any]], int, bool]:
        if where:
            raise Error(f"{next(iter(where))}= filters a hub's jobs; this is a landing zone")
        with _local():
            found, total = self.store.select(selection)
            return [self._json(j) for j in found], total, True

    def resubmit(self, job_id: str) -> dict[str, Any]:
        raise Error("submitting again is for hub jobs: lz submit the folder again")

    def cancel(self, job_id: str) -> dict[str, Any]:
        from lz.engine.zone_lock import wake_daemon

        with _local():
            job = self.store.cancel(self.store.find(job_id).id)
            wake_daemon(self.settings)
            return self._json(job)

    def control(self, job_id: str, what: str) -> dict[str, Any]:
        """Recorded first (``lz.engine.control``); stop and kill are carried out by the daemon's
        tick like a cancel, pause and resume here at once (a refusal is one line, the job unchanged).
        The answer's ``control`` is the request still waiting for the daemon, if any."""
        from lz.engine import assembly
        from lz.engine.control import carry_out, request
        from lz.engine.zone_lock import wake_daemon

        with _local():
            import getpass  # here: with termios, 0.5 ms that lz submit never needs

            job = request(self.store, self.store.find(job_id).id, what, getpass.getuser())
            if what in ("pause", "resume"):
                job = carry_out(self.store, assembly.executor(self.settings), assembly.workspace(self.settings), job)
            wake_daemon(self.settings)
            return {**self._json(job), "control": job.control}

    def log(self, job_id: str, which: str, offset: int) -> tuple[bytes, bool]:
        from lz.engine import assembly

        with _local():
            job = self.store.find(job_id)
            try:
                path = assembly.workspace(self.settings).log(job, which)
            except ValueError as exc:  # an attempt the job never had
                raise Error(str(exc)) from None
        done = _done(job.state)  # read before the bytes: a done job's log is whole
        if path is None:
            return b"", done
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                handle.seek(offset)
                chunk = handle.read(MAX_LOG_READ)
        except FileNotFoundError:
            return b"", done
        return chunk, done and offset + len(chunk) >= size

    def notifications(self, job_id: str) -> list[dict[str, Any]]:
        from lz.store import notifications

        with _local():
            return notifications.of_job(self.store.engine, self.store.find(job_id).id)

    def unpack_results(self, job_id: str, target: Path, force: bool, only: str | None = None) -> list[str]:
        from lz.engine import assembly
        from lz.results.unpack import extract_results

        with _local():
            job = self.store.find(job_id)
            stored = assembly.workspace(self.settings).results(job.id)
            if job.results_at is None or not stored.exists():
                raise NotFound(f"job {job.id} has no results yet (it is {job.state})" if not _done(job.state)
                               else f"job {job.id} has no stored results")
            with _umask(self.settings):
                return extract_results(stored, target, force=force, only=only)

    def running(self) -> bool:
        from lz.engine.zone_lock import daemon_running

        return daemon_running(self.settings)


def _done(state: str) -> bool:
    from lz.core.machine import TERMINAL

    return state in TERMINAL
