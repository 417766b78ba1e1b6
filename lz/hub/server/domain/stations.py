"""Stations, their members and their landing zones; who may see and change what.

Any user creates a Station and becomes its owner; members see it, and what each may do there
is the set of flags of their role (``lz.hub.server.domain.roles``, checked by ``roles.require``).
``lz.hub.server.domain.members`` has invitations and the other membership rules. One adds only
landing zones one owns (a landing zone's owner decides which Stations it serves), and a landing
zone's owner may always withdraw it. A hub admin may do everything."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from lz.hub.server.domain.accounts import Principal, new_id, users_t
from lz.hub.server.domain.roles import is_member, require, visible
from lz.hub.server.domain.roles import role as role  # re-exported: callers know it here
from lz.hub.server.domain.tokens import valid_name
from lz.hub.server.domain.zones import find, label
from lz.hub.server.errors import Conflict, Forbidden, Invalid, NotFound
from lz.hub.server.models import HubJob, LandingZone, Station, StationMember, StationZone

stations_t: Any = Station.__table__
members_t: Any = StationMember.__table__
zones_t: Any = LandingZone.__table__
links_t: Any = StationZone.__table__
jobs_t: Any = HubJob.__table__


def create(conn: Connection, who: Principal, name: str, now: float) -> int:
    if not valid_name(name):
        raise Invalid(f"station name {name!r} may hold only letters, digits, . _ - (at most 64)")
    if conn.execute(select(stations_t.c.id).where(stations_t.c.name == name)).first():
        raise Conflict(f"station {name!r} already exists")
    sid = new_id(conn.execute(insert(stations_t).values(name=name, created_by=who.user_id, created_at=now)))
    conn.execute(insert(members_t).values(station_id=sid, user_id=who.user_id, role="owner", added_at=now))
    return sid


def list_for(conn: Connection, who: Principal) -> list[dict[str, Any]]:
    query = select(stations_t.c.id, stations_t.c.name)
    if not who.admin:
        query = query.join(members_t, members_t.c.station_id == stations_t.c.id).where(
            members_t.c.user_id == who.user_id)
    return [describe(conn, r.id) for r in conn.execute(query.order_by(stations_t.c.name)).all()]


def describe(conn: Connection, station_id: int) -> dict[str, Any]:
    station = conn.execute(select(stations_t).where(stations_t.c.id == station_id)).one()
    members = conn.execute(select(users_t.c.name, members_t.c.role).join(
        members_t, members_t.c.user_id == users_t.c.id).where(members_t.c.station_id == station_id)
        .order_by(users_t.c.name)).all()
    zones = label([(r.owner, r.name) for r in conn.execute(
        select(users_t.c.name.label("owner"), zones_t.c.name).join(links_t, links_t.c.lz_id == zones_t.c.id)
        .join(users_t, users_t.c.id == zones_t.c.owner_id)
        .where(links_t.c.station_id == station_id).order_by(zones_t.c.name, users_t.c.name)).all()])
    counts: dict[str, int] = dict(conn.execute(select(jobs_t.c.phase, func.count()).where(jobs_t.c.station_id == station_id)
                               .group_by(jobs_t.c.phase)).all())
    return {"name": station.name, "created_at": station.created_at,
            "members": [{"user": m.name, "role": m.role} for m in members],
            "landing_zones": list(zones),
            "jobs": {"pending": counts.get("pending", 0), "leased": counts.get("leased", 0),
                     "finished": counts.get("finished", 0)},
            "max_attempts": station.max_attempts}


def set_max_attempts(conn: Connection, who: Principal, station: str, max_attempts: int) -> int:
    """How many failed attempts the Station's jobs may have from now on (jobs already submitted
    keep theirs); by a member whose role may manage it. Returns the Station's id."""
    sid = require(conn, who, station, "manage_members")
    if not 1 <= max_attempts <= 100:
        raise Invalid(f"max_attempts must be between 1 and 100, not {max_attempts}")
    conn.execute(update(stations_t).where(stations_t.c.id == sid).values(max_attempts=max_attempts))
    return sid


def add_member(conn: Connection, who: Principal, station: str, user: str, now: float) -> None:
    """Add a user at once, as a contributor (an invitation lets them say yes first)."""
    from lz.hub.server.domain.roles import DEFAULT

    sid = require(conn, who, station, "manage_members")
    row = conn.execute(select(users_t.c.id).where(users_t.c.name == user)).first()
    if row is None:
        raise NotFound(f"no user {user!r} on this hub")
    if not is_member(conn, sid, row.id):
        conn.execute(insert(members_t).values(station_id=sid, user_id=row.id, role=DEFAULT, added_at=now))


def _zone_you_own(conn: Connection, who: Principal, lz: str) -> int:
    row = find(conn, who, lz)
    if row.owner_id != who.user_id and not who.admin:
        raise Forbidden(f"landing zone {lz!r} belongs to another user; its owner decides which stations it serves")
    return int(row.id)


def add_zone(conn: Connection, who: Principal, station: str, lz: str, now: float) -> None:
    sid = visible(conn, who, station)
    zid = _zone_you_own(conn, who, lz)
    require(conn, who, station, "add_zones")
    if conn.execute(select(links_t.c.lz_id).where(links_t.c.station_id == sid, links_t.c.lz_id == zid)).first():
        return
    conn.execute(insert(links_t).values(station_id=sid, lz_id=zid, added_at=now))


def remove_zone(conn: Connection, who: Principal, station: str, lz: str) -> None:
    """By a member whose role may remove any landing zone, or by the landing zone's own owner
    (withdrawing it)."""
    sid = visible(conn, who, station)
    row = find(conn, who, lz, select(links_t.c.lz_id).where(links_t.c.station_id == sid))
    if row.owner_id != who.user_id:
        require(conn, who, station, "remove_zones")
    zid = int(row.id)
    conn.execute(delete(links_t).where(links_t.c.station_id == sid, links_t.c.lz_id == zid))
