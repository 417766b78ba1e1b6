"""Quotas (issue 21): how many jobs a Station and a user may have waiting and running, and how
many bytes the hub keeps for their jobs (bundles of unfinished jobs plus results kept).

Waiting jobs and bytes are checked at submission: once on a cheap read before the upload is
read (by its declared length), and again in the transaction that creates the job, with the
Station's and the submitter's rows locked (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN
IMMEDIATE`` already lets one writer in), so two submissions with room for one can never both get
in. A full quota refuses the submission: 409 for a count (the request is fine, the queue is
full; 429 would promise a retry time that does not exist), 413 for bytes (this upload does not
fit what is left). The running quota never refuses: ``claims.claim`` leases no more jobs of a
Station or user than it allows, and the rest stay pending. Results are never refused (work done
would be lost): they count toward the bytes and so hold back the next submissions."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, literal_column, or_, select, update

from lz.hub.protocol.lifecycle import Phase
from lz.hub.protocol.sizes import human_bytes
from lz.hub.server.domain.accounts import Principal, users_t
from lz.hub.server.domain.stations import role, visible
from lz.hub.server.errors import Conflict, Forbidden, TooLarge
from lz.hub.server.models import HubJob, Station

jobs_t: Any = HubJob.__table__
stations_t: Any = Station.__table__
KINDS = ("pending", "running", "bytes")
SETTERS = ("owner",)  # besides hub admins: who sets a Station's quota (up to the hub's defaults)


@dataclass(frozen=True)
class Limits:
    pending: int
    running: int
    bytes: int


@dataclass(frozen=True)
class Defaults:
    """The hub's defaults (``HubConfig``): per Station (unless it has its own) and per user."""

    station: Limits
    user: Limits

    @classmethod
    def of(cls, config: Any) -> Defaults:
        return cls(Limits(config.station_pending, config.station_running, config.station_bytes),
                   Limits(config.user_pending, config.user_running, config.user_bytes))


def _job_bytes() -> Any:
    """Bytes one job keeps on the hub: its bundle until forgotten, its results while kept."""
    return (case((jobs_t.c.bundle != "", jobs_t.c.bundle_bytes), else_=0)
            + case((jobs_t.c.results.is_not(None), func.coalesce(jobs_t.c.results_bytes, 0)), else_=0))


def _keeps_bytes() -> Any:
    """The jobs that keep any bytes: the predicate of the partial indexes ``ix_hub_jobs_kept_*``
    (hub0022), written the same way with a literal, not a bound parameter, so both databases'
    planners can tell that it implies the indexes' predicate."""
    return or_(jobs_t.c.bundle != literal_column("''"), jobs_t.c.results.is_not(None))


def _use_of(whose: Any) -> list[Any]:
    """Scalar subqueries of the waiting and leased jobs and the stored bytes of ``whose``: each
    reads an index of just the rows it counts (the claim index or ``ix_hub_jobs_submitter_phase``
    for the counts, the partial ``ix_hub_jobs_kept_*`` for the bytes), never every job a Station
    or user ever ran, so a submission into a Station with a million finished jobs stays cheap."""
    def counted(phase: Phase) -> Any:
        return select(func.count()).select_from(jobs_t).where(whose, jobs_t.c.phase == phase.value).scalar_subquery()

    stored = select(func.coalesce(func.sum(_job_bytes()), 0)).where(whose, _keeps_bytes()).scalar_subquery()
    return [counted(Phase.PENDING), counted(Phase.LEASED), stored]


def use(conn: Connection, station_id: int) -> Limits:
    """What the Station's jobs use now (``Limits`` as counts and bytes)."""
    row = conn.execute(select(*_use_of(jobs_t.c.station_id == station_id))).one()
    return Limits(int(row[0]), int(row[1]), int(row[2]))


def use_of_both(conn: Connection, station_id: int, user_id: int) -> tuple[Limits, Limits]:
    """``use`` of the Station's jobs and of the user's, in one statement (a submission checks both)."""
    row = conn.execute(_use_of_both(), {"station_id": station_id, "user_id": user_id}).one()
    return Limits(*(int(v) for v in row[:3])), Limits(*(int(v) for v in row[3:]))


@functools.cache
def _use_of_both() -> Any:
    """Built once: building it took longer than running it (issue 22)."""
    return select(*_use_of(jobs_t.c.station_id == bindparam("station_id")),
                  *_use_of(jobs_t.c.submitter_id == bindparam("user_id")))


def _limits(row: Any, defaults: Defaults) -> Limits:
    """A Station's limits: its own quota where it has one, else the hub's default."""
    own = Limits(row.quota_pending, row.quota_running, row.quota_bytes)
    return Limits(*(d if o is None else o for o, d in zip(_values(own), _values(defaults.station), strict=True)))


def _values(limits: Limits) -> tuple[Any, Any, Any]:
    return limits.pending, limits.running, limits.bytes


def _station(conn: Connection, station_id: int, user_id: int, *, lock: bool) -> Any:
    """The Station's name and quota in one read; with ``lock``, its row locked and then the
    user's (always in this order: no deadlock between two submissions)."""
    row = conn.execute(_station_quota(lock), {"station_id": station_id}).one()
    if lock:
        conn.execute(_lock_user(), {"user_id": user_id}).first()
    return row


@functools.cache
def _station_quota(lock: bool) -> Any:
    """The Station's name, quota and ``max_attempts`` (the new job's cap: one read for both)."""
    query = select(stations_t.c.name, stations_t.c.quota_pending, stations_t.c.quota_running,
                   stations_t.c.quota_bytes, stations_t.c.max_attempts).where(stations_t.c.id == bindparam("station_id"))
    return query.with_for_update() if lock else query


@functools.cache
def _lock_user() -> Any:
    return select(users_t.c.id).where(users_t.c.id == bindparam("user_id")).with_for_update()


def check_submit(conn: Connection, who: Principal, station_id: int, defaults: Defaults, adding_bytes: int,
                 *, lock: bool) -> int:
    """Refuse a new job (409 for the waiting count, 413 for bytes) when the Station or the
    submitter has no room for it; ``lock``: inside the transaction that creates it. Returns the
    Station's ``max_attempts`` (read with its quota), the cap of the new job's."""
    row = _station(conn, station_id, who.user_id, lock=lock)
    station_use, user_use = use_of_both(conn, station_id, who.user_id)
    station = (f"Station {row.name}", "its limit", "it has", _limits(row, defaults), station_use)
    user = (f"user {who.name}", "the limit per user", "they have", defaults.user, user_use)
    for whose, limit_is, has, limits, used in (station, user):
        if used.pending + 1 > limits.pending:
            raise Conflict(f"{whose}: {limits.pending} pending jobs is {limit_is} and {has} {used.pending} "
                           "(nothing was submitted)")
        if used.bytes + adding_bytes > limits.bytes:
            raise TooLarge(f"{whose}: {human_bytes(limits.bytes)} stored is {limit_is} and {has} "
                           f"{human_bytes(used.bytes)}; this upload is {human_bytes(adding_bytes)} "
                           "(nothing was submitted)")
    return int(row.max_attempts)


def describe(conn: Connection, who: Principal, station: str, defaults: Defaults) -> dict[str, Any]:
    """The Station's quota and use (any member, or a hub admin, may read it)."""
    sid = visible(conn, who, station)
    row = conn.execute(select(stations_t.c.quota_pending, stations_t.c.quota_running, stations_t.c.quota_bytes)
                       .where(stations_t.c.id == sid)).one()
    limits = _limits(row, defaults)
    used = use(conn, sid)
    return {"station": station, **{kind: {"limit": getattr(limits, kind), "used": getattr(used, kind),
                                          "own": getattr(row, f"quota_{kind}") is not None} for kind in KINDS}}


def set_quota(conn: Connection, who: Principal, station: str, values: dict[str, int | None],
              defaults: Defaults) -> dict[str, Any]:
    """Set the Station's own quota (``None``: back to the hub's default). A hub admin sets any
    value; the Station's owner only up to the hub's defaults (else one person could lift the
    bound the hub set for every Station); nobody else."""
    sid = visible(conn, who, station)
    if not who.admin:
        if role(conn, sid, who.user_id) not in SETTERS:
            raise Forbidden(f"only the owner of station {station!r} or a hub admin sets its quota")
        for kind, value in values.items():
            cap = getattr(defaults.station, kind)
            if kind in KINDS and value is not None and value > cap:
                shown = human_bytes(value) if kind == "bytes" else str(value)
                capped = human_bytes(cap) if kind == "bytes" else str(cap)
                raise Forbidden(f"a {kind} quota of {shown} is above the hub's default ({capped}): "
                                "only a hub admin sets more")
    columns = {f"quota_{kind}": value for kind, value in values.items() if kind in KINDS}
    if columns:
        conn.execute(update(stations_t).where(stations_t.c.id == sid).values(**columns))
    return describe(conn, who, station, defaults)


def running_room(conn: Connection, stations: Any, defaults: Defaults, params: Mapping[str, Any]) -> dict[int, int]:
    """How many more jobs of each Station may be leased now, with the Stations' rows locked (in
    id order) so concurrent claims on PostgreSQL count one after the other. ``stations``: a
    query of their ids (one statement for the rows and their counts), with ``params`` its values."""
    rows = conn.execute(_running_room(stations), params).all()
    return {r.id: (defaults.station.running if r.quota_running is None else r.quota_running) - int(r.leased)
            for r in rows}


@functools.cache
def _running_room(stations: Any) -> Any:
    """Built once per query of Stations (the claim has one)."""
    leased = select(func.count()).select_from(jobs_t).where(
        jobs_t.c.station_id == stations_t.c.id, jobs_t.c.phase == Phase.LEASED.value).scalar_subquery()
    return (select(stations_t.c.id, stations_t.c.quota_running, leased.label("leased"))
            .where(stations_t.c.id.in_(stations)).order_by(stations_t.c.id).with_for_update(of=stations_t))


def users_running_room(conn: Connection, user_ids: Iterable[int], defaults: Defaults) -> dict[int, int]:
    """How many more jobs of each user may be leased now (their rows locked, in id order)."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    counts: dict[int, int] = dict(conn.execute(_users_running(), {"ids": ids}).all())  # locked and counted: one statement
    return {uid: defaults.user.running - int(counts.get(uid, 0)) for uid in ids}


@functools.cache
def _users_running() -> Any:
    leased = select(func.count()).select_from(jobs_t).where(
        jobs_t.c.submitter_id == users_t.c.id, jobs_t.c.phase == Phase.LEASED.value).scalar_subquery()
    return (select(users_t.c.id, leased).where(users_t.c.id.in_(bindparam("ids", expanding=True)))
            .order_by(users_t.c.id).with_for_update(of=users_t))


@functools.cache
def users_at_running_limit() -> Any:
    """The users whose leased jobs fill their running quota (``:running``), as a query: the
    claim's candidates leave their jobs out in the same statement. Of its own alias of the jobs:
    never correlated with the jobs of the query it sits in."""
    leased = jobs_t.alias("leased_jobs")
    return (select(leased.c.submitter_id).where(leased.c.phase == Phase.LEASED.value)
            .group_by(leased.c.submitter_id).having(func.count() >= bindparam("running")))


def record_results(conn: Connection, job_id: str, size: int) -> None:
    """The stored results' size, which counts toward the bytes of the job's Station and submitter."""
    conn.execute(update(jobs_t).where(jobs_t.c.id == job_id).values(results_bytes=size))

