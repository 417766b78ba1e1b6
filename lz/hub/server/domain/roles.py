"""Roles as sets of permission flags (issue 26), and the one check every route and page goes
through: ``require(conn, who, station, flag)``.

A role is a name a Station gives its members. Four are built in, as in the original Galileo
(the owner is whoever created the Station: every flag, and a few rules of its own in
``members`` and ``quotas``); a Station may add custom roles with any set of flags. A hub admin
holds every flag in every Station. Being a member at all is what lets one *see* a Station (its
members, landing zones, volumes, templates, quota); the flags say what one may *do*.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, exists, insert, literal, or_, select, update

from lz.hub.server.domain.accounts import Principal
from lz.hub.server.errors import Conflict, Forbidden, Invalid, NotFound
from lz.hub.server.models import Station, StationInvitation, StationMember, StationRole

roles_t: Any = StationRole.__table__
invitations_t: Any = StationInvitation.__table__
stations_t: Any = Station.__table__
members_t: Any = StationMember.__table__

FLAGS: dict[str, str] = {
    "launch": "submit any job (and submit a job again)",
    "templates": "submit with one of the Station's templates",
    "add_zones": "add landing zones one owns to the Station",
    "remove_zones": "remove any landing zone from the Station (a zone's owner may always withdraw it)",
    "others_jobs": "see and control (cancel, stop, pause...) other members' jobs",
    "volumes": "add and remove the Station's volumes",
    "ports": "open a job's ports through the hub",
    "manage_templates": "add and remove the Station's templates",
    "manage_members": "invite and remove members, give roles, define custom roles, change settings",
}
EVERY = frozenset(FLAGS)
BUILT_IN: dict[str, frozenset[str]] = {
    "owner": EVERY,
    "admin": EVERY,
    "contributor": frozenset({"launch", "templates", "add_zones", "others_jobs", "ports"}),
    "launcher": frozenset({"templates"}),
}
DEFAULT = "contributor"  # what an invitation gives unless it says otherwise
OLD_NAMES = {"member": "contributor"}  # before hub0015 a member could do what a contributor does
CUSTOM = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")


def visible(conn: Connection, who: Principal, name: str) -> int:
    """The Station's id if ``who`` belongs to it (or is a hub admin); else NotFound."""
    row = conn.execute(select(stations_t.c.id).where(stations_t.c.name == name)).first()
    if row is None or not (who.admin or is_member(conn, row.id, who.user_id)):
        raise not_a_member(name)
    return int(row.id)


def not_a_member(station: str) -> NotFound:
    """One line for a Station that does not exist and one the caller is not in: no existence oracle."""
    return NotFound(f"no station {station!r} that you belong to")


def is_member(conn: Connection, station_id: int, user_id: int) -> bool:
    return conn.execute(select(members_t.c.user_id).where(
        members_t.c.station_id == station_id, members_t.c.user_id == user_id)).first() is not None


def role(conn: Connection, station_id: int, user_id: int) -> str | None:
    row = conn.execute(select(members_t.c.role).where(
        members_t.c.station_id == station_id, members_t.c.user_id == user_id)).first()
    return row.role if row else None


def flags_of(conn: Connection, who: Principal, station_id: int) -> frozenset[str]:
    """What ``who`` may do in the Station (nothing when not a member; everything for a hub admin)."""
    if who.admin:
        return EVERY
    mine = role(conn, station_id, who.user_id)
    return frozenset() if mine is None else role_flags(conn, station_id, mine)


def role_flags(conn: Connection, station_id: int, name: str) -> frozenset[str]:
    if name in BUILT_IN:
        return BUILT_IN[name]
    row = conn.execute(select(roles_t.c.flags).where(roles_t.c.station_id == station_id,
                                                     roles_t.c.name == name)).first()
    return frozenset(row.flags.split()) if row else frozenset()


def require(conn: Connection, who: Principal, station: str, flag: str) -> int:
    """The Station's id when ``who`` holds ``flag`` there; NotFound for a Station ``who`` does not
    belong to (no existence oracle), Forbidden (403, naming the flag) for a member without it.
    The Station and ``who``'s role in it are read in one statement (each submission asks)."""
    assert flag in FLAGS, flag
    row = conn.execute(_station_and_role(), {"user_id": who.user_id, "station": station}).first()
    if row is None or not (who.admin or row.role is not None):
        raise not_a_member(station)
    flags = EVERY if who.admin else role_flags(conn, row.id, row.role)
    if flag not in flags:
        raise Forbidden(f"your role in station {station!r} does not allow this ({flag}: {FLAGS[flag]})")
    return int(row.id)


@functools.cache
def _station_and_role() -> Any:
    """Built once, as the other statements of a job's path (``claims._insert_event``)."""
    return select(stations_t.c.id, members_t.c.role).select_from(stations_t.outerjoin(
        members_t, and_(members_t.c.station_id == stations_t.c.id, members_t.c.user_id == bindparam("user_id")))
    ).where(stations_t.c.name == bindparam("station"))


def stations_with(flag: str, user_id: Any) -> Any:
    """A subquery of the ids of the Stations where the user's role holds ``flag`` (job lists)."""
    built_in = [name for name, flags in BUILT_IN.items() if flag in flags]
    custom = exists().where(roles_t.c.station_id == members_t.c.station_id, roles_t.c.name == members_t.c.role,
                            (literal(" ") + roles_t.c.flags + literal(" ")).like(f"% {flag} %"))
    return select(members_t.c.station_id).where(members_t.c.user_id == user_id,
                                                or_(members_t.c.role.in_(built_in), custom))


def known(conn: Connection, station_id: int, name: str) -> str:
    """``name`` as a role one may give in the Station (an old name mapped), or Invalid."""
    name = OLD_NAMES.get(name, name)
    if name == "owner":
        raise Invalid("a Station has one owner, who created it; give another role")
    if name in BUILT_IN or conn.execute(select(roles_t.c.name).where(
            roles_t.c.station_id == station_id, roles_t.c.name == name)).first():
        return name
    raise Invalid(f"station has no role {name!r} (built in: {', '.join(r for r in BUILT_IN if r != 'owner')}; "
                  "custom ones: lz station role list)")


def listing(conn: Connection, who: Principal, station: str) -> list[dict[str, Any]]:
    """Every role of the Station, built in first, with its flags (any member may read)."""
    sid = visible(conn, who, station)
    out = [{"name": n, "flags": sorted(f), "built_in": True} for n, f in BUILT_IN.items()]
    rows = conn.execute(select(roles_t).where(roles_t.c.station_id == sid).order_by(roles_t.c.name)).all()
    return out + [{"name": r.name, "flags": sorted(r.flags.split()), "built_in": False} for r in rows]


def define(conn: Connection, who: Principal, station: str, name: str, flags: list[str], now: float) -> None:
    """Add or change a custom role (``manage_members``)."""
    sid = require(conn, who, station, "manage_members")
    if name in BUILT_IN or name in OLD_NAMES:
        raise Conflict(f"{name!r} is a built-in role and cannot be changed")
    if not CUSTOM.match(name):
        raise Invalid(f"role name {name!r}: a lowercase letter, then letters, digits, _ or - (at most 16)")
    unknown = sorted(set(flags) - EVERY)
    if unknown:
        raise Invalid(f"unknown flag {unknown[0]!r} (flags: {', '.join(FLAGS)})")
    text = " ".join(f for f in FLAGS if f in flags)
    where = (roles_t.c.station_id == sid, roles_t.c.name == name)
    if conn.execute(select(roles_t.c.name).where(*where)).first():
        conn.execute(update(roles_t).where(*where).values(flags=text))
    else:
        conn.execute(insert(roles_t).values(station_id=sid, name=name, flags=text, created_at=now))


def drop(conn: Connection, who: Principal, station: str, name: str) -> None:
    """Remove a custom role no member holds and no invitation offers (``manage_members``)."""
    sid = require(conn, who, station, "manage_members")
    if name in BUILT_IN:
        raise Conflict(f"{name!r} is a built-in role and cannot be removed")
    if not conn.execute(select(roles_t.c.name).where(roles_t.c.station_id == sid, roles_t.c.name == name)).first():
        raise NotFound(f"station {station!r} has no custom role {name!r}")
    for table, what in ((members_t, "members hold"), (invitations_t, "invitations offer")):
        if conn.execute(select(table.c.user_id).where(table.c.station_id == sid, table.c.role == name)).first():
            raise Conflict(f"{what} role {name!r}: give them another role first")
    conn.execute(delete(roles_t).where(roles_t.c.station_id == sid, roles_t.c.name == name))
