"""The job store: every read and write of job state goes through here.

State changes go through ``fire``, which validates the event with the lifecycle and appends to the
transition log in the same ``BEGIN IMMEDIATE`` transaction, so two processes (the daemon and a CLI
``lz cancel``) can never both move one job from the same state.
"""

from __future__ import annotations

import json
import time
from _thread import _local  # threading.local itself, without importing threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from lz.core.errors import InvalidTransition, JobNotFound, StoreBusy
from lz.core.events import Listeners
from lz.core.job import Job, JobSpec
from lz.core.machine import ACTIVE, Lifecycle
from lz.core.records import Transition
from lz.core.selection import Selection, like_pattern
from lz.core.value_class import fields
from lz.core.zone import STATUS_FIELDS, LandingZoneStatus
from lz.store.intake_store import new_job_id  # noqa: F401  (re-exported: its old home)
from lz.store.models import jobs as jobs_t
from lz.store.models import lz_status as status_t
from lz.store.models import transitions as transitions_t

Clock = Callable[[], float]


_JOB_FIELDS = tuple(f.name for f in fields(Job))


def job_from_row(row: Any, specs: dict[str, JobSpec] | None = None) -> Job:
    """A snapshot from a row. ``specs`` caches parsed specs by job id: a spec never changes once
    stored, and parsing 10,000 of them every tick would be most of the tick."""
    return job_from_values(dict(row._mapping), specs)


def job_from_values(data: dict[str, Any], specs: dict[str, JobSpec] | None = None) -> Job:
    """A snapshot from a row's values by column name (``job_from_row``)."""
    spec = specs.get(data["id"]) if specs is not None else None
    if spec is None:
        spec = JobSpec.from_dict(json.loads(data["spec"]))
        if specs is not None:
            specs[data["id"]] = spec
    data["spec"] = spec
    return Job(**{name: data[name] for name in _JOB_FIELDS})


_JOB_COLUMNS = {c.name for c in jobs_t.columns}

# The hot statements, built once: building a statement costs more CPU than SQLite's work on one row,
# and a job passes through ``get``, ``fire`` and ``record`` a dozen times from received to cleaned.
_BY_ID = select(jobs_t).where(jobs_t.c.id == bindparam("_id"))
_LOG = insert(transitions_t)
_ACTIVE = select(jobs_t).where(jobs_t.c.state.in_(list(ACTIVE))).order_by(jobs_t.c.created_at, jobs_t.c.id)
_UPDATES: dict[tuple[str, ...], Any] = {}


def _update_by_id(columns: Iterable[str]) -> Any:
    """``UPDATE jobs SET <columns> WHERE id = :_id``, one statement per set of columns (a dozen in all)."""
    key = tuple(sorted(columns))
    stmt = _UPDATES.get(key)
    if stmt is None:
        stmt = update(jobs_t).where(jobs_t.c.id == bindparam("_id")).values({c: bindparam(c) for c in key})
        _UPDATES[key] = stmt
    return stmt


class JobStore:
    def __init__(self, engine: Engine, clock: Clock = time.time, lifecycle: Lifecycle | None = None,
                 listeners: Listeners | None = None):
        self.engine = engine
        self.clock = clock
        self.lifecycle = lifecycle or Lifecycle()
        self.listeners = listeners or Listeners()
        self._specs: dict[str, JobSpec] = {}
        self._batch = _local()  # this thread's open ``batch``: its connection and the transitions it fired

    # -- transactions --------------------------------------------------------------------------
    def _write(self) -> _Tx | _InBatch:
        batch = getattr(self._batch, "tx", None)
        return _InBatch(batch) if batch is not None else _Tx(self.engine, write=True)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """This thread's writes inside the block (``fire``, ``record``, ``record_many``) share one
        transaction, committed at its end, and listeners hear of the transitions once it is: one
        commit (one fsync) per tick instead of one per fact. A write refused for one job
        (InvalidTransition, raised before it writes anything) leaves the others; any other error
        rolls the whole block back. Nothing outside the database may happen inside it: an intent
        is durable only at the block's end."""
        if getattr(self._batch, "tx", None) is not None:  # nested: the outer block commits
            yield
            return
        tx = _Tx(self.engine, write=True)
        self._batch.tx, self._batch.heard = tx.__enter__(), []
        try:
            yield
        except BaseException as exc:
            self._batch.tx = None
            tx.__exit__(type(exc))
            raise
        self._batch.tx = None
        tx.__exit__(None)
        for job, transition in self._batch.heard:
            self.listeners.transition(job, transition)

    def _read(self) -> _Tx:
        return _Tx(self.engine, write=False)

    # -- jobs ----------------------------------------------------------------------------------
    def create(self, spec: JobSpec, *, job_id: str | None = None, source: str = "cli", **facts: Any) -> Job:
        now = self.clock()
        job_id = job_id or new_job_id()
        with self._write() as conn:
            conn.execute(
                insert(jobs_t).values(
                    id=job_id,
                    name=spec.name,
                    state="received",
                    source=source,
                    spec=json.dumps(spec.to_dict()),
                    created_at=now,
                    updated_at=now,
                    **facts,
                )
            )
            conn.execute(
                insert(transitions_t).values(
                    job_id=job_id, from_state="", to_state="received", event="receive", at=now, detail=None
                )
            )
        return self.get(job_id)

    def create_rejected(self, spec: JobSpec, *, job_id: str, reason: str, detail: str | None = None,
                        source: str = "cli") -> Job:
        """A job refused at intake, stored already ended (cleaned, failed, with the reason) in
        one transaction: no reader ever sees it ``received``, so no tick can build it. Its log
        still walks the diagram: receive, then reject."""
        now = self.clock()
        state = self.lifecycle.next_state("received", "reject")
        with self._write() as conn:
            conn.execute(insert(jobs_t).values(
                id=job_id, name=spec.name, state=state, outcome="failed", reason=reason, source=source,
                spec=json.dumps(spec.to_dict()), created_at=now, updated_at=now, ended_at=now,
            ))
            conn.execute(insert(transitions_t), [
                {"job_id": job_id, "from_state": "", "to_state": "received", "event": "receive", "at": now,
                 "detail": None},
                {"job_id": job_id, "from_state": "received", "to_state": state, "event": "reject", "at": now,
                 "detail": detail},
            ])
        return self.get(job_id)

    def get(self, job_id: str) -> Job:
        with self._read() as conn:
            row = conn.execute(_BY_ID, {"_id": job_id}).first()
        if row is None:
            raise JobNotFound(f"no job {job_id!r} in this landing zone")
        return job_from_row(row, self._specs)

    def some(self, job_ids: Iterable[str]) -> dict[str, Job]:
        """The jobs of these ids that exist, by id (one query)."""
        ids = list(job_ids)
        if not ids:
            return {}
        with self._read() as conn:
            rows = conn.execute(select(jobs_t).where(jobs_t.c.id.in_(ids))).all()
        return {r.id: job_from_row(r) for r in rows}

    def find(self, prefix: str) -> Job:
        """A job by its id or an unambiguous prefix of it (ids are long enough to type a few chars)."""
        with self._read() as conn:
            rows = conn.execute(select(jobs_t).where(jobs_t.c.id.startswith(prefix, autoescape=True)).limit(2)).all()
        if not rows:
            raise JobNotFound(f"no job {prefix!r} in this landing zone")
        if len(rows) > 1:
            raise JobNotFound(f"{prefix!r} matches more than one job; give more of its id")
        return job_from_row(rows[0])

    def jobs(self, states: Iterable[str] | None = None, limit: int | None = None,
             newest_first: bool = False) -> list[Job]:
        order = (jobs_t.c.created_at.desc(), jobs_t.c.id.desc()) if newest_first else (jobs_t.c.created_at, jobs_t.c.id)
        query = select(jobs_t).order_by(*order)
        if states is not None:
            query = query.where(jobs_t.c.state.in_(list(states)))
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [job_from_row(r) for r in conn.execute(query)]

    def select(self, selection: Selection) -> tuple[list[Job], int]:
        """The newest ``selection.limit`` jobs it matches (all when None), newest first, and how
        many match in all; ``--since`` and the order read the (created_at, id) index."""
        query = select(jobs_t)
        if selection.states:
            query = query.where(jobs_t.c.state.in_(selection.states))
        if selection.outcomes:
            query = query.where(jobs_t.c.outcome.in_(selection.outcomes))
        if selection.names:
            query = query.where(or_(*(jobs_t.c.name.ilike(like_pattern(p), escape="\\") for p in selection.names)))
        if selection.since is not None:
            query = query.where(jobs_t.c.created_at >= selection.since)
        counted = select(func.count()).select_from(query.subquery())
        query = query.order_by(jobs_t.c.created_at.desc(), jobs_t.c.id.desc())
        if selection.limit is not None:
            query = query.limit(selection.limit)
        with self._read() as conn:
            found = [job_from_row(r) for r in conn.execute(query)]
            short = selection.limit is None or len(found) < selection.limit  # then it found them all
            total = len(found) if short else int(conn.execute(counted).scalar_one())
        return found, total

    def active(self) -> list[Job]:
        """Every job not yet cleaned (the tick's working set; specs parsed once per job). Snapshots
        are made afresh each call: keeping the last call's to hand back for unchanged rows saved CPU
        but held two generations of 10,000 running jobs at once (peak RSS 135 -> 158 MiB,
        ``test_ten_thousand_running_jobs``)."""
        with self._read() as conn:
            rows = conn.execute(_ACTIVE).all()
        live = {r.id for r in rows}
        for gone in [job_id for job_id in list(self._specs) if job_id not in live]:  # list(): workers add to it
            self._specs.pop(gone, None)
        return [job_from_row(r, self._specs) for r in rows]

    def fire(self, job_id: str, event: str, *, expect: str | Sequence[str] | None = None,
             detail: str | None = None, guard: Mapping[str, Any] | None = None, **facts: Any) -> Job:
        """Apply ``event`` and record ``facts`` on the job in one transaction.

        ``expect``: the state(s) the caller decided on; ``guard``: column values the decision
        relied on (e.g. "never submitted"). If the job moved or changed meanwhile (a cancel won
        the race, a submission landed), InvalidTransition is raised and nothing changes.
        """
        unknown = (set(facts) | set(guard or {})) - _JOB_COLUMNS
        if unknown:
            raise ValueError(f"unknown job fields {sorted(unknown)}")
        now = self.clock()
        with self._write() as conn:
            row = conn.execute(_BY_ID, {"_id": job_id}).first()
            if row is None:
                raise JobNotFound(f"no job {job_id!r} in this landing zone")
            state = row.state
            if expect is not None and state not in ((expect,) if isinstance(expect, str) else tuple(expect)):
                raise InvalidTransition(f"job {job_id} is {state} now, not {expect}")
            for column, value in (guard or {}).items():
                if getattr(row, column) != value:
                    raise InvalidTransition(f"job {job_id} changed meanwhile ({column} is set now)")
            new_state = self.lifecycle.next_state(state, event)
            values = {"state": new_state, "updated_at": now, **facts}
            conn.execute(_update_by_id(values), {"_id": job_id, **values})
            seq = conn.execute(_LOG, {"job_id": job_id, "from_state": state, "to_state": new_state, "event": event,
                                      "at": now, "detail": detail}).inserted_primary_key
        # the row as this transaction left it: what it read and what it wrote (no second read)
        job = job_from_values({**row._mapping, "state": new_state, "updated_at": now, **facts}, self._specs)
        transition = Transition(state, new_state, event, now, detail, job_id, seq[0] if seq else 0)
        if getattr(self._batch, "tx", None) is not None:
            self._batch.heard.append((job, transition))  # told once the batch commits
        else:
            self.listeners.transition(job, transition)
        return job

    def cancel(self, job_id: str, *, how: str = "cancel", by: str | None = None) -> Job:
        """Cancel in any non-terminal state. A job nobody started yet ends here (outcome
        cancelled); one that is building, queued, running or paused goes to ``cancelling`` and the
        daemon stops it; one already ending keeps ending. ``how`` (cancel, stop, kill) and ``by``
        are recorded with it (the intent): the reason will say which request ended it and who."""
        job = self.get(job_id)
        facts: dict[str, Any] = {}
        verb = {"stop": "stopped", "kill": "killed"}.get(how, "cancelled")
        who = by or "user"
        if job.state == "received":
            facts = {"outcome": "cancelled", "reason": f"{verb} by {who}", "ended_at": self.clock()}
        if job.state not in ("cancelling", "collecting") or how != "cancel":
            facts.update(control=how, control_by=by, control_at=self.clock())
        try:
            return self.fire(job_id, "cancel", expect=job.state, detail=f"{how} requested by {who}", **facts)
        except InvalidTransition:
            if self.get(job_id).state == job.state:
                raise
            return self.cancel(job_id, how=how, by=by)  # it moved meanwhile: decide again from its new state

    def record(self, job_id: str, **facts: Any) -> None:
        """Store facts that are not state changes (executor id, usage, pending reason)."""
        unknown = set(facts) - _JOB_COLUMNS
        if unknown:
            raise ValueError(f"unknown job fields {sorted(unknown)}")
        with self._write() as conn:
            values = {"updated_at": self.clock(), **facts}
            conn.execute(_update_by_id(values), {"_id": job_id, **values})

    def record_many(self, facts_by_job: dict[str, dict[str, Any]]) -> None:
        """Several jobs' facts in one transaction (one tick's observations): one executemany per
        set of columns, so a tick over 10,000 jobs stays one short write."""
        if not facts_by_job:
            return
        now = self.clock()
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for job_id, facts in facts_by_job.items():
            unknown = set(facts) - _JOB_COLUMNS
            if unknown:
                raise ValueError(f"unknown job fields {sorted(unknown)}")
            groups.setdefault(tuple(sorted(facts)), []).append({"_id": job_id, "_now": now, **facts})
        with self._write() as conn:
            for columns, rows in groups.items():
                values: dict[str, Any] = {"updated_at": bindparam("_now"), **{c: bindparam(c) for c in columns}}
                conn.execute(update(jobs_t).where(jobs_t.c.id == bindparam("_id")).values(values), rows)

    def history(self, job_id: str) -> list[Transition]:
        with self._read() as conn:
            rows = conn.execute(
                select(transitions_t).where(transitions_t.c.job_id == job_id).order_by(transitions_t.c.id)
            ).all()
        return [Transition(r.from_state, r.to_state, r.event, r.at, r.detail, r.job_id, r.id) for r in rows]

    def count_by_state(self) -> dict[str, int]:
        with self._read() as conn:
            rows = conn.execute(select(jobs_t.c.state, func.count()).group_by(jobs_t.c.state)).all()
        return {state: count for state, count in rows}

    def count_by_state_and_outcome(self) -> dict[tuple[str, str | None], int]:
        """Jobs per (state, outcome): what the metrics exporter reports at each scrape."""
        with self._read() as conn:
            rows = conn.execute(select(jobs_t.c.state, jobs_t.c.outcome, func.count())
                                .group_by(jobs_t.c.state, jobs_t.c.outcome)).all()
        return {(state, outcome): count for state, outcome, count in rows}

    # -- landing zone status -------------------------------------------------------------------
    def set_status(self, **values: Any) -> None:
        """Update some fields of the landing zone's status (``lz.core.zone.LandingZoneStatus``)."""
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        unknown = set(values) - STATUS_FIELDS
        if unknown:
            raise ValueError(f"unknown status fields {sorted(unknown)}")
        now = self.clock()
        with self._write() as conn:
            for key, value in values.items():
                text = json.dumps(value)
                stmt = sqlite_insert(status_t).values(key=key, value=text, updated_at=now)
                conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": text, "updated_at": now}))

    def status(self) -> LandingZoneStatus:
        with self._read() as conn:
            rows = conn.execute(select(status_t.c.key, status_t.c.value)).all()
        values: dict[str, Any] = {}
        for key, text in rows:
            if key in STATUS_FIELDS and text is not None:
                try:
                    values[key] = json.loads(text)
                except ValueError:  # written by an older lz as plain text
                    continue
        return LandingZoneStatus(**{k: v for k, v in values.items() if v is not None})


class _InBatch:
    """A write inside ``JobStore.batch``: the batch's connection, committed (or not) with the batch."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def __enter__(self) -> Connection:
        return self.conn

    def __exit__(self, *_: Any) -> None:
        return None


class _Tx:
    """A connection in one transaction: committed on success, rolled back on error."""

    def __init__(self, engine: Engine, write: bool):
        self.engine = engine
        self.write = write
        self.conn: Connection | None = None

    def __enter__(self) -> Connection:
        conn = self.engine.connect()
        if self.write:
            conn = conn.execution_options(lz_write=True)
        try:
            conn.begin()
        except OperationalError as exc:
            conn.close()
            if "locked" in str(exc.orig) or "busy" in str(exc.orig):
                raise StoreBusy("the database is locked by another process past the busy timeout; "
                                "this write is retried later") from None
            raise
        self.conn = conn
        return conn

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        assert self.conn is not None
        try:
            if exc_type is None:
                self.conn.commit()
            else:
                self.conn.rollback()
        finally:
            self.conn.close()
