"""Landing zones as the hub knows them: registered by their owner's token, described by their
heartbeats, online while they keep coming back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from lz.hub.accounts import Principal, new_id, users_t
from lz.hub.errors import Forbidden, Invalid, NotFound
from lz.hub.models import LandingZone, Station, StationMember, StationZone
from lz.hub.tokens import valid_name

zones_t: Any = LandingZone.__table__
links_t: Any = StationZone.__table__
members_t: Any = StationMember.__table__
stations_t: Any = Station.__table__

DESCRIBED = ("version", "executor", "runtime", "cpus", "gpus", "memory_mb", "os", "arch", "max_running")
LOAD = ("running", "queue_length")


def register(conn: Connection, who: Principal, name: str, facts: dict[str, Any], now: float) -> int:
    """Create or refresh the landing zone ``name``; a name belongs to the user who first used it."""
    if not valid_name(name):
        raise Invalid(f"landing zone name {name!r} may hold only letters, digits, . _ - (at most 64)")
    values = {k: facts[k] for k in DESCRIBED + LOAD if facts.get(k) is not None}
    row = conn.execute(select(zones_t.c.id, zones_t.c.owner_id).where(zones_t.c.name == name)).first()
    if row is None:
        defaults = {"running": 0, "queue_length": 0, "max_running": 1}
        return new_id(conn.execute(insert(zones_t).values(name=name, owner_id=who.user_id, registered_at=now,
                                                          last_seen=now, **{**defaults, **values})))
    if row.owner_id != who.user_id:
        raise Forbidden(f"landing zone name {name!r} is taken by another user")
    conn.execute(update(zones_t).where(zones_t.c.id == row.id).values(last_seen=now, offline_at=None, **values))
    return int(row.id)


def owned(conn: Connection, who: Principal, name: str) -> int:
    """The id of ``who``'s landing zone ``name`` (what claim, heartbeat and reports act as)."""
    row = conn.execute(select(zones_t.c.id, zones_t.c.owner_id).where(zones_t.c.name == name)).first()
    if row is None:
        raise NotFound(f"no landing zone {name!r}: register it first")
    if row.owner_id != who.user_id:
        raise Forbidden(f"landing zone {name!r} belongs to another user")
    return int(row.id)


def seen(conn: Connection, lz_id: int, now: float, **load: Any) -> None:
    values = {k: v for k, v in load.items() if k in LOAD and v is not None}
    conn.execute(update(zones_t).where(zones_t.c.id == lz_id).values(last_seen=now, offline_at=None, **values))


def offline(conn: Connection, lz_id: int, now: float) -> None:
    """A draining landing zone says goodbye: offline at once, not after ``online_s``."""
    conn.execute(update(zones_t).where(zones_t.c.id == lz_id).values(offline_at=now))


def listing(conn: Connection, who: Principal, now: float, online_s: float) -> list[dict[str, Any]]:
    """Landing zones ``who`` may see: their own, and those of Stations they belong to."""
    query = select(zones_t, users_t.c.name.label("owner")).join(users_t, users_t.c.id == zones_t.c.owner_id)
    if not who.admin:
        shared = select(links_t.c.lz_id).join(members_t, members_t.c.station_id == links_t.c.station_id).where(
            members_t.c.user_id == who.user_id)
        query = query.where(or_(zones_t.c.owner_id == who.user_id, zones_t.c.id.in_(shared)))
    rows = conn.execute(query.order_by(zones_t.c.name)).all()
    stations: dict[int, list[str]] = {}
    for lz_id, station in conn.execute(select(links_t.c.lz_id, stations_t.c.name).join(
            stations_t, stations_t.c.id == links_t.c.station_id).order_by(stations_t.c.name)).all():
        stations.setdefault(lz_id, []).append(station)
    return [{
        "name": r.name, "owner": r.owner,
        "online": r.last_seen is not None and now - r.last_seen < online_s and r.offline_at is None,
        "last_seen": r.last_seen, "version": r.version, "executor": r.executor, "runtime": r.runtime,
        "cpus": r.cpus, "gpus": r.gpus, "memory_mb": r.memory_mb, "os": r.os, "arch": r.arch,
        "running": r.running, "max_running": r.max_running, "queue_length": r.queue_length,
        "stations": stations.get(r.id, []),
    } for r in rows]
