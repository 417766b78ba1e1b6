"""A Station's volumes and where each is on its landing zones (issue 12).

Members whose role has ``volumes`` add and remove a Station's volumes (a name, a mount point, ro or rw); the host
path on a landing zone is set by the landing zone's owner (or a hub admin) only, and the zone binds
it only inside its own ``hub_volume_roots`` (``lz.core.volumes.hub_volume_refusal``). A
claimed job's spec carries the volumes mapped on the landing zone that claimed it; the landing
zone binds them (``lz.core.volumes``) and fails the job before it runs if a host path is missing."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from lz.core.errors import ConfigError
from lz.core.volumes import Volume, check
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.domain.roles import require
from lz.hub.server.domain.stations import links_t, visible, zones_t
from lz.hub.server.domain.zones import find
from lz.hub.server.errors import Forbidden, Invalid, NotFound
from lz.hub.server.models import StationVolume, VolumeMapping

volumes_t: Any = StationVolume.__table__
mappings_t: Any = VolumeMapping.__table__


def _checked(name: str, host_path: str, mount: str, access: str) -> Volume:
    try:
        return check(Volume(name, host_path, mount, access))
    except ConfigError as exc:
        raise Invalid(str(exc)) from None


def add(conn: Connection, who: Principal, station: str, name: str, mount: str, access: str, now: float) -> None:
    sid = require(conn, who, station, "volumes")
    _checked(name, "/host", mount, access)
    if conn.execute(select(volumes_t.c.name).where(volumes_t.c.station_id == sid, volumes_t.c.name == name)).first():
        conn.execute(update(volumes_t).where(volumes_t.c.station_id == sid, volumes_t.c.name == name)
                     .values(mount=mount, access=access))
    else:
        conn.execute(insert(volumes_t).values(station_id=sid, name=name, mount=mount, access=access, created_at=now))


def remove(conn: Connection, who: Principal, station: str, name: str) -> None:
    sid = require(conn, who, station, "volumes")
    _volume(conn, sid, station, name)
    conn.execute(delete(mappings_t).where(mappings_t.c.station_id == sid, mappings_t.c.name == name))
    conn.execute(delete(volumes_t).where(volumes_t.c.station_id == sid, volumes_t.c.name == name))


def _volume(conn: Connection, sid: int, station: str, name: str) -> Any:
    row = conn.execute(select(volumes_t).where(volumes_t.c.station_id == sid, volumes_t.c.name == name)).first()
    if row is None:
        raise NotFound(f"station {station!r} has no volume {name!r}")
    return row


def map_to(conn: Connection, who: Principal, station: str, name: str, lz: str, host_path: str) -> None:
    """By the landing zone's owner (or a hub admin) alone: a Station's owners and admins declare
    volumes, but only whoever owns a machine says which of its paths is bound into jobs (the zone
    checks again against its own ``hub_volume_roots``). The landing zone must serve the Station."""
    sid = visible(conn, who, station)
    volume = _volume(conn, sid, station, name)
    try:
        zone = find(conn, who, lz, select(links_t.c.lz_id).where(links_t.c.station_id == sid))
    except NotFound:
        zone = None
    if zone is None or not conn.execute(select(links_t.c.lz_id).where(
            links_t.c.station_id == sid, links_t.c.lz_id == zone.id)).first():
        raise NotFound(f"landing zone {lz!r} does not serve station {station!r}")
    if not (who.admin or zone.owner_id == who.user_id):  # a Station admin must not choose what another's zone binds
        raise Forbidden(f"only the owner of {lz!r} (or a hub admin) says where a volume is on it")
    _checked(name, host_path, volume.mount, volume.access)
    conn.execute(delete(mappings_t).where(mappings_t.c.station_id == sid, mappings_t.c.name == name,
                                          mappings_t.c.lz_id == zone.id))
    conn.execute(insert(mappings_t).values(station_id=sid, name=name, lz_id=zone.id, host_path=host_path))


def listing(conn: Connection, who: Principal, station: str) -> list[dict[str, Any]]:
    sid = visible(conn, who, station)
    rows = conn.execute(select(volumes_t).where(volumes_t.c.station_id == sid).order_by(volumes_t.c.name)).all()
    maps = conn.execute(select(mappings_t.c.name, zones_t.c.name.label("lz"), mappings_t.c.host_path)
                        .join(zones_t, zones_t.c.id == mappings_t.c.lz_id)
                        .where(mappings_t.c.station_id == sid)).all()
    return [{"name": r.name, "mount": r.mount, "access": r.access,
             "landing_zones": {m.lz: m.host_path for m in maps if m.name == r.name}} for r in rows]


def for_claim(conn: Connection, station_id: int, lz_id: int) -> list[dict[str, Any]]:
    """The Station's volumes as ``lz.core.volumes.Volume`` dicts, with their host path on this landing
    zone; one not mapped there has an empty host path, and the landing zone fails the job with
    that reason before it runs (as the original product did)."""
    rows = conn.execute(_for_claim(), {"station_id": station_id, "lz_id": lz_id}).all()
    return [Volume(r.name, r.host_path or "", r.mount, r.access).to_dict() for r in rows]


@functools.cache
def _for_claim() -> Any:
    """Built once: each claim reads it (``claims._insert_event``)."""
    mapped = (mappings_t.c.station_id == volumes_t.c.station_id) & (mappings_t.c.name == volumes_t.c.name) \
        & (mappings_t.c.lz_id == bindparam("lz_id"))
    return (select(volumes_t.c.name, volumes_t.c.mount, volumes_t.c.access, mappings_t.c.host_path)
            .select_from(volumes_t.outerjoin(mappings_t, mapped)).where(volumes_t.c.station_id == bindparam("station_id")))
