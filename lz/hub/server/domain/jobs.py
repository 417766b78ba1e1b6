"""Jobs as users see them: submit to a Station, list, show, cancel. A user sees their own jobs
of Stations they belong to, and others' where their role has ``others_jobs`` (seeing a job is
what lets one control it); any other job id is answered as unknown (404)."""

from __future__ import annotations

import base64
import functools
import json
import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, literal, or_, select, tuple_, update

from lz.core.errors import printable
from lz.core.selection import like_pattern
from lz.core.views import iso
from lz.hub.protocol import lifecycle
from lz.hub.protocol.lifecycle import Control, Phase, Snapshot
from lz.hub.server.domain import roles, stations
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.domain.claims import apply, hub_event
from lz.hub.server.errors import Conflict, Invalid, NotFound
from lz.hub.server.models import HubEvent, HubJob, LandingZone, Station, StationMember

jobs_t: Any = HubJob.__table__
events_t: Any = HubEvent.__table__
zones_t: Any = LandingZone.__table__
stations_t: Any = Station.__table__
members_t: Any = StationMember.__table__


def new_job_id() -> str:
    return secrets.token_hex(5)


def existing_submission(conn: Connection, who: Principal, submit_key: str) -> str | None:
    """A retried submit (same key from the same user) gets the job the first try created."""
    row = conn.execute(_by_submit_key(), {"user_id": who.user_id, "key": submit_key}).first()
    return row.id if row else None


@functools.cache
def _by_submit_key() -> Any:
    """Built once, as the other statements of a job's path (``claims._insert_event``)."""
    return select(jobs_t.c.id).where(jobs_t.c.submitter_id == bindparam("user_id"),
                                     jobs_t.c.submit_key == bindparam("key"))


@functools.cache
def _insert_job() -> Any:
    return insert(jobs_t)


def submit(conn: Connection, who: Principal, station_id: int, job_id: str, submit_key: str, spec: dict[str, Any],
           bundle: str, bundle_bytes: int, now: float, max_attempts: int | None = None, note: str | None = None,
           after: Sequence[str] = (), station_max_attempts: int | None = None) -> None:
    """A new pending job; ``max_attempts`` (failed attempts it may have) is capped by its Station's;
    ``note`` goes into its first event (its template, the job it was submitted again from).
    ``after`` (``JOB[:ok|:any|:failed]``, with lz.toml's ``after`` in ``spec``): jobs the user can
    see that it waits for; it is not claimable until they ended (``claims.settle_dependents``).
    ``station_max_attempts``: the Station's cap, when the caller read it already (``quotas.check_submit``)."""
    spec = {**spec, "after": _prerequisites(conn, who, job_id, spec, after)}
    if not spec["after"]:
        del spec["after"]
    limit = station_max_attempts if station_max_attempts is not None else conn.execute(
        select(stations_t.c.max_attempts).where(stations_t.c.id == station_id)).scalar_one()
    conn.execute(_insert_job(), {
        "id": job_id, "station_id": station_id, "submitter_id": who.user_id, "submit_key": submit_key,
        "name": spec["name"], "spec": json.dumps(spec), "bundle": bundle, "bundle_bytes": bundle_bytes,
        "phase": "pending", "attempt": 1, "cancel_requested": False, "state": "received", "created_at": now,
        "updated_at": now, "failures": 0, "max_attempts": min(max_attempts or limit, limit),
        "waiting_on": " ".join(d["job_id"] for d in spec.get("after") or ()) or None})
    hub_event(conn, job_id, 1, "", "received", "submit", now, f"submitted by {who.name}" + (f", {note}" if note else ""))


def _prerequisites(conn: Connection, who: Principal, job_id: str, spec: dict[str, Any],
                   after: Sequence[str]) -> list[dict[str, str]]:
    """Whole ids of visible jobs, no cycle; ``Invalid`` (one line) otherwise."""
    from lz.core.dependencies import Dependency, find_cycle, parse_all
    from lz.core.errors import UserError

    try:
        wanted = parse_all([*(f"{d['job_id']}:{d.get('condition', 'ok')}" for d in spec.get("after") or ()), *after])
    except UserError as exc:
        raise Invalid(str(exc)) from None
    resolved = []
    for dep in wanted:
        try:
            resolved.append(Dependency(find(conn, who, dep.job_id).id, dep.condition))
        except NotFound as exc:
            raise Invalid(f"--after {dep}: {exc}") from None
    resolved = list(dict.fromkeys(resolved))

    def prerequisites_of(other: str) -> list[Dependency]:
        row = conn.execute(select(jobs_t.c.spec).where(jobs_t.c.id == other)).first()
        found = json.loads(row.spec).get("after") or () if row else ()
        return [Dependency(d["job_id"], d.get("condition", "ok")) for d in found]

    cycle = find_cycle(job_id, resolved, prerequisites_of)
    if cycle:
        raise Invalid(f"--after: a cycle of dependencies ({' -> '.join(cycle)})")
    return [{"job_id": d.job_id, "condition": d.condition} for d in resolved]


def _visible_query(who: Principal) -> Any:
    return _visible(who.admin, who.user_id)


def _visible(admin: bool, user_id: Any) -> Any:
    query = (select(jobs_t, stations_t.c.name.label("station"), zones_t.c.name.label("landing_zone"))
             .join(stations_t, stations_t.c.id == jobs_t.c.station_id)
             .outerjoin(zones_t, zones_t.c.id == jobs_t.c.ran_on))
    if not admin:  # one's own jobs in one's Stations; others' where one's role has ``others_jobs``
        mine = select(members_t.c.station_id).where(members_t.c.user_id == user_id)
        query = query.where(or_(jobs_t.c.station_id.in_(roles.stations_with("others_jobs", user_id)),
                                and_(jobs_t.c.station_id.in_(mine), jobs_t.c.submitter_id == user_id)))
    return query


@functools.cache
def _visible_by_id(admin: bool, for_update: bool) -> Any:
    """``find``'s lookup by whole id, built once (``:user_id``, ``:job_id``): the most frequent read."""
    query = _visible(admin, bindparam("user_id")).where(jobs_t.c.id == bindparam("job_id"))
    return query.with_for_update(of=jobs_t) if for_update else query


def find(conn: Connection, who: Principal, job_id: str, *, for_update: bool = False) -> Any:
    """A visible job by id or unambiguous prefix (``for_update``: its row locked on PostgreSQL,
    so a request is decided on the row a racing claim cannot change underneath it)."""
    if not job_id or len(job_id) > 32:
        raise NotFound(f"no job {job_id!r} in your stations")
    row = conn.execute(_visible_by_id(who.admin, for_update),  # the primary key: no scan (issue 22)
                       {"user_id": who.user_id, "job_id": job_id}).first()
    if row is not None:
        return row
    # a prefix: LIKE uses no index (SQLite's is case-insensitive, PostgreSQL's needs pattern ops)
    query = _visible_query(who).where(jobs_t.c.id.startswith(job_id, autoescape=True)).limit(2)
    rows = conn.execute(query.with_for_update(of=jobs_t) if for_update else query).all()
    if not rows:
        raise NotFound(f"no job {job_id!r} in your stations")
    if len(rows) > 1:
        raise NotFound(f"{job_id!r} matches more than one job; give more of its id")
    return rows[0]


@dataclass(frozen=True)
class JobFilter:
    """What a job list asks for: a Station, states, outcomes, name patterns (``*``, ``?``;
    case-insensitive), the landing zone it ran on, submitted at or after ``since`` (empty: any)."""

    station: str | None = None
    states: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    zone: str | None = None
    since: float | None = None


def _filtered(conn: Connection, who: Principal, where: JobFilter) -> Any:
    query = _visible_query(who)
    if where.station is not None:
        query = query.where(jobs_t.c.station_id == stations.visible(conn, who, where.station))
    if where.states:
        query = query.where(jobs_t.c.state.in_(where.states))
    if where.outcomes:
        query = query.where(jobs_t.c.outcome.in_(where.outcomes))
    if where.names:
        query = query.where(or_(*(jobs_t.c.name.ilike(like_pattern(p), escape="\\") for p in where.names)))
    if where.zone is not None:
        query = query.where(zones_t.c.name == where.zone)
    if where.since is not None:
        query = query.where(jobs_t.c.created_at >= where.since)
    return query


NEWEST, OLDEST, BY_NAME, BY_STATE = "newest", "oldest", "name", "state"
ORDERS = (NEWEST, OLDEST, BY_NAME, BY_STATE)
"""Each walks an index: (created_at, id), (name, created_at, id) or (state, created_at, id)."""
_SORTED_BY = {BY_NAME: jobs_t.c.name, BY_STATE: jobs_t.c.state}
CURSOR = r"^([A-Za-z0-9_-]{1,200}~)?[0-9.e+-]{1,40}_[0-9a-f]{1,32}$"  # what ``cursor`` writes
"""``created_at_id``; by name or state, that value (base64url) and ``~`` before it."""


@dataclass(frozen=True)
class JobPage:
    """One page of a job list: its rows in the list's order, the cursor for the page after it
    (``following``: None on the last), the cursor for the page before it (``preceding``: None on
    the first, or when a cursor led past the end and the way back is the first page) and whether
    this is the first page (``first``)."""

    rows: list[Any]
    following: str | None
    preceding: str | None
    first: bool


def _key(order: str) -> tuple[Any, ...]:
    """The columns a list in ``order`` is sorted and keyset-paged on, an index's columns."""
    head = (_SORTED_BY[order],) if order in _SORTED_BY else ()
    return (*head, jobs_t.c.created_at, jobs_t.c.id)


def _beyond(query: Any, order: str, edge: tuple[Any, ...], descending: bool) -> Any:
    """A row-value comparison, which both databases walk the sort's index for; the spelled-out
    ``a < x OR (a = x AND b < y)`` made PostgreSQL scan the table (189 ms a page deep in a
    million jobs)."""
    key, at = tuple_(*_key(order)), tuple_(*(literal(v) for v in edge))
    return query.where(key < at if descending else key > at)


def page(conn: Connection, who: Principal, where: JobFilter = JobFilter(), limit: int = 1000, *,
         order: str = NEWEST, after: str | None = None, before: str | None = None) -> JobPage:
    """One page of visible jobs in ``order`` (newest or oldest first, or by name or state, A to Z
    and oldest first within one), keyset-paged on that order's index: the rows past the cursor
    ``after`` (the last row of the page before), or, going back, the rows just ahead of ``before``
    (the first row of the page after). Both the API and the web page list jobs through here."""
    if order not in ORDERS:
        raise Invalid(f"unknown order {printable(order[:16])!r} (orders: {', '.join(ORDERS)})")
    back = before is not None
    given = before if before is not None else after
    edge = parse_cursor(given, order) if given is not None else None
    descending = (order == NEWEST) != back
    query = _filtered(conn, who, where)
    if edge is not None:
        query = _beyond(query, order, edge, descending)
    sort = [c.desc() for c in _key(order)] if descending else [c.asc() for c in _key(order)]
    rows = list(conn.execute(query.order_by(*sort).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    mark = functools.partial(cursor, order=order)
    if back:
        if not more:  # nothing ahead of these: the first page, full
            return page(conn, who, where, limit, order=order)
        rows.reverse()
        return JobPage(rows, mark(rows[-1]), mark(rows[0]), False)
    return JobPage(rows, mark(rows[-1]) if more else None, mark(rows[0]) if rows and edge else None, edge is None)


COUNT_CAP = 1_000  # a list's total is exact up to here; past it "more than" (a count is a scan)


@dataclass(frozen=True)
class Total:
    """How many visible jobs a filter matches: ``count`` exactly, or, when ``exact`` is False,
    at least ``count`` (more than ``COUNT_CAP``: counting a million rows would cost a list
    page 180 ms on PostgreSQL, where the page itself costs 2)."""

    count: int
    exact: bool = True

    def __str__(self) -> str:
        return f"{self.count:,}" if self.exact else f"more than {self.count:,}"


def counted(conn: Connection, who: Principal, where: JobFilter = JobFilter(), cap: int = COUNT_CAP) -> Total:
    """How many visible jobs the filter matches (a list's total), counting at most ``cap`` + 1."""
    rows = _filtered(conn, who, where).with_only_columns(jobs_t.c.id).limit(cap + 1).subquery()
    found = int(conn.execute(select(func.count()).select_from(rows)).scalar_one())
    return Total(found) if found <= cap else Total(cap, exact=False)


def cursor(row: Any, order: str = NEWEST) -> str:
    """The cursor of ``row`` in a list in ``order``: a page starts after it (``after``) or ends
    before it (``before``)."""
    at = f"{row.created_at!r}_{row.id}"
    if order not in _SORTED_BY:
        return at
    value = str(getattr(row, _SORTED_BY[order].name)).encode()
    return f"{base64.urlsafe_b64encode(value).decode().rstrip('=')}~{at}"


def parse_cursor(text: str, order: str = NEWEST) -> tuple[Any, ...]:
    """``cursor``'s values for ``order``; one line (``Invalid``) for anything else."""
    bad = Invalid(f"not a page cursor of the {printable(order[:16])} order: {printable(text[:40])!r}")
    if not re.fullmatch(CURSOR, text) or ("~" in text) != (order in _SORTED_BY):
        raise bad
    head: tuple[Any, ...] = ()
    if "~" in text:
        encoded, _, text = text.partition("~")
        try:
            head = (base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode(),)
        except (ValueError, UnicodeDecodeError):
            raise bad from None
    at, _, job_id = text.partition("_")
    try:
        value = float(at)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise bad
    return (*head, value, job_id)


def history(conn: Connection, job_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(_history(), {"job_id": job_id}).all()
    return [{"from": r.from_state or None, "to": r.to_state, "event": r.event, "at": iso(r.at),
             "detail": r.detail, "attempt": r.attempt, "at_s": r.at} for r in rows]


@functools.cache
def _history() -> Any:
    return select(events_t).where(events_t.c.job_id == bindparam("job_id")).order_by(events_t.c.id)


def cancel(conn: Connection, who: Principal, job_id: str, now: float) -> Any:
    """A waiting job ends cancelled at once (its bundle forgotten: ``Hub.drop_unneeded_bundle``
    unlinks it); a held one records the request, which its landing zone carries out and which
    survives a requeue (``lifecycle.on_cancel``)."""
    return _request(conn, who, job_id, "cancel", now)


CONTROLS = tuple(c.value for c in Control)


def control(conn: Connection, who: Principal, job_id: str, action: str, now: float) -> Any:
    """A stop, kill, pause or resume request, recorded with who asked and a new sequence number;
    the landing zone holding the job picks it up with its next heartbeat and carries it out as
    ``lz stop|kill|pause|resume`` would. A waiting job is stopped or killed at once (as a cancel);
    a paused waiting job is held until resumed (``lifecycle.on_control``)."""
    if action not in CONTROLS:
        raise Conflict(f"unknown request {action!r} (known: {', '.join(CONTROLS)})")
    return _request(conn, who, job_id, action, now)


def _request(conn: Connection, who: Principal, job_id: str, action: str, now: float) -> Any:
    """Decide on the locked row and write the decision guarded by its phase and attempt: a claim
    or expiry racing the request makes the guard miss, and the request is decided again on the
    row as it is now (never reported done when nothing was written)."""
    for _ in range(3):
        row = find(conn, who, job_id, for_update=True)
        before = Snapshot.of(row)
        try:
            after = (lifecycle.on_cancel(before, who.name, now) if action == "cancel"
                     else lifecycle.on_control(before, action, who.name, now))
        except lifecycle.Refused as exc:
            raise Conflict(str(exc)) from None
        if after == before:
            return row
        ended = after.phase is Phase.FINISHED
        # a waiting job that ends forgets its bundle here; the caller unlinks it after the commit
        columns = ({"state": "cleaned", **({"bundle": ""} if before.phase is Phase.PENDING else {})} if ended else {})
        if not apply(conn, row, after, now, **columns):
            continue
        detail = f"requested by {who.name}" + ("" if ended else "; the landing zone carries it out")
        hub_event(conn, row.id, row.attempt, row.state, "cleaned" if ended else row.state, action, now, detail)
        return find(conn, who, row.id)
    raise Conflict(f"job {job_id} changed while the request was being recorded: try again")


def waiting_reasons(conn: Connection, rows: list[Any]) -> dict[str, str]:
    """Why each pending job waits (``lz.hub.protocol.fit``): one query per Station for its landing zones."""
    from lz.hub.protocol.fit import waiting_reason
    from lz.hub.server.domain.credits import Gate

    zones_of: dict[int, list[Any]] = {}
    found = {}
    credit = Gate(conn)
    for row in rows:
        if row.phase != "pending":
            continue
        if (short := credit.reason(row.station_id, row.submitter_id, row.spec)) is not None:
            found[row.id] = short
            continue
        if row.station_id not in zones_of:
            zones_of[row.station_id] = list(conn.execute(  # the sizes alone: a Station may have 1,000 zones
                _zone_sizes(), {"station_id": row.station_id}).all())
        spec = json.loads(row.spec)
        if getattr(row, "waiting_on", None):
            from lz.core.dependencies import Dependency
            from lz.core.dependencies import waiting_reason as dependency_reason

            still = set(row.waiting_on.split())
            found[row.id] = dependency_reason([Dependency(d["job_id"], d.get("condition", "ok"))
                                               for d in spec.get("after") or () if d["job_id"] in still])
            continue
        found[row.id] = waiting_reason(spec.get("resources") or {}, row.station, zones_of[row.station_id])
    return found


@functools.cache
def _zone_sizes() -> Any:
    from lz.hub.server.domain.stations import links_t

    return (select(zones_t.c.cpus, zones_t.c.memory_mb, zones_t.c.gpus).join(links_t, links_t.c.lz_id == zones_t.c.id)
            .where(links_t.c.station_id == bindparam("station_id")))


def job_json(row: Any, now: float, history: list[dict[str, Any]] | None = None,
             waiting: str | None = None, tries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The landing zone's documented job JSON (``lz.core.views.job_json``) plus station, landing_zone
    and attempts (the current attempt's number), max_attempts and, for one job, ``attempt_history``
    (each attempt's landing zone, start, end and why it ended). Add keys; never rename or remove."""
    spec = json.loads(row.spec)
    started, ended = row.started_at, row.ended_at
    data: dict[str, Any] = {
        "id": row.id, "name": row.name, "state": row.state, "outcome": row.outcome, "exit_code": row.exit_code,
        "reason": row.reason if row.reason or row.phase != "pending" else None,
        "slurm_job_id": row.executor_id if row.executor == "slurm" else None,
        "executor": row.executor, "executor_id": row.executor_id, "native_state": row.native_state,
        "pending_reason": row.pending_reason or (waiting or "waiting for a landing zone" if row.phase == "pending"
                                                 else None),
        "resources": spec.get("resources") or {}, "command": spec.get("command"),
        "created_at": iso(row.created_at), "started_at": iso(started), "ended_at": iso(ended),
        "runtime_s": None if started is None else (ended or now) - started,
        "cpu_seconds": row.cpu_seconds, "max_rss_bytes": row.max_rss_bytes, "results": row.results is not None,
        "station": row.station, "landing_zone": row.landing_zone, "attempts": row.attempt,
        "phase": row.phase, "cancel_requested": bool(row.cancel_requested),
        "max_attempts": row.max_attempts, "failed_attempts": row.failures,
        **_retry_and_after(spec),
    }
    if tries is not None:
        data["attempt_history"] = tries
    if history is not None:
        from lz.core.timeline import durations, totals

        steps = [(h["event"], h["to"], h["at_s"]) for h in history]
        data["history"] = [{**h, "duration_s": d} for h, d in zip(history, durations(steps, now))]
        data["times"] = totals(steps, now)
    return data


def _retry_and_after(spec: dict[str, Any]) -> dict[str, Any]:
    """The landing zone's ``retry`` and ``after`` keys (``lz.core.views.attempts_json``): the policy
    from the spec; which attempt of it runs is the holding landing zone's to say (its reason does)."""
    from lz.core.job import JobSpec

    job = JobSpec.from_dict({"name": "x", **{k: spec[k] for k in ("retry", "after") if k in spec}})
    return {"retry": {"attempt": None, "retries": job.retry.retries, "retry_on": list(job.retry.retry_on),
                      "earlier": []},
            "after": [str(d) for d in job.after]}


def mark_downloaded(conn: Connection, job_id: str, now: float) -> None:
    """Retention counts from the first download (results are kept until then)."""
    conn.execute(update(jobs_t).where(jobs_t.c.id == job_id, jobs_t.c.downloaded_at.is_(None))
                 .values(downloaded_at=now))


def attempt_history(conn: Connection, job_id: str) -> list[dict[str, Any]]:
    from lz.hub.server.domain import attempts

    return attempts.listing(conn, job_id)
