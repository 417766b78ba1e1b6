"""Usage (issue 26): what each job used, charged as its landing zone reports it, and summed per
user, Station, landing zone and day.

A landing zone's report carries what its engine measures (``sstat`` or psutil: CPU seconds and
peak memory); the hub turns it into CPU-seconds, MiB-seconds of memory (the reported peak over
the wall time since the previous report) and GPU-seconds (the GPUs asked for, over the wall
time). The report is hostile input: the wall time is the hub's own clock since the attempt was
claimed (a start the zone reports only shortens it; the attempt's recorded end caps it), CPU
time is at most the wall time on every CPU of the job or the zone, memory at most what the job
or the zone has. Totals per attempt only grow (``job_usage``): a resent or reordered report
charges nothing twice, and a crash between two reports loses nothing the next one does not
bring. Each increment is also added to its UTC day (``usage_days``), in the same transaction.

In that transaction too, the owner's limits (``credits``) are checked: past the warning share a
notification is queued once per attempt, and at the limit the job's stop is recorded as a
request (``lifecycle.on_control``, by "the credit limit"), which its landing zone carries out at
its next heartbeat as any stop, collecting partial results. The warning is always written
before (or with) the stop.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update

from lz.hub.protocol import lifecycle
from lz.hub.protocol.lifecycle import Phase, Snapshot
from lz.hub.server.domain import claims, credits, notifications, roles
from lz.hub.server.domain.accounts import Principal, users_t
from lz.hub.server.models import HubAttempt, HubJob, JobUsage, LandingZone, Station, StationMember, UsageDay

usage_t: Any = JobUsage.__table__
days_t: Any = UsageDay.__table__
jobs_t: Any = HubJob.__table__
attempts_t: Any = HubAttempt.__table__
zones_t: Any = LandingZone.__table__
stations_t: Any = Station.__table__
members_t: Any = StationMember.__table__

AMOUNTS = ("cpu_s", "mem_mib_s", "gpu_s", "credits_mc")
STOPPED_BY = "the credit limit"
UNKNOWN_MEMORY_MIB = 4 << 20  # 4 TiB: the bound on memory when neither the job nor its zone says
WARNING_SEQ, STOP_SEQ = 1, 2  # the hub's own notices on a job: attempt 0 (no landing zone uses it)


def day_of(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Totals:
    wall_s: int = 0
    cpu_s: int = 0
    mem_mib_s: int = 0
    gpu_s: int = 0


def measured(before: Totals, facts: Mapping[str, Any], resources: Mapping[str, Any], zone: Any,
             claimed_at: float, ended_at: float | None, now: float) -> Totals:
    """The attempt's totals after a report (pure): bounded by the hub's clock and the job's or
    the zone's size, never lower than ``before``."""
    start = claimed_at
    reported_start = facts.get("started_at")
    if reported_start is None:
        return before  # not started yet (queued in SLURM): nothing used
    start = max(start, float(reported_start))
    end = now if ended_at is None else min(now, ended_at)
    reported_end = facts.get("ended_at")
    if reported_end is not None and float(reported_end) >= start:
        end = min(end, float(reported_end))
    wall = max(before.wall_s, int(max(0.0, end - start)))
    cpus = max(int(resources.get("cpus") or 1), int(getattr(zone, "cpus", None) or 1))
    cpu = max(before.cpu_s, min(int(facts.get("cpu_seconds") or 0), wall * cpus))
    mem_cap = max(int(resources.get("memory_mb") or 0), int(getattr(zone, "memory_mb", None) or 0)) or UNKNOWN_MEMORY_MIB
    rss_mib = min(int(facts.get("max_rss_bytes") or 0) >> 20, mem_cap)
    mem = before.mem_mib_s + rss_mib * (wall - before.wall_s)
    gpu = max(before.gpu_s, int(resources.get("gpus") or 0) * wall)
    return Totals(wall, cpu, mem, gpu)


@dataclass(frozen=True)
class _Zone:
    cpus: int | None
    memory_mb: int | None


@dataclass(frozen=True)
class Charged:
    """What a report changed: the increments and whether it warned or stopped the job."""

    increments: dict[str, int]
    warned: bool = False
    stopped: str | None = None  # the reason, when this report asked the stop


def charge(conn: Connection, lz_id: int, job_id: str, attempt: int, facts: Mapping[str, Any], now: float,
           warn_percent: int = 80) -> Charged:
    """Charge one report of ``lz_id``'s attempt (call it in the report's or finish's transaction,
    after the job's row is locked by it). Reports of an attempt the zone never held charge nothing."""
    key = {"job_id": job_id, "attempt": attempt, "lz_id": lz_id}
    job = conn.execute(_job_attempt_zone(), key).first()  # the job, its attempt by this zone and the zone, in one read
    if job is None:
        return Charged({})
    row = conn.execute(_usage_row(), key).first()
    before = Totals(row.wall_s, row.cpu_s, row.mem_mib_s, row.gpu_s) if row else Totals()
    zone = _Zone(job.zone_cpus, job.zone_memory_mb)
    resources = json.loads(job.spec).get("resources") or {}
    after = measured(before, facts, resources, zone, job.attempt_claimed_at, job.attempt_ended_at, now)
    terms = credits.terms(conn, job.station_id, job.submitter_id)
    cost = terms.prices.cost(after.cpu_s, after.mem_mib_s, after.gpu_s)
    charged_before = row.credits_mc if row else 0
    total_mc = max(charged_before, cost)  # a price lowered mid-job never pays back what was charged
    values = {"wall_s": after.wall_s, "cpu_s": after.cpu_s, "mem_mib_s": after.mem_mib_s, "gpu_s": after.gpu_s,
              "credits_mc": total_mc, "updated_at": now}
    increments = {"cpu_s": after.cpu_s - before.cpu_s, "mem_mib_s": after.mem_mib_s - before.mem_mib_s,
                  "gpu_s": after.gpu_s - before.gpu_s, "credits_mc": total_mc - charged_before}
    if row is None:
        conn.execute(_insert_usage(), {"job_id": job_id, "attempt": attempt, "station_id": job.station_id,
                                       "user_id": job.submitter_id, "lz_id": lz_id, **values})
    elif any(increments.values()) or after.wall_s != before.wall_s:
        conn.execute(update(usage_t).where(usage_t.c.job_id == job_id, usage_t.c.attempt == attempt).values(**values))
    if any(increments.values()):
        _add_to_day(conn, job, attempt, lz_id, day_of(now), increments)
    return _check(conn, job, attempt, row, terms, increments, now, warn_percent)


@functools.cache
def _job_attempt_zone() -> Any:
    """Built once, as the other statements of a job's path (``claims._insert_event``)."""
    return (select(jobs_t, attempts_t.c.claimed_at.label("attempt_claimed_at"),
                   attempts_t.c.ended_at.label("attempt_ended_at"), zones_t.c.cpus.label("zone_cpus"),
                   zones_t.c.memory_mb.label("zone_memory_mb"))
            .join(attempts_t, and_(attempts_t.c.job_id == jobs_t.c.id, attempts_t.c.attempt == bindparam("attempt"),
                                   attempts_t.c.lz_id == bindparam("lz_id")))
            .outerjoin(zones_t, zones_t.c.id == bindparam("lz_id"))
            .where(jobs_t.c.id == bindparam("job_id")))


@functools.cache
def _usage_row() -> Any:
    return (select(usage_t).where(usage_t.c.job_id == bindparam("job_id"), usage_t.c.attempt == bindparam("attempt"))
            .with_for_update())


@functools.cache
def _insert_usage() -> Any:
    return insert(usage_t)


def _add_to_day(conn: Connection, job: Any, attempt: int, lz_id: int, day: str, increments: dict[str, int]) -> None:
    """Add to the day's row, made by the first report of the day (the job's usage row is locked:
    no two reports of one attempt race here)."""
    key = (days_t.c.job_id == job.id, days_t.c.attempt == attempt, days_t.c.day == day)
    added = conn.execute(update(days_t).where(*key).values(**{k: getattr(days_t.c, k) + v
                                                               for k, v in increments.items()}))
    if added.rowcount == 0:
        conn.execute(insert(days_t).values(job_id=job.id, attempt=attempt, day=day, station_id=job.station_id,
                                           user_id=job.submitter_id, lz_id=lz_id, **increments))


def _check(conn: Connection, job: Any, attempt: int, row: Any, terms: credits.Terms, increments: dict[str, int],
           now: float, warn_percent: int) -> Charged:
    """Warn, then stop, the job of an owner whose credit runs out (once each per attempt)."""
    if job.phase != Phase.LEASED.value or (terms.own_limit_mc is None and terms.station_limit_mc is None):
        return Charged(increments)
    station = conn.execute(select(stations_t.c.name).where(stations_t.c.id == job.station_id)).scalar_one()
    user = conn.execute(select(users_t.c.name).where(users_t.c.id == job.submitter_id)).scalar_one()
    held = credits.limits(conn, job.station_id, job.submitter_id, station, user, terms)
    worst = max(held, key=lambda lim: lim.fraction())
    warned = row is not None and row.warned_at is not None
    stopped = row is not None and row.stopped_at is not None
    key = (usage_t.c.job_id == job.id, usage_t.c.attempt == attempt)
    result = Charged(increments)
    if not warned and worst.fraction() * 100 >= warn_percent:
        text = (f"credit warning: {worst.describe()}; job {job.name} ({job.id}) is stopped when the limit is "
                "reached")
        notifications.hub_notice(conn, job, 2 * attempt - 2 + WARNING_SEQ, text, now)
        conn.execute(update(usage_t).where(*key).values(warned_at=now))
        result = Charged(increments, warned=True)
    if not stopped and worst.reached():
        reason = f"credit limit reached: {worst.describe()}"
        before = Snapshot.of(job)
        if lifecycle.ending(before):
            return result
        after = lifecycle.on_control(before, "stop", STOPPED_BY, now)
        if claims.apply(conn, job, after, now):
            claims.hub_event(conn, job.id, job.attempt, job.state, job.state, "stop", now,
                             f"{reason}; requested by {STOPPED_BY}; the landing zone carries it out")
            notifications.hub_notice(conn, job, 2 * attempt - 2 + STOP_SEQ,
                                     f"job {job.name} ({job.id}) stopped: {reason}", now)
            conn.execute(update(usage_t).where(*key).values(stopped_at=now))
            result = Charged(increments, warned=result.warned, stopped=reason)
    return result


# -- sums -----------------------------------------------------------------------------------------
GROUPS = ("day", "station", "user", "landing_zone")


def _visible(who: Principal) -> Any:
    """Usage ``who`` may read: everything for a hub admin; in a Station, all of it where their
    role sees others' jobs (``others_jobs``), else their own."""
    if who.admin:
        return None
    mine = select(members_t.c.station_id).where(members_t.c.user_id == who.user_id)
    return or_(days_t.c.station_id.in_(roles.stations_with("others_jobs", who.user_id)),
               and_(days_t.c.station_id.in_(mine), days_t.c.user_id == who.user_id))


def summary(conn: Connection, who: Principal, *, station: str | None = None, since: str | None = None,
            until: str | None = None, user: str | None = None, by: tuple[str, ...] = GROUPS) -> list[dict[str, Any]]:
    """Usage summed per ``by`` (day, station, user, landing_zone), oldest day first; ``since`` and
    ``until`` are UTC days (YYYY-MM-DD), both included."""
    columns = {"day": days_t.c.day, "station": stations_t.c.name, "user": users_t.c.name,
               "landing_zone": func.coalesce(zones_t.c.name, "")}
    keys = [columns[g] for g in by]
    query = (select(*(c.label(g) for g, c in zip(by, keys, strict=True)),
                    *(func.sum(getattr(days_t.c, a)).label(a) for a in AMOUNTS))
             .join(stations_t, stations_t.c.id == days_t.c.station_id)
             .join(users_t, users_t.c.id == days_t.c.user_id)
             .outerjoin(zones_t, zones_t.c.id == days_t.c.lz_id))
    if (seen := _visible(who)) is not None:
        query = query.where(seen)
    if station is not None:
        query = query.where(days_t.c.station_id == roles.visible(conn, who, station))
    if user is not None:
        query = query.where(users_t.c.name == user)
    if since is not None:
        query = query.where(days_t.c.day >= since)
    if until is not None:
        query = query.where(days_t.c.day <= until)
    if keys:
        query = query.group_by(*keys).order_by(*keys)
    return [row_json({g: getattr(r, g) for g in by}, {a: int(getattr(r, a) or 0) for a in AMOUNTS})
            for r in conn.execute(query)]


def row_json(keys: dict[str, Any], amounts: dict[str, int]) -> dict[str, Any]:
    """One line of a summary: hours to three places (a display, not money) and credits exact."""
    return {**keys, "cpu_hours": round(amounts["cpu_s"] / 3600, 3),
            "memory_gib_hours": round(amounts["mem_mib_s"] / (1024 * 3600), 3),
            "gpu_hours": round(amounts["gpu_s"] / 3600, 3), "credits": credits.show_credits(amounts["credits_mc"]),
            "credits_mc": amounts["credits_mc"]}


def of_job(conn: Connection, job_id: str) -> dict[str, Any] | None:
    """One job's usage, all attempts together (its page and ``lz status --json``)."""
    row = conn.execute(select(*(func.sum(getattr(usage_t.c, a)).label(a) for a in AMOUNTS), func.count())
                       .where(usage_t.c.job_id == job_id)).one()
    if not row[-1]:
        return None
    return row_json({}, {a: int(getattr(row, a) or 0) for a in AMOUNTS})
