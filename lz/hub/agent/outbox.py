"""The landing zone's side of claims, on its own database: claim rows (``hub_claims``) and what
is still to be told to the hub, read from the append-only ``transitions`` log. Nothing is
forgotten until the hub has acknowledged it, so a SIGKILL at any point loses nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from lz.store import db
from lz.store.jobs import jobs_t, transitions_t
from lz.store.models import hub_claims
from lz.store.models import notifications as notifications_t

claims_t: Any = hub_claims


@dataclass(frozen=True)
class Claim:
    hub_job_id: str
    attempt: int
    name: str
    spec: dict[str, Any]
    local_job_id: str | None
    reported_seq: int
    lease_lost: bool
    cancel_applied: bool
    notified_seq: int = 0  # the last of the local job's notifications the hub acknowledged

    @property
    def origin(self) -> str:
        """The local job's ``source``: how a restarted agent finds the job an intake stored."""
        return f"hub:{self.hub_job_id}:{self.attempt}"


def _claim(row: Any) -> Claim:
    return Claim(row.hub_job_id, row.attempt, row.name, json.loads(row.spec), row.local_job_id, row.reported_seq,
                 bool(row.lease_lost), bool(row.cancel_applied), int(row.notified_seq or 0))


def record_claim(engine: Engine, hub_url: str, job: dict[str, Any], now: float) -> None:
    with db.write(engine) as conn:
        exists = conn.execute(select(claims_t.c.attempt).where(
            claims_t.c.hub_job_id == job["id"], claims_t.c.attempt == job["attempt"])).first()
        if exists is None:
            conn.execute(insert(claims_t).values(
                hub_job_id=job["id"], attempt=job["attempt"], hub_url=hub_url, name=job["name"],
                spec=json.dumps(job["spec"]), reported_seq=0, lease_lost=False, cancel_applied=False,
                claimed_at=now))


def claims(engine: Engine) -> list[Claim]:
    with db.read(engine) as conn:
        rows = conn.execute(select(claims_t).order_by(claims_t.c.claimed_at)).all()
    return [_claim(r) for r in rows]


def link(engine: Engine, claim: Claim, local_job_id: str) -> None:
    with db.write(engine) as conn:
        conn.execute(update(claims_t).where(claims_t.c.hub_job_id == claim.hub_job_id,
                                            claims_t.c.attempt == claim.attempt).values(local_job_id=local_job_id))


def stored_by_intake(engine: Engine, claim: Claim) -> str | None:
    """The local job an intake stored for this claim before a crash, if any."""
    with db.read(engine) as conn:
        row = conn.execute(select(jobs_t.c.id).where(jobs_t.c.source == claim.origin)).first()
    return row.id if row else None


def mark(engine: Engine, claim: Claim, **values: Any) -> None:
    with db.write(engine) as conn:
        conn.execute(update(claims_t).where(claims_t.c.hub_job_id == claim.hub_job_id,
                                            claims_t.c.attempt == claim.attempt).values(**values))


def forget(engine: Engine, claim: Claim) -> None:
    with db.write(engine) as conn:
        conn.execute(delete(claims_t).where(claims_t.c.hub_job_id == claim.hub_job_id,
                                            claims_t.c.attempt == claim.attempt))


def unreported(engine: Engine, claim: Claim) -> list[dict[str, Any]]:
    """Transitions of the claim's local job after its cursor (those to ``cleaned`` are told by
    the finish, with the results)."""
    if claim.local_job_id is None:
        return []
    with db.read(engine) as conn:
        rows = conn.execute(select(transitions_t).where(
            transitions_t.c.job_id == claim.local_job_id, transitions_t.c.id > claim.reported_seq)
            .order_by(transitions_t.c.id)).all()
    return [{"seq": r.id, "from_state": r.from_state, "to_state": r.to_state, "event": r.event, "at": r.at,
             "detail": (r.detail or "")[:4096] or None} for r in rows]


def unnotified(engine: Engine, claim: Claim, limit: int = 100) -> list[dict[str, Any]]:
    """The local job's notifications after the claim's cursor, oldest first, at most ``limit``."""
    if claim.local_job_id is None:
        return []
    with db.read(engine) as conn:
        rows = conn.execute(select(notifications_t).where(
            notifications_t.c.job_id == claim.local_job_id, notifications_t.c.id > claim.notified_seq)
            .order_by(notifications_t.c.id).limit(limit)).all()
    return [{"seq": r.id, "at": r.at, "text": r.text} for r in rows]
