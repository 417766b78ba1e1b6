"""Reads and writes of the ``notifications`` table: what jobs sent through ``$LZ_NOTIFY``,
committed as soon as read (a crash loses at most what was still in the channel)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, func, insert, select

from lz.store import db
from lz.store.models import notifications as notifications_t


def add(engine: Engine, messages: Mapping[str, Sequence[tuple[float, str]]]) -> int:
    """Store messages by job id, in order, in one transaction; returns how many."""
    rows = [{"job_id": job_id, "at": at, "text": text} for job_id, sent in messages.items() for at, text in sent]
    if rows:
        with db.write(engine) as conn:
            conn.execute(insert(notifications_t), rows)
    return len(rows)


def counts(engine: Engine, job_ids: Sequence[str]) -> dict[str, int]:
    """How many each job already has (its ``per_job`` limit survives a daemon restart)."""
    if not job_ids:
        return {}
    with db.read(engine) as conn:
        rows = conn.execute(select(notifications_t.c.job_id, func.count()).where(
            notifications_t.c.job_id.in_(list(job_ids))).group_by(notifications_t.c.job_id)).all()
    return {r[0]: r[1] for r in rows}


def of_job(engine: Engine, job_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
    """A job's notifications after ``after`` (a ``seq``), oldest first."""
    with db.read(engine) as conn:
        rows = conn.execute(select(notifications_t).where(
            notifications_t.c.job_id == job_id, notifications_t.c.id > after)
            .order_by(notifications_t.c.id).limit(limit)).all()
    return [{"seq": r.id, "at": r.at, "text": r.text} for r in rows]
