"""Who belongs to a Station and with which role; invitations to join (issue 12).

Roles: ``owner`` (who created it; one), ``admin`` and ``member``. Owners and admins invite and
remove members and add and remove landing zones (of their own: a landing zone's owner decides
which Stations it serves) and volumes; members submit and see the Station's jobs. A hub admin may
do everything. Every rule is checked here, on the hub, for every endpoint.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select

from lz.hub.server.domain.accounts import Principal, users_t
from lz.hub.server.domain.stations import is_member, members_t, role, stations_t, visible
from lz.hub.server.errors import Conflict, Forbidden, Invalid, NotFound
from lz.hub.server.models import StationInvitation

invitations_t: Any = StationInvitation.__table__
MANAGERS = ("owner", "admin")
ROLES = ("member", "admin")


def managed(conn: Connection, who: Principal, station: str, what: str) -> int:
    """The Station's id if ``who`` is its owner or an admin (or a hub admin); Forbidden for a
    member, NotFound for anyone else (a Station you do not belong to does not exist for you)."""
    sid = visible(conn, who, station)
    if not who.admin and role(conn, sid, who.user_id) not in MANAGERS:
        raise Forbidden(f"only the owner or an admin of station {station!r} {what}")
    return sid


def _user_id(conn: Connection, name: str) -> int:
    row = conn.execute(select(users_t.c.id).where(users_t.c.name == name)).first()
    if row is None:
        raise NotFound(f"no user {name!r} on this hub")
    return int(row.id)


def invite(conn: Connection, who: Principal, station: str, user: str, role_: str, now: float) -> dict[str, Any]:
    if role_ not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    sid = managed(conn, who, station, "invites members")
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
    """Owners remove anyone but themselves; admins remove members (not the owner, not other admins)."""
    sid = managed(conn, who, station, "removes members")
    uid = _user_id(conn, user)
    theirs = role(conn, sid, uid)
    if theirs is None:
        raise NotFound(f"{user} does not belong to station {station!r}")
    if theirs == "owner":
        raise Forbidden(f"{user} owns station {station!r} and cannot be removed")
    if theirs == "admin" and not who.admin and role(conn, sid, who.user_id) != "owner":
        raise Forbidden(f"only the owner of station {station!r} removes an admin")
    conn.execute(delete(members_t).where(members_t.c.station_id == sid, members_t.c.user_id == uid))


def leave(conn: Connection, who: Principal, station: str) -> None:
    sid = visible(conn, who, station)
    mine = role(conn, sid, who.user_id)
    if mine is None:
        raise NotFound(f"you do not belong to station {station!r}")
    if mine == "owner":
        raise Conflict(f"you own station {station!r}: its owner cannot leave it")
    conn.execute(delete(members_t).where(members_t.c.station_id == sid, members_t.c.user_id == who.user_id))
