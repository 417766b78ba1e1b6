"""Claims under leases, with attempt numbers as fencing tokens.

A pending job is claimed by one landing zone at a time: on PostgreSQL the candidate rows are
locked with ``FOR UPDATE SKIP LOCKED`` (concurrent claimers skip each other's rows); on SQLite
the whole claim runs in one ``BEGIN IMMEDIATE`` transaction (one writer at a time). Either way
the update is guarded by ``phase = 'pending' AND attempt = :seen``, so a claim can never take a
job twice. A lease that is not renewed expires: the job goes back to pending with ``attempt + 1``,
and every report or upload still carrying the old attempt is refused (409). Each attempt is
recorded in ``hub_attempts`` (``lz.hub.server.domain.attempts``) in the same transaction as the
claim, requeue, hand-back or finish that starts or ends it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, and_, bindparam, exists, false, func, insert, or_, select, update

from lz.hub.protocol import lifecycle
from lz.hub.protocol.fit import Room, shortfall
from lz.hub.protocol.lifecycle import Control, Phase, Snapshot
from lz.hub.protocol.names import FACTS
from lz.hub.server.domain import attempts, credits, quotas
from lz.hub.server.errors import Conflict, NotFound
from lz.hub.server.models import HubEvent, HubJob, LandingZone, StationZone

jobs_t: Any = HubJob.__table__
events_t: Any = HubEvent.__table__
zones_t: Any = LandingZone.__table__
links_t: Any = StationZone.__table__

MAX_CLAIM = 16
FIT_LOOKAHEAD = 64  # pending jobs looked past per claim for ones that fit (bigger ones wait for a bigger zone)
SCAN_WINDOW = 256  # pending rows looked at per claim when the claimer's room is limited (a pilot)


def hub_event(conn: Connection, job_id: str, attempt: int, from_state: str, to_state: str, event: str,
              now: float, detail: str | None = None, lz_id: int | None = None) -> None:
    conn.execute(_insert_event(), {"job_id": job_id, "attempt": attempt, "seq": None, "lz_id": lz_id,
                                   "from_state": from_state, "to_state": to_state, "event": event, "at": now,
                                   "detail": detail})


@functools.cache
def _insert_event() -> Any:
    """The hot statements of the job's path are built once, their values bound at execution:
    building a statement and its cache key cost several times what running it on SQLite does
    (issue 22: a third of the hub's CPU per job went to SQLAlchemy)."""
    return insert(events_t)


_ENDS = [c.value for c in Control if c.ends]
CLAIMABLE = (jobs_t.c.phase == Phase.PENDING, jobs_t.c.cancel_requested == false(),
             or_(jobs_t.c.control.is_(None), jobs_t.c.control.notin_([Control.PAUSE.value, *_ENDS])),
             jobs_t.c.waiting_on.is_(None))
"""``lifecycle.claimable`` as SQL: pending, no end asked, not paused, waiting for no prerequisite
(a unit test keeps them equal)."""
ENDING = or_(jobs_t.c.cancel_requested.is_(True), jobs_t.c.control.in_(_ENDS))
"""``lifecycle.ending`` as SQL."""


def apply(conn: Connection, row: Any, after: Snapshot, now: float, **columns: Any) -> bool:
    """Write what a lifecycle rule changed as one UPDATE guarded by the phase and attempt the rule
    was decided on: a concurrent claim, expiry or finish makes it match nothing (False), never
    half of two decisions. ``columns``: what else the caller records with it."""
    before = Snapshot.of(row)
    values = lifecycle.changes(before, after)
    values.pop("cancel_by", None)  # no column yet: reasons name who asked when they can
    result = conn.execute(_guarded_update(), {"w_id": row.id, "w_phase": before.phase.value,
                                              "w_attempt": before.attempt, "updated_at": now, **values, **columns})
    return result.rowcount == 1


@functools.cache
def _guarded_update() -> Any:
    """``apply``'s UPDATE: the columns it sets are the other keys of its parameters."""
    return update(jobs_t).where(jobs_t.c.id == bindparam("w_id"), jobs_t.c.phase == bindparam("w_phase"),
                                jobs_t.c.attempt == bindparam("w_attempt"))


def requeue_columns(after: Snapshot) -> dict[str, Any]:
    """The columns beside the lifecycle's that a requeue or an end at requeue sets."""
    if after.phase is Phase.FINISHED:
        return {"state": "cleaned"}
    return {"state": "received", **{k: None for k in FACTS}}


def volumes_for_claim(conn: Connection, station_id: int, lz_id: int) -> list[dict[str, Any]]:
    from lz.hub.server.domain.volumes import for_claim  # volumes -> members -> stations: imported late, no cycle

    return for_claim(conn, station_id, lz_id)


def claim(conn: Connection, lz_id: int, lz_name: str, now: float, lease_s: float, limit: int,
          room: Room | None = None, quota: quotas.Defaults | None = None,
          ended: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Up to ``limit`` pending jobs of the landing zone's Stations, oldest first, now leased to it;
    with ``room`` (a pilot's free CPUs, memory, GPUs and time left) only jobs that fit, together;
    with ``quota``, no more leased jobs of a Station or a submitter than its running quota (the
    rest stay pending: Stations and users already at theirs are not even candidates).

    The fit is decided on the locked candidate rows (``SKIP LOCKED`` on PostgreSQL): rows that
    do not fit stay pending and are unlocked at commit, so another landing zone takes them."""
    limit = max(0, min(limit, MAX_CLAIM))
    if limit == 0:
        return []
    # held: leased jobs whose process has not ended (one being collected or uploaded frees its
    # room); a pilot may hold one more, the job it claims ahead while its room is taken (issue 23);
    # ``ended``: the zone's own word that these ended, before it reports them (protocol 3)
    zone = conn.execute(_zone_and_held(), {"lz_id": lz_id, "ended": list(ended)}).first()  # one statement
    if zone is not None and zone.max_running:  # never more than it can run: its limit less what it holds
        limit = min(limit, max(0, zone.max_running + (1 if zone.pilot_group else 0) - zone.held))
        if limit == 0:
            return []
    params: dict[str, Any] = {"lz_id": lz_id, "full_stations": [],
                              "limit": limit + FIT_LOOKAHEAD if room is None else SCAN_WINDOW}
    station_room: dict[int, int] = {}
    user_room: dict[int, int] = {}
    if quota is not None:
        station_room = quotas.running_room(conn, _zone_stations(), quota, {"lz_id": lz_id})
        params["full_stations"] = [s for s, n in station_room.items() if n <= 0]
        params["running"] = quota.user.running  # users at theirs: left out by the candidates' query itself
    # read with the zone: without any credit limit (the common hub) no credit statement at all
    limited = bool(zone.credit_limited) if zone is not None else credits.any_limit(conn)
    query = _candidates(quota is not None)
    for station_id, user_id in credits.exhausted(conn) if limited else ():  # their jobs wait for credit: not even candidates
        query = query.where(~and_(jobs_t.c.station_id == station_id,
                                  *(() if user_id is None else (jobs_t.c.submitter_id == user_id,))))
    rows = conn.execute(query, params).all()
    if quota is not None:
        user_room = quotas.users_running_room(conn, (r.submitter_id for r in rows), quota)
    claimed: list[dict[str, Any]] = []
    credit = credits.Gate(conn, limited)
    volumes: dict[int, list[dict[str, Any]]] = {}  # by Station: the same for each of its jobs
    for row in rows:
        if len(claimed) >= limit:
            break
        if quota is not None and (station_room[row.station_id] <= 0 or user_room[row.submitter_id] <= 0):
            continue  # its Station or submitter reached the running quota during this claim
        if credit.reason(row.station_id, row.submitter_id, row.spec) is not None:
            continue  # its owner's credit would not cover it: it waits, and says so (jobs.waiting_reasons)
        if zone is not None and shortfall(json.loads(row.spec).get("resources") or {}, zone) is not None:
            continue  # too big for this landing zone: it stays pending for a bigger one
        if room is not None:
            need = json.loads(row.spec).get("resources") or {}
            if not room.fits(need):
                continue
            room = room.minus(need)
        result = conn.execute(_guarded_update(), {
            "w_id": row.id, "w_phase": "pending", "w_attempt": row.attempt, "phase": "leased", "lease_owner": lz_id,
            "lease_expires": now + lease_s, "ran_on": lz_id, "state": "received", "updated_at": now})
        if result.rowcount != 1:
            continue
        if quota is not None:
            station_room[row.station_id] -= 1
            user_room[row.submitter_id] -= 1
        hub_event(conn, row.id, row.attempt, "pending", "received", "claim", now,
                  f"claimed by {lz_name} (attempt {row.attempt})", lz_id)
        attempts.begin(conn, row.id, row.attempt, lz_id, now)
        spec = json.loads(row.spec)
        if row.station_id not in volumes:
            volumes[row.station_id] = volumes_for_claim(conn, row.station_id, lz_id)
        spec["volumes"] = volumes[row.station_id]  # where they are on this zone
        claimed.append({"id": row.id, "attempt": row.attempt, "name": row.name, "spec": spec,
                        "lease_expires": now + lease_s, "bundle_file": row.bundle, "bundle_bytes": row.bundle_bytes})
    return claimed


@functools.cache
def _zone_stations() -> Any:
    """The Stations of the landing zone ``:lz_id``, as a subquery."""
    return select(links_t.c.station_id).where(links_t.c.lz_id == bindparam("lz_id"))


@functools.cache
def _zone_and_held() -> Any:
    """The claiming zone's row and how many jobs it holds whose process has not ended (one being
    collected or uploaded frees its room; ``:ended``: the zone's own word that these ended)."""
    held = select(func.count()).select_from(jobs_t).where(
        jobs_t.c.lease_owner == bindparam("lz_id"), jobs_t.c.phase == "leased",
        jobs_t.c.state.notin_(("collecting", "cleaned")),
        jobs_t.c.id.notin_(bindparam("ended", expanding=True))).scalar_subquery()
    limited = exists(select(credits.rules_t.c.station_id).where(credits.rules_t.c.limit_mc.is_not(None)))
    return select(zones_t, held.label("held"), limited.label("credit_limited")).where(zones_t.c.id == bindparam("lz_id"))


@functools.cache
def _candidates(with_quota: bool) -> Any:
    """The claim's candidate rows, oldest first, locked (skipped when another claim holds them);
    with the running quotas: not of the Stations in ``:full_stations`` nor of users whose leased
    jobs fill their ``:running`` (``quotas.users_at_running_limit``)."""
    bounds = (jobs_t.c.station_id.notin_(bindparam("full_stations", expanding=True)),
              jobs_t.c.submitter_id.notin_(quotas.users_at_running_limit())) if with_quota else ()
    return (select(jobs_t.c.id, jobs_t.c.attempt, jobs_t.c.name, jobs_t.c.spec, jobs_t.c.station_id,
                   jobs_t.c.submitter_id, jobs_t.c.bundle, jobs_t.c.bundle_bytes)
            .where(*CLAIMABLE, jobs_t.c.station_id.in_(_zone_stations()), *bounds)
            .order_by(jobs_t.c.created_at, jobs_t.c.id).limit(bindparam("limit"))
            .with_for_update(skip_locked=True))


def release(conn: Connection, lz_id: int, held: Iterable[tuple[str, int]], now: float,
            why: str = "its draining landing zone") -> list[str]:
    """A draining landing zone hands jobs back: each goes to pending under a new attempt (its
    old attempt is fenced off), which is not counted as a failure; a job whose user asked for its
    end (cancel, stop, kill) ends cancelled instead (``lifecycle.on_release``). Jobs no longer held
    by ``lz_id`` under that attempt are skipped."""
    done = []
    for job_id, attempt in held:
        row = conn.execute(select(jobs_t).where(jobs_t.c.id == job_id).with_for_update()).first()
        if row is None:
            continue
        try:
            after = lifecycle.on_release(Snapshot.of(row), lz_id, attempt, now)
        except lifecycle.Refused:
            continue
        if apply(conn, row, after, now, **requeue_columns(after)):
            ended = after.phase is Phase.FINISHED
            attempts.end(conn, job_id, attempt, now, "released", f"handed back by {why}")
            hub_event(conn, job_id, attempt, row.state, "cleaned" if ended else "received",
                      "cancel" if ended else "release", now,
                      f"attempt {attempt} handed back by {why}" + (f": {after.reason}" if ended else ""),
                      lz_id)
            done.append(job_id)
    return done


def has_pending(conn: Connection, lz_id: int) -> bool:
    """A cheap read before the claim's write transaction: is there anything to claim at all?"""
    return conn.execute(_any_pending(), {"lz_id": lz_id}).first() is not None


@functools.cache
def _any_pending() -> Any:
    return select(jobs_t.c.id).where(*CLAIMABLE, jobs_t.c.station_id.in_(_zone_stations())).limit(1)


def claimable_by_station(conn: Connection) -> tuple[dict[int, int], dict[int, tuple[int, ...]]]:
    """The long polls' one check per process (``notify.Notifier``): claimable jobs by Station id
    (from the claim index), and for each landing zone linked to such a Station, those Stations."""
    counts = {station_id: n for station_id, n in conn.execute(_claimable_counts())}
    stations_of: dict[int, list[int]] = {}
    if counts:
        for lz_id, station_id in conn.execute(_links_of(), {"ids": list(counts)}):
            stations_of.setdefault(lz_id, []).append(station_id)
    return counts, {lz_id: tuple(ids) for lz_id, ids in stations_of.items()}


@functools.cache
def _claimable_counts() -> Any:
    return select(jobs_t.c.station_id, func.count()).where(*CLAIMABLE).group_by(jobs_t.c.station_id)


@functools.cache
def _links_of() -> Any:
    return select(links_t.c.lz_id, links_t.c.station_id).where(links_t.c.station_id.in_(bindparam("ids", expanding=True)))


def settle_dependents(conn: Connection, now: float) -> tuple[list[str], list[str]]:
    """Pending jobs that wait for prerequisites (``--after``, ``waiting_on``): claimable once each
    ended as asked, ended failed ("dependency X failed") once one ended otherwise. Run with the
    lease sweep; a job it ends may release or end its own dependents at the next sweep. Returns
    (released, ended)."""
    from lz.core.dependencies import Dependency, holds, unmet_reason

    waiting = conn.execute(select(jobs_t).where(jobs_t.c.phase == Phase.PENDING,
                                                jobs_t.c.waiting_on.is_not(None))).all()
    if not waiting:
        return [], []
    wanted = {d for row in waiting for d in (row.waiting_on or "").split()}
    outcome = {r.id: r.outcome if r.phase == Phase.FINISHED else None
               for r in conn.execute(select(jobs_t.c.id, jobs_t.c.phase, jobs_t.c.outcome)
                                     .where(jobs_t.c.id.in_(wanted)))}
    released, ended = [], []
    for row in waiting:
        deps = [Dependency(d["job_id"], d.get("condition", "ok")) for d in json.loads(row.spec).get("after") or ()]
        still, unmet = [], None
        for dep in deps:
            verdict = holds(dep.condition, outcome.get(dep.job_id))
            if verdict is False:
                unmet = unmet_reason(dep, outcome[dep.job_id] or "failed")
                break
            if verdict is None:
                still.append(dep.job_id)
        if unmet is not None:
            after = lifecycle.on_unmet(Snapshot.of(row), unmet, now)
            if apply(conn, row, after, now, state="cleaned"):
                hub_event(conn, row.id, row.attempt, "received", "cleaned", "unmet", now, unmet)
                ended.append(row.id)
        elif " ".join(still) != row.waiting_on:
            conn.execute(update(jobs_t).where(jobs_t.c.id == row.id, jobs_t.c.phase == Phase.PENDING)
                         .values(waiting_on=" ".join(still) or None, updated_at=now))
            if not still:
                released.append(row.id)
    return released, ended


def requeue_expired(conn: Connection, now: float) -> list[str]:
    """Jobs whose lease ran out go back to pending under a new attempt, or end cancelled when their
    user asked for an end (``lifecycle.on_expiry``: a stop or kill survives the requeue); waiting
    jobs that still carry an end request (requeued so by older hubs) are settled too."""
    rows = conn.execute(
        select(jobs_t).where(or_(jobs_t.c.phase == Phase.LEASED, jobs_t.c.phase == Phase.PENDING))
        .where(or_(jobs_t.c.lease_expires < now, ENDING))
        .with_for_update(skip_locked=True)
    ).all()
    done = []
    for row in rows:
        job = Snapshot.of(row)
        if job.phase is Phase.LEASED and not lifecycle.expired(job, now):
            continue  # an end asked of a live lease: its holder carries it out
        after = lifecycle.on_expiry(job, now) if job.phase is Phase.LEASED else lifecycle.settle(job, now)
        if job.phase is Phase.LEASED:
            attempts.end(conn, row.id, row.attempt, now, "expired", "its landing zone stopped answering")
            after = with_attempts(conn, row.id, after)
        if apply(conn, row, after, now, **requeue_columns(after)):
            ended = after.phase is Phase.FINISHED
            detail = (f"lease of attempt {row.attempt} expired" if job.phase is Phase.LEASED else "waiting") + \
                (f": {after.reason}" if ended else "")
            event = "requeue" if not ended else "cancel" if lifecycle.ending(job) else "lost"
            hub_event(conn, row.id, row.attempt, row.state, "cleaned" if ended else "received", event, now, detail,
                      row.lease_owner)
            done.append(row.id)
    return done


def _held(conn: Connection, lz_id: int, job_id: str, attempt: int, *, for_update: bool = True) -> Any:
    """The job row if ``lz_id`` holds it under ``attempt``; otherwise 409 (fencing) or 404."""
    row = conn.execute(_job_row(for_update), {"job_id": job_id}).first()
    _fence(row, lz_id, job_id, attempt)
    return row


@functools.cache
def _job_row(for_update: bool) -> Any:
    query = select(jobs_t).where(jobs_t.c.id == bindparam("job_id"))
    return query.with_for_update() if for_update else query


def _fence(row: Any, lz_id: int, job_id: str, attempt: int) -> None:
    if row is None:
        raise NotFound(f"no job {job_id!r}")
    if row.phase != "leased" or row.lease_owner != lz_id or row.attempt != attempt:
        raise Conflict(f"job {job_id} attempt {attempt} is no longer leased to this landing zone")


def heartbeat(conn: Connection, lz_id: int, held: Iterable[tuple[str, int]], now: float,
              lease_s: float) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[dict[str, Any]]]:
    """Renew the leases still held; answer (attempts whose lease is gone, attempts the user
    cancelled, the latest control request of each held attempt that has one). Each names its
    attempt: one landing zone may hold a stale attempt of a job beside its live one."""
    gone, cancel, controls = [], [], []
    for job_id, attempt in held:
        result = conn.execute(_renew(), {"w_id": job_id, "w_owner": lz_id, "w_attempt": attempt,
                                         "lease_expires": now + lease_s})
        row = result.first()
        if row is None:
            gone.append((job_id, attempt))
            continue
        if row.cancel_requested:
            cancel.append((job_id, attempt))
        if row.control:
            controls.append({"id": job_id, "attempt": attempt, "action": row.control, "by": row.control_by or "",
                             "seq": row.control_seq})
    return gone, cancel, controls


@functools.cache
def _renew() -> Any:
    """A held attempt's lease renewed (``:lease_expires``), what its user asked returned."""
    return (update(jobs_t).where(jobs_t.c.id == bindparam("w_id"), jobs_t.c.phase == "leased",
                                 jobs_t.c.lease_owner == bindparam("w_owner"), jobs_t.c.attempt == bindparam("w_attempt"))
            .returning(jobs_t.c.cancel_requested, jobs_t.c.control, jobs_t.c.control_by, jobs_t.c.control_seq))


def report(conn: Connection, lz_id: int, job_id: str, attempt: int, events: Sequence[dict[str, Any]],
           facts: dict[str, Any], now: float, lease_s: float) -> int:
    """Record the landing zone's transitions (idempotent by job, attempt, seq) and its facts;
    returns the highest seq now stored for this attempt."""
    row = _held(conn, lz_id, job_id, attempt)
    state, seq = record_events(conn, lz_id, job_id, attempt, events, row.state)
    values = {k: facts[k] for k in FACTS if k in facts}
    conn.execute(update(jobs_t).where(jobs_t.c.id == job_id).values(
        state=state, lease_expires=now + lease_s, updated_at=now, **values))
    return seq


def record_events(conn: Connection, lz_id: int, job_id: str, attempt: int, events: Sequence[dict[str, Any]],
                  state: str) -> tuple[str, int]:
    """Insert the transitions not stored yet (by seq) of a held attempt: (the job's state after
    them, the highest seq stored). The caller fenced the attempt and writes the state."""
    known = set(conn.execute(_seqs(), {"job_id": job_id, "attempt": attempt}).scalars())
    fresh = list({ev["seq"]: ev for ev in sorted(events, key=lambda e: e["seq"], reverse=True)
                  if ev["seq"] not in known}.values())[::-1]  # the first of a seq sent twice, in seq order
    if fresh:  # one INSERT of several rows
        conn.execute(_insert_event(), [
            {"job_id": job_id, "attempt": attempt, "seq": ev["seq"], "lz_id": lz_id, "from_state": ev["from_state"],
             "to_state": ev["to_state"], "event": ev["event"], "at": ev["at"], "detail": ev.get("detail")}
            for ev in fresh])
    for ev in fresh:
        known.add(ev["seq"])
        if ev["to_state"] != "cleaned":  # cleaned only once the results are in (finish)
            state = ev["to_state"]
    return state, max(known, default=0)


@functools.cache
def _seqs() -> Any:
    return select(events_t.c.seq).where(events_t.c.job_id == bindparam("job_id"),
                                        events_t.c.attempt == bindparam("attempt"), events_t.c.seq.is_not(None))


def check_upload(conn: Connection, lz_id: int, job_id: str, attempt: int) -> None:
    """Fencing before storing results: only the current holder's attempt may upload."""
    row = conn.execute(_upload_fence(), {"job_id": job_id}).first()
    if row is not None and row.phase == "finished" and row.results_attempt == attempt and row.ran_on == lz_id:
        return  # a retried upload after a finish that was acknowledged late: harmless
    _fence(row, lz_id, job_id, attempt)


@functools.cache
def _upload_fence() -> Any:
    return select(jobs_t.c.phase, jobs_t.c.results_attempt, jobs_t.c.ran_on, jobs_t.c.lease_owner,
                  jobs_t.c.attempt).where(jobs_t.c.id == bindparam("job_id"))


def finish(conn: Connection, lz_id: int, job_id: str, attempt: int, results: str | None, facts: dict[str, Any],
           now: float, events: Sequence[dict[str, Any]] = (), results_bytes: int | None = None) -> bool | None:
    """The attempt's end (``lifecycle.on_finish``): results (if any) recorded, lease released.
    Idempotent for the same attempt: False when that attempt had already finished the job. A
    finish reporting the job ``lost`` is a failed attempt: the job is queued again under a new
    attempt and the results are not accepted (None: the caller removes them), unless an end was
    asked or the attempts are used up (the job ends then, cancelled or lost)."""
    row = conn.execute(_job_row(True), {"job_id": job_id}).first()
    if row is None:
        raise NotFound(f"no job {job_id!r}")
    before = Snapshot.of(row)
    reported = facts.get("outcome") or row.outcome
    try:
        after = lifecycle.on_finish(before, lz_id, attempt, reported, now)
    except lifecycle.Refused:
        raise Conflict(f"job {job_id} attempt {attempt} is no longer leased to this landing zone") from None
    if after is before:
        return False
    state = record_events(conn, lz_id, job_id, attempt, events, row.state)[0] if events else row.state
    attempts.end(conn, job_id, attempt, now, reported or lifecycle.DEFAULT_OUTCOME, facts.get("reason"))
    if after.phase is not Phase.FINISHED:
        if not apply(conn, row, after, now, **requeue_columns(after)):
            raise Conflict(f"job {job_id} changed while its finish was being recorded: try again")
        hub_event(conn, job_id, attempt, state, "received", "requeue", now,
                  f"attempt {attempt} lost by its landing zone" + (f": {facts['reason']}" if facts.get("reason")
                                                                   else "") + "; queued again", lz_id)
        return None
    after = with_attempts(conn, job_id, after)
    changed = lifecycle.changes(before, after)
    values = {k: facts[k] for k in FACTS if k in facts and k not in changed}
    if results_bytes is not None and results:
        values["results_bytes"] = results_bytes
    if not apply(conn, row, after, now, state="cleaned", results=results, results_attempt=attempt if results else None,
                 results_at=now if results else None, **values):
        raise Conflict(f"job {job_id} changed while its finish was being recorded: try again")
    hub_event(conn, job_id, attempt, state, "cleaned", "finish", now,
              f"results of attempt {attempt} stored" if results else f"attempt {attempt} ended without results", lz_id)
    return True


def with_attempts(conn: Connection, job_id: str, after: Snapshot) -> Snapshot:
    """A job that ends lost because its attempts ran out says what happened on each of them."""
    if after.phase is Phase.FINISHED and after.outcome == lifecycle.LOST and not lifecycle.ending(after):
        return replace(after, reason=f"{after.reason}: {attempts.summary(conn, job_id)}")
    return after
