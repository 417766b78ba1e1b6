"""Who may open which port of which job (issue 26): the rule behind ``/jobs/ID/port/N/``.

The Station's members only (a hub admin too); a member needs the ``ports`` flag, and another
member's job also ``others_jobs`` and a hub whose ``[ports] shared`` is on (off by default). Someone else
learns nothing (404, as for any job one may not see); a member without the flag gets 403. The
job must declare the port (``ports = [N]`` in its ``lz.toml``) and be running on a landing zone
that holds its lease: so the hub never asks a landing zone to connect anywhere else."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from lz.hub.server.domain import roles
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.errors import Conflict, Forbidden, NotFound
from lz.hub.server.models import HubJob, PortTunnel

jobs_t: Any = HubJob.__table__
tunnels_t: Any = PortTunnel.__table__
STALE_S = 600.0
"""A wanted tunnel this old is one a killed hub process left (a user's wait is ``connect_s``)."""
RUNNING = "running"  # the landing zone's word for a job whose process runs (lz.core.machine.State)


@dataclass(frozen=True)
class Target:
    """A running job's declared port, on the landing zone ``lz_id`` that holds ``attempt``."""

    job_id: str
    attempt: int
    lz_id: int
    port: int


def target(conn: Connection, who: Principal, job_id: str, port: int, *, shared: bool = False) -> Target:
    """The port to open for ``who``. Another member's job takes ``others_jobs`` (else 404, as
    its page) and a hub that shares ports (``[ports] shared``; else 403): the job's pages are
    served on the hub's own origin, so their scripts run as whoever opens them."""
    row = conn.execute(select(jobs_t.c.id, jobs_t.c.station_id, jobs_t.c.spec, jobs_t.c.phase, jobs_t.c.state,
                              jobs_t.c.attempt, jobs_t.c.lease_owner, jobs_t.c.submitter_id)
                       .where(jobs_t.c.id == job_id)).first()
    if row is None or not (who.admin or roles.is_member(conn, row.station_id, who.user_id)):
        raise NotFound(f"no job {job_id!r} in your stations")
    flags = roles.flags_of(conn, who, row.station_id)
    if row.submitter_id != who.user_id:
        if "others_jobs" not in flags and not who.admin:
            raise NotFound(f"no job {job_id!r} in your stations")
        if not shared:
            raise Forbidden("this hub opens a job's ports to the user who submitted it only ([ports] shared)")
    if "ports" not in flags:
        raise Forbidden(f"your role in this job's station does not allow this (ports: {roles.FLAGS['ports']})")
    if port not in (json.loads(row.spec).get("ports") or ()):
        raise NotFound(f"job {job_id} declares no port {port} (ports = [{port}] in its lz.toml)")
    if row.phase != "leased" or row.state != RUNNING or row.lease_owner is None:
        raise Conflict(f"job {job_id} is not running ({row.state}): its ports are open only while it runs")
    return Target(job_id=row.id, attempt=int(row.attempt), lz_id=int(row.lease_owner), port=port)


def want(conn: Connection, tunnel_id: str, wanted: Target, now: float) -> None:
    """Record that a user waits for a tunnel to ``wanted`` (``hand_out`` gives it to the zone)."""
    conn.execute(insert(tunnels_t).values(id=tunnel_id, lz_id=wanted.lz_id, job_id=wanted.job_id,
                                          attempt=wanted.attempt, port=wanted.port, created_at=now))


def forget(conn: Connection, tunnel_id: str) -> None:
    conn.execute(delete(tunnels_t).where(tunnels_t.c.id == tunnel_id))


def waiting(conn: Connection, lz_ids: list[int]) -> list[str]:
    """The ids of the wanted tunnels of these landing zones not handed out yet (a read: what a
    hub process looks for while long polls wait; ``take`` writes only when there are some)."""
    if not lz_ids:
        return []
    return [r.id for r in conn.execute(select(tunnels_t.c.id).where(
        tunnels_t.c.lz_id.in_(lz_ids), tunnels_t.c.handed_at.is_(None)).order_by(tunnels_t.c.created_at))]


def take(conn: Connection, tunnel_ids: list[str], now: float) -> dict[int, list[dict[str, Any]]]:
    """Those still not handed out, marked handed to this process (a racing process's update finds
    them marked), by landing zone."""
    out: dict[int, list[dict[str, Any]]] = {}
    for tunnel_id in tunnel_ids:
        taken = conn.execute(update(tunnels_t).where(tunnels_t.c.id == tunnel_id, tunnels_t.c.handed_at.is_(None))
                             .values(handed_at=now))
        if taken.rowcount != 1:
            continue
        row = conn.execute(select(tunnels_t).where(tunnels_t.c.id == tunnel_id)).one()
        out.setdefault(row.lz_id, []).append({"id": row.id, "job_id": row.job_id, "attempt": row.attempt,
                                              "port": row.port})
    return out


def purge(conn: Connection, now: float) -> int:
    """Wanted tunnels a killed hub process left (housekeeping)."""
    return int(conn.execute(delete(tunnels_t).where(tunnels_t.c.created_at < now - STALE_S)).rowcount or 0)
