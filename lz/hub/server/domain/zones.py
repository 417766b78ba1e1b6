"""Landing zones as the hub knows them: registered by their owner's token, described by their
heartbeats, online while they keep coming back."""

from __future__ import annotations

import functools
import os
from typing import Any

from sqlalchemy import Connection, bindparam, insert, or_, select, update

from lz.hub.protocol.names import PILOT_FACTS
from lz.hub.server.domain.accounts import Principal, new_id, users_t
from lz.hub.server.domain.tokens import valid_name
from lz.hub.server.errors import Conflict, Invalid, NotFound
from lz.hub.server.models import LandingZone, Station, StationMember, StationZone

zones_t: Any = LandingZone.__table__
links_t: Any = StationZone.__table__
members_t: Any = StationMember.__table__
stations_t: Any = Station.__table__

PILOT = PILOT_FACTS
DESCRIBED = ("version", "executor", "runtime", "cpus", "gpus", "memory_mb", "os", "arch", "max_running", *PILOT)
LOAD = ("running", "queue_length")


def register(conn: Connection, who: Principal, name: str, facts: dict[str, Any], now: float) -> int:
    """Create or refresh ``who``'s landing zone ``name``. Names are unique per owner: another user's
    zone of the same name is another zone (nobody can take a name away from somebody else)."""
    if not valid_name(name):
        raise Invalid(f"landing zone name {name!r} may hold only letters, digits, . _ - (at most 64)")
    values = {k: facts[k] for k in DESCRIBED + LOAD if facts.get(k) is not None}
    values.update({k: facts.get(k) for k in PILOT})  # a name run outside SLURM after a pilot: no stale group
    row = conn.execute(select(zones_t.c.id).where(zones_t.c.owner_id == who.user_id, zones_t.c.name == name)).first()
    if row is None:
        defaults = {"running": 0, "queue_length": 0, "max_running": 1}
        return new_id(conn.execute(insert(zones_t).values(name=name, owner_id=who.user_id, registered_at=now,
                                                          last_seen=now, **{**defaults, **values})))
    conn.execute(update(zones_t).where(zones_t.c.id == row.id).values(last_seen=now, offline_at=None, **values))
    return int(row.id)


def owned(conn: Connection, who: Principal, name: str) -> int:
    """The id of ``who``'s landing zone ``name`` (what claim, heartbeat and reports act as)."""
    row = conn.execute(select(zones_t.c.id).where(zones_t.c.owner_id == who.user_id, zones_t.c.name == name)).first()
    if row is None:
        raise NotFound(f"no landing zone {name!r} of yours: register it first")
    return int(row.id)


def find(conn: Connection, who: Principal, ref: str, among: Any = None) -> Any:
    """The landing zone a user means by ``ref`` (its id and owner_id): ``OWNER/NAME`` exactly;
    a bare ``NAME`` is the caller's own zone of that name, else the only zone of that name (among
    the ids of the ``among`` query: a Station's zones), else 404; two others of that name: 409,
    say which with ``OWNER/NAME``. Whether the caller may act on it is the caller's rule."""
    if "/" in ref:
        owner, name = ref.split("/", 1)
        row = conn.execute(select(zones_t.c.id, zones_t.c.owner_id).join(users_t, users_t.c.id == zones_t.c.owner_id)
                           .where(users_t.c.name == owner, zones_t.c.name == name)).first()
        if row is None:
            raise NotFound(f"no landing zone {ref!r} (it appears once it has connected)")
        return row
    mine = conn.execute(select(zones_t.c.id, zones_t.c.owner_id)
                        .where(zones_t.c.owner_id == who.user_id, zones_t.c.name == ref)).first()
    if mine is not None:
        return mine
    query = select(zones_t.c.id, zones_t.c.owner_id).where(zones_t.c.name == ref)
    rows = conn.execute(query if among is None else query.where(zones_t.c.id.in_(among))).all()
    if not rows:
        raise NotFound(f"no landing zone {ref!r} (it appears once it has connected)")
    if len(rows) > 1:
        raise Conflict(f"{len(rows)} landing zones are called {ref!r}: say whose, as OWNER/{ref}")
    return rows[0]


def label(names: list[tuple[str, str]]) -> list[str]:
    """(owner, name) pairs as a list shows them: the name alone, ``OWNER/NAME`` where it is shared."""
    count: dict[str, int] = {}
    for _owner, name in names:
        count[name] = count.get(name, 0) + 1
    return [name if count[name] == 1 else f"{owner}/{name}" for owner, name in names]


def seen(conn: Connection, lz_id: int, now: float, **load: Any) -> None:
    values = {k: v for k, v in load.items() if k in LOAD and v is not None}
    conn.execute(update(zones_t).where(zones_t.c.id == lz_id).values(last_seen=now, offline_at=None, **values))


def seen_due(conn: Connection, lz_id: int, now: float, every_s: float, **load: Any) -> bool:
    """Whether ``seen`` has anything to write: the zone was offline, its load changed, or its
    ``last_seen`` is ``every_s`` old (or ahead of a clock stepped back). A thousand idle zones
    heartbeat 100 times a second; one write transaction each (a commit and an fsync, serialised
    on SQLite) was what made a claim wait 583 ms at p99 among them."""
    return seen_row(conn, lz_id, now, every_s, **load)[0]


def seen_row(conn: Connection, lz_id: int, now: float, every_s: float,
             **load: Any) -> tuple[bool, float | None, dict[str, Any]]:
    """``seen_due``, with what the row says when online (its ``last_seen`` and load, for
    ``SeenBook.know``; ``None`` when offline or never seen)."""
    row = conn.execute(_seen_row(), {"lz_id": lz_id}).one()
    online = row.last_seen if row.offline_at is None else None
    stored = {k: getattr(row, k) for k in LOAD}
    if online is None or not 0 <= now - online < every_s:
        return True, online, stored
    return any(v is not None and stored[k] != v for k, v in load.items() if k in LOAD), online, stored


@functools.cache
def _seen_row() -> Any:
    return select(zones_t.c.last_seen, zones_t.c.offline_at, *(zones_t.c[k] for k in LOAD)).where(
        zones_t.c.id == bindparam("lz_id"))


def seen_many(conn: Connection, visits: dict[int, float]) -> None:
    """``last_seen`` of many zones in one statement (``SeenBook``); a zone that said goodbye
    (``offline``) stays offline: only its next visit on the direct path brings it back."""
    if visits:
        conn.execute(update(zones_t).where(zones_t.c.id == bindparam("lz"), zones_t.c.offline_at.is_(None))
                     .values(last_seen=bindparam("at")), [{"lz": k, "at": v} for k, v in sorted(visits.items())])


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
    # the Stations each zone serves, as far as ``who`` may know them: all of them for a zone of
    # theirs, otherwise only Stations they belong to (another Station's name is not theirs to see)
    mine = set(conn.execute(select(members_t.c.station_id).where(members_t.c.user_id == who.user_id)).scalars())
    owned = {r.id for r in rows if r.owner_id == who.user_id}
    stations: dict[int, list[str]] = {}
    for lz_id, station_id, station in conn.execute(select(links_t.c.lz_id, stations_t.c.id, stations_t.c.name).join(
            stations_t, stations_t.c.id == links_t.c.station_id).order_by(stations_t.c.name)).all():
        if who.admin or lz_id in owned or station_id in mine:
            stations.setdefault(lz_id, []).append(station)
    return [{
        "name": r.name, "owner": r.owner,
        "online": r.last_seen is not None and now - r.last_seen < online_s and r.offline_at is None,
        "last_seen": r.last_seen, "version": r.version, "executor": r.executor, "runtime": r.runtime,
        "cpus": r.cpus, "gpus": r.gpus, "memory_mb": r.memory_mb, "os": r.os, "arch": r.arch,
        "running": r.running, "max_running": r.max_running, "queue_length": r.queue_length,
        "stations": stations.get(r.id, []), "pilot_group": r.pilot_group, "ends_at": r.ends_at,
        "time_left_s": None if r.ends_at is None else max(0.0, r.ends_at - now),
    } for r in rows]


_SUMMED = ("running", "max_running", "queue_length", "cpus", "gpus", "memory_mb")


def grouped(listing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``listing`` for a page: a landing zone outside SLURM stays one entry (``group`` None); the
    pilots of one SLURM job (array) of one owner become one entry, ``pilots`` holding them, with
    ``online`` the count online, their resources and load summed, and the most time any has left.
    Sorted by name; a group's name is what its pilots' names share (``pilot-{index}``: pilot)."""
    entries: list[dict[str, Any]] = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for zone in listing:
        if zone.get("pilot_group") is None:
            entries.append({**zone, "group": None})
        else:
            groups.setdefault((zone["owner"], zone["pilot_group"]), []).append(zone)
    for (owner, group), pilots in groups.items():
        pilots = sorted(pilots, key=lambda z: z["name"])
        left = [z["time_left_s"] for z in pilots if z.get("time_left_s") is not None]
        ends = [z["ends_at"] for z in pilots if z.get("ends_at") is not None]
        entries.append({
            "group": group, "name": _shared_name(pilots), "owner": owner, "pilots": pilots, "size": len(pilots),
            "online": sum(1 for z in pilots if z["online"]), "time_left_s": max(left) if left else None,
            "ends_at": max(ends) if ends else None,
            **{k: sum(z.get(k) or 0 for z in pilots) for k in _SUMMED},
            "stations": sorted({s for z in pilots for s in z.get("stations", [])}),
        })
    return sorted(entries, key=lambda e: (e["name"], e["owner"], e["group"] or ""))


def _shared_name(pilots: list[dict[str, Any]]) -> str:
    """The start the pilots' names share, without a part of their index (pilot-1, pilot-10:
    pilot) or a trailing separator; the first name when they share none (or there is one)."""
    names = [str(z["name"]) for z in pilots]
    if len(names) == 1:
        return names[0]
    prefix = os.path.commonprefix(names)
    if any(name[len(prefix):][:1].isdigit() for name in names):
        prefix = prefix.rstrip("0123456789")
    return prefix.rstrip("._-") or names[0]
