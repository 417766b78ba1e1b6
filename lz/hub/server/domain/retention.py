"""What the hub keeps, and for how long: the rows that need a stored file, the files and rows
past their retention, and the figures ``lz hub status`` shows.

Rows first: a pass forgets a file in its row (or deletes the row) and commits before the file
is unlinked, so a crash leaves a file no row needs (the next sweep removes it), never a row
pointing at nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, func, or_, select, update

from lz.hub.server.models import HubAttempt, HubEvent, HubJob, LandingZone

jobs_t: Any = HubJob.__table__
events_t: Any = HubEvent.__table__
attempts_t: Any = HubAttempt.__table__
zones_t: Any = LandingZone.__table__


@dataclass(frozen=True)
class Retention:
    """Seconds: results after their first download, results never downloaded, finished jobs'
    rows and events (kept while the job still has results)."""

    after_download_s: float
    undownloaded_s: float
    finished_jobs_s: float
    bundles_s: float = 0.0  # a finished job's bundle, for "submit again" (issue 26)


def expire_files(conn: Connection, now: float, keep: Retention) -> list[str]:
    """Files the hub no longer needs, forgotten in their rows: bundles (and live logs) of jobs
    finished more than ``bundles_s`` ago, results downloaded more than ``after_download_s`` ago or stored more than
    ``undownloaded_s`` ago and never downloaded. Returns their relative paths."""
    gone: list[str] = []
    rows = conn.execute(select(jobs_t.c.id, jobs_t.c.bundle).where(
        jobs_t.c.phase == "finished", jobs_t.c.bundle != "", jobs_t.c.updated_at <= now - keep.bundles_s)).all()
    for row in rows:
        # live logs too: the results hold the logs of record (while a bundle is kept for "submit
        # again", the sweep takes them: no row needs a finished job's live logs)
        gone += [row.bundle, f"logs/{row.id}"]
        conn.execute(update(jobs_t).where(jobs_t.c.id == row.id).values(bundle=""))
    rows = conn.execute(select(jobs_t.c.id, jobs_t.c.results).where(
        jobs_t.c.results.is_not(None),
        or_(jobs_t.c.downloaded_at < now - keep.after_download_s,
            jobs_t.c.downloaded_at.is_(None) & (jobs_t.c.results_at < now - keep.undownloaded_s)))).all()
    for row in rows:
        gone.append(row.results)
        conn.execute(update(jobs_t).where(jobs_t.c.id == row.id).values(results=None))
    return gone


def forget_finished(conn: Connection, now: float, keep: Retention, limit: int = 1000) -> int:
    """Delete finished jobs (their rows, events and attempts) that ended more than
    ``finished_jobs_s`` ago and keep no results; returns how many (at most ``limit`` a pass)."""
    ids = list(conn.execute(select(jobs_t.c.id).where(
        jobs_t.c.phase == "finished", jobs_t.c.results.is_(None), jobs_t.c.updated_at < now - keep.finished_jobs_s)
        .limit(limit)).scalars())
    if ids:
        conn.execute(delete(events_t).where(events_t.c.job_id.in_(ids)))
        conn.execute(delete(attempts_t).where(attempts_t.c.job_id.in_(ids)))
        conn.execute(delete(jobs_t).where(jobs_t.c.id.in_(ids), jobs_t.c.phase == "finished"))
    return len(ids)


@dataclass
class Needed:
    """The stored files rows need: exact paths, and prefixes (a running attempt's live logs)."""

    paths: set[str] = field(default_factory=set)
    prefixes: set[str] = field(default_factory=set)

    def __contains__(self, relative: object) -> bool:
        return isinstance(relative, str) and (relative in self.paths
                                              or any(relative.startswith(p) for p in self.prefixes))


def needed(conn: Connection) -> Needed:
    """Every file a row needs: the bundle of a job not finished, the accepted results, and for
    the current attempt of a job not finished its live logs and (leased) its results being
    uploaded before the finish. Results of any other attempt were never accepted."""
    found = Needed()
    rows = conn.execute(select(jobs_t.c.id, jobs_t.c.phase, jobs_t.c.attempt, jobs_t.c.bundle, jobs_t.c.results)
                        .where(or_(jobs_t.c.phase != "finished", jobs_t.c.bundle != "",
                                   jobs_t.c.results.is_not(None)))).all()
    for row in rows:
        found.paths.update(p for p in (row.bundle, row.results) if p)
        if row.phase != "finished":
            found.prefixes.add(f"logs/{row.id}/attempt-{row.attempt}.")
            found.paths.add(f"results/{row.id}/attempt-{row.attempt}.tar")
    return found


def status(conn: Connection, now: float, online_s: float) -> dict[str, Any]:
    """Jobs by phase, landing zones online, and the oldest result kept (when it was stored)."""
    phases: dict[str, int] = dict(conn.execute(select(jobs_t.c.phase, func.count()).group_by(jobs_t.c.phase)).all())
    online = conn.execute(select(func.count()).select_from(zones_t).where(
        zones_t.c.last_seen > now - online_s)).scalar_one()
    oldest = conn.execute(select(func.min(jobs_t.c.results_at)).where(jobs_t.c.results.is_not(None))).scalar()
    return {"jobs": {p: int(phases.get(p, 0)) for p in ("pending", "leased", "finished")},
            "zones_online": int(online), "zones": int(conn.execute(select(func.count()).select_from(zones_t))
                                                       .scalar_one()),
            "oldest_result_at": oldest}
