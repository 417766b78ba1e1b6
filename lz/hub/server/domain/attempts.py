"""A job's attempts, one row each (``hub_attempts``): which landing zone claimed it and when, and
when and why it ended. Written in the transaction of the claim, requeue, hand-back or finish that
changes the job, so the record and the job never disagree; read by ``GET /api/v1/jobs/{id}``,
``lz status --hub JOB`` and the reason of a job whose attempts ran out."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from lz.core.views import iso
from lz.hub.server.models import HubAttempt, LandingZone

attempts_t: Any = HubAttempt.__table__
zones_t: Any = LandingZone.__table__

ENDINGS = ("succeeded", "failed", "cancelled", "timed_out", "lost", "expired", "released")
"""Why an attempt ended: the outcome its landing zone reported, or what the hub saw."""


def begin(conn: Connection, job_id: str, attempt: int, lz_id: int, now: float) -> None:
    conn.execute(_insert(), {"job_id": job_id, "attempt": attempt, "lz_id": lz_id, "claimed_at": now})


@functools.cache
def _insert() -> Any:
    """Built once, as the other statements of a job's path (``claims._insert_event``)."""
    return insert(attempts_t)


def end(conn: Connection, job_id: str, attempt: int, now: float, ended: str, detail: str | None = None) -> None:
    """Close the attempt (once: a repeat changes nothing). A job claimed before this table
    existed has no row for its attempt; nothing is written then."""
    conn.execute(_end(), {"w_job": job_id, "w_attempt": attempt, "ended_at": now, "ended": ended[:16],
                          "detail": detail})


@functools.cache
def _end() -> Any:
    return update(attempts_t).where(attempts_t.c.job_id == bindparam("w_job"),
                                    attempts_t.c.attempt == bindparam("w_attempt"), attempts_t.c.ended_at.is_(None))


def listing(conn: Connection, job_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(attempts_t, zones_t.c.name.label("zone"))
                        .outerjoin(zones_t, zones_t.c.id == attempts_t.c.lz_id)
                        .where(attempts_t.c.job_id == job_id).order_by(attempts_t.c.attempt)).all()
    return [{"attempt": r.attempt, "landing_zone": r.zone, "claimed_at": iso(r.claimed_at),
             "ended_at": iso(r.ended_at), "ended": r.ended, "detail": r.detail} for r in rows]


def summary(conn: Connection, job_id: str) -> str:
    """Each attempt in a few words, for the reason of a job whose attempts ran out."""
    parts = []
    for a in listing(conn, job_id):
        what = a["ended"] or "running"
        parts.append(f"#{a['attempt']} on {a['landing_zone'] or '?'}: {what}"
                     + (f" ({a['detail']})" if a["detail"] and a["ended"] == "lost" else ""))
    return "; ".join(parts)
