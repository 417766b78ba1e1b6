"""Who belongs to a Station and with which role; invitations to join (issue 12).

Roles are sets of permission flags (``lz.hub.server.domain.roles``): inviting, removing and
giving roles takes ``manage_members``. The owner (who created the Station; one) cannot be removed
nor given another role; only the owner (or a hub admin) removes an admin, or changes an admin's
role. A hub admin may do everything. Every rule is checked here, on the hub, for every endpoint.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from lz.hub.server.domain.accounts import Principal, users_t
from lz.hub.server.domain.roles import known, require
from lz.hub.server.domain.stations import is_member, members_t, role, stations_t, visible
from lz.hub.server.errors import Conflict, Forbidden, NotFound
from lz.hub.server.models import StationInvitation

invitations_t: Any = StationInvitation.__table__


def _user_id(conn: Connection, name: str) -> int:
    row = conn.execute(select(users_t.c.id).where(users_t.c.name == name)).first()
    if row is None:
        raise NotFound(f"no user {name!r} on this hub")
    return int(row.id)


def invite(conn: Connection, who: Principal, station: str, user: str, role_: str, now: float) -> dict[str, Any]:
    sid = require(conn, who, station, "manage_members")
    role_ = known(conn, sid, role_)
    uid = _user_id(conn, user)
    if is_member(conn, sid, uid):
        raise Conflict(f"{user} already belongs to station {station!r}")
    conn.execute(delete(invitations_t).where(invitations_t.c.station_id == sid, invitations_t.c.user_id == uid))
    conn.execute(insert(invitations_t).values(station_id=sid, user_id=uid, role=role_, invited_by=who.user_id,
                                              created_at=now))
    return {"station": station, "user": user, "role": role_, "invited_by": who.name, "created_at": now}


def pending(conn: Connection, who: Principal) -> list[dict[str, Any]]:
    """The invitations waiting for ``who``."""
    inviter = users_t.alias("inviter")
    rows = conn.execute(
        select(stations_t.c.name, invitations_t.c.role, inviter.c.name.label("by"), invitations_t.c.created_at)
        .join(stations_t, stations_t.c.id == invitations_t.c.station_id)
        .join(inviter, inviter.c.id == invitations_t.c.invited_by)
        .where(invitations_t.c.user_id == who.user_id).order_by(stations_t.c.name)).all()
    return [{"station": r.name, "user": who.name, "role": r.role, "invited_by": r.by, "created_at": r.created_at}
            for r in rows]


def _invitation(conn: Connection, who: Principal, station: str) -> Any:
    row = conn.execute(
        select(invitations_t).join(stations_t, stations_t.c.id == invitations_t.c.station_id)
        .where(stations_t.c.name == station, invitations_t.c.user_id == who.user_id)).first()
    if row is None:
        raise NotFound(f"no invitation to station {station!r} for you")
    return row


def accept(conn: Connection, who: Principal, station: str, now: float) -> None:
    row = _invitation(conn, who, station)
    conn.execute(delete(invitations_t).where(invitations_t.c.station_id == row.station_id,
                                             invitations_t.c.user_id == who.user_id))
    if not is_member(conn, row.station_id, who.user_id):
        conn.execute(insert(members_t).values(station_id=row.station_id, user_id=who.user_id, role=row.role,
                                              added_at=now))


def decline(conn: Connection, who: Principal, station: str) -> None:
    row = _invitation(conn, who, station)
    conn.execute(delete(invitations_t).where(invitations_t.c.station_id == row.station_id,
                                             invitations_t.c.user_id == who.user_id))


def listing(conn: Connection, who: Principal, station: str) -> list[dict[str, Any]]:
    sid = visible(conn, who, station)
    rows = conn.execute(select(users_t.c.name, members_t.c.role).join(members_t, members_t.c.user_id == users_t.c.id)
                        .where(members_t.c.station_id == sid).order_by(users_t.c.name)).all()
    return [{"user": r.name, "role": r.role} for r in rows]


def remove(conn: Connection, who: Principal, station: str, user: str) -> None:
    """Owners remove anyone but themselves; others with ``manage_members`` remove anyone but the
    owner and admins."""
    sid, uid = _changeable(conn, who, station, user, "removed")
    conn.execute(delete(members_t).where(members_t.c.station_id == sid, members_t.c.user_id == uid))


def set_role(conn: Connection, who: Principal, station: str, user: str, role_: str) -> None:
    """Give a member another role (``manage_members``; an admin's, or making one, by the owner)."""
    sid, uid = _changeable(conn, who, station, user, "given another role")
    role_ = known(conn, sid, role_)
    if role_ == "admin" and not who.admin and role(conn, sid, who.user_id) != "owner":
        raise Forbidden(f"only the owner of station {station!r} makes an admin")
    conn.execute(update(members_t).where(members_t.c.station_id == sid, members_t.c.user_id == uid)
                 .values(role=role_))


def _changeable(conn: Connection, who: Principal, station: str, user: str, what: str) -> tuple[int, int]:
    sid = require(conn, who, station, "manage_members")
    uid = _user_id(conn, user)
    theirs = role(conn, sid, uid)
    if theirs is None:
        raise NotFound(f"{user} does not belong to station {station!r}")
    if theirs == "owner":
        raise Forbidden(f"{user} owns station {station!r} and cannot be {what}")
    if theirs == "admin" and not who.admin and role(conn, sid, who.user_id) != "owner":
        raise Forbidden(f"only the owner of station {station!r} changes an admin")
    return sid, uid


def leave(conn: Connection, who: Principal, station: str) -> None:
    sid = visible(conn, who, station)
    mine = role(conn, sid, who.user_id)
    if mine is None:
        raise NotFound(f"you do not belong to station {station!r}")
    if mine == "owner":
        raise Conflict(f"you own station {station!r}: its owner cannot leave it")
    conn.execute(delete(members_t).where(members_t.c.station_id == sid, members_t.c.user_id == who.user_id))
