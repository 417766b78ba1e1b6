"""Stations: create and show them, their members and invitations, their landing zones and volumes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from lz.hub.protocol.schemas import (
    InvitationIn,
    InvitationOut,
    MemberIn,
    MemberOut,
    QuotaIn,
    QuotaOut,
    StationIn,
    StationOut,
    StationSettingsIn,
    VolumeIn,
    VolumeMapIn,
    VolumeOut,
)
from lz.hub.server.api import params
from lz.hub.server.deps import hub_of, user
from lz.hub.server.domain import members, quotas, stations, volumes
from lz.hub.server.domain.accounts import Principal

router = APIRouter()


@router.get("/stations", response_model=list[StationOut], tags=["stations"])
def list_stations(request: Request, who: Principal = Depends(user)) -> Any:
    return hub_of(request).read(stations.list_for, who)


@router.post("/stations", response_model=StationOut, status_code=201, tags=["stations"])
def create_station(body: StationIn, request: Request, who: Principal = Depends(user)) -> Any:
    hub = hub_of(request)

    def _create(conn: Any) -> Any:
        return stations.describe(conn, stations.create(conn, who, body.name, hub.now()))

    return hub.write(_create)


@router.get("/stations/{station}", response_model=StationOut, tags=["stations"])
def show_station(request: Request, station: str = params.name(), who: Principal = Depends(user)) -> Any:
    return hub_of(request).read(lambda c: stations.describe(c, stations.visible(c, who, station)))


@router.put("/stations/{station}", response_model=StationOut, tags=["stations"])
def change_station(body: StationSettingsIn, request: Request, station: str = params.name(),
                   who: Principal = Depends(user)) -> Any:
    """Change a Station's settings (its owner or an admin): ``max_attempts``."""
    return hub_of(request).write(lambda c: stations.describe(
        c, stations.set_max_attempts(c, who, station, body.max_attempts)))


@router.get("/stations/{station}/quota", response_model=QuotaOut, tags=["stations"])
def show_quota(request: Request, station: str = params.name(), who: Principal = Depends(user)) -> Any:
    """The Station's quota (its own or the hub's default) and its use now; any member may read it."""
    hub = hub_of(request)
    return hub.read(quotas.describe, who, station, quotas.Defaults.of(hub.config))


@router.put("/stations/{station}/quota", response_model=QuotaOut, tags=["stations"])
def set_quota(body: QuotaIn, request: Request, station: str = params.name(), who: Principal = Depends(user)) -> Any:
    """Set the Station's own quota: fields left out stay, ``null`` is the hub's default. Its
    owner may set values up to the hub's defaults; a hub admin any value."""
    hub = hub_of(request)
    return hub.write(quotas.set_quota, who, station, body.model_dump(exclude_unset=True),
                     quotas.Defaults.of(hub.config))


@router.post("/stations/{station}/members", response_model=StationOut, tags=["stations"])
def add_member(body: MemberIn, request: Request, station: str = params.name(), who: Principal = Depends(user)) -> Any:
    hub = hub_of(request)

    def _add(conn: Any) -> Any:
        stations.add_member(conn, who, station, body.user, hub.now())
        return stations.describe(conn, stations.visible(conn, who, station))

    return hub.write(_add)


@router.put("/stations/{station}/zones/{lz:path}", response_model=StationOut, tags=["stations"])
def add_zone(request: Request, station: str = params.name(), lz: str = params.zone_ref(), who: Principal = Depends(user)) -> Any:
    hub = hub_of(request)

    def _add(conn: Any) -> Any:
        stations.add_zone(conn, who, station, lz, hub.now())
        return stations.describe(conn, stations.visible(conn, who, station))

    return hub.write_waking(_add)  # its pending jobs may now go to that landing zone: waiting claims woken


@router.delete("/stations/{station}/zones/{lz:path}", response_model=StationOut, tags=["stations"])
def remove_zone(request: Request, station: str = params.name(), lz: str = params.zone_ref(), who: Principal = Depends(user)) -> Any:
    def _remove(conn: Any) -> Any:
        stations.remove_zone(conn, who, station, lz)
        return stations.describe(conn, stations.visible(conn, who, station))

    return hub_of(request).write(_remove)


@router.post("/stations/{station}/invitations", response_model=InvitationOut, status_code=201, tags=["members"])
def invite(body: InvitationIn, request: Request, station: str = params.name(), who: Principal = Depends(user)) -> Any:
    hub = hub_of(request)
    return hub.write(members.invite, who, station, body.user, body.role, hub.now())


@router.get("/invitations", response_model=list[InvitationOut], tags=["members"])
def invitations(request: Request, who: Principal = Depends(user)) -> Any:
    return hub_of(request).read(members.pending, who)


@router.post("/invitations/{station}/accept", response_model=list[MemberOut], tags=["members"])
def accept(request: Request, station: str = params.name(), who: Principal = Depends(user)) -> Any:
    """Join the Station with the invitation's role; answers its members."""
    hub = hub_of(request)

    def _accept(conn: Any) -> Any:
        members.accept(conn, who, station, hub.now())
        return members.listing(conn, who, station)

    return hub.write(_accept)


@router.post("/invitations/{station}/decline", response_model=list[InvitationOut], tags=["members"])
def decline(request: Request, station: str = params.name(), who: Principal = Depends(user)) -> Any:
    """Answers the invitations still waiting for you."""
    def _decline(conn: Any) -> Any:
        members.decline(conn, who, station)
        return members.pending(conn, who)

    return hub_of(request).write(_decline)


@router.get("/stations/{station}/members", response_model=list[MemberOut], tags=["members"])
def list_members(request: Request, station: str = params.name(), who: Principal = Depends(user)) -> Any:
    return hub_of(request).read(members.listing, who, station)


@router.delete("/stations/{station}/members/{member}", response_model=list[MemberOut], tags=["members"])
def remove_member(request: Request, station: str = params.name(), member: str = params.name(),
                  who: Principal = Depends(user)) -> Any:
    """Answers the members left."""
    def _remove(conn: Any) -> Any:
        members.remove(conn, who, station, member)
        return members.listing(conn, who, station)

    return hub_of(request).write(_remove)


@router.post("/stations/{station}/leave", response_model=list[InvitationOut], tags=["members"])
def leave(request: Request, station: str = params.name(), who: Principal = Depends(user)) -> Any:
    """Answers the invitations waiting for you (the Station is gone from your view)."""
    def _leave(conn: Any) -> Any:
        members.leave(conn, who, station)
        return members.pending(conn, who)

    return hub_of(request).write(_leave)


@router.get("/stations/{station}/volumes", tags=["volumes"], response_model=list[VolumeOut])
def list_volumes(request: Request, station: str = params.name(), who: Principal = Depends(user)) -> Any:
    return hub_of(request).read(volumes.listing, who, station)


@router.put("/stations/{station}/volumes/{volume}", tags=["volumes"], response_model=list[VolumeOut])
def add_volume(body: VolumeIn, request: Request, station: str = params.name(), volume: str = params.volume(),
               who: Principal = Depends(user)) -> Any:
    hub = hub_of(request)

    def _add(conn: Any) -> Any:
        volumes.add(conn, who, station, volume, body.mount, body.access, hub.now())
        return volumes.listing(conn, who, station)

    return hub.write(_add)


@router.delete("/stations/{station}/volumes/{volume}", tags=["volumes"], response_model=list[VolumeOut])
def remove_volume(request: Request, station: str = params.name(), volume: str = params.volume(),
                  who: Principal = Depends(user)) -> Any:
    def _remove(conn: Any) -> Any:
        volumes.remove(conn, who, station, volume)
        return volumes.listing(conn, who, station)

    return hub_of(request).write(_remove)


@router.put("/stations/{station}/volumes/{volume}/zones/{lz:path}", tags=["volumes"], response_model=list[VolumeOut])
def map_volume(body: VolumeMapIn, request: Request, station: str = params.name(), volume: str = params.volume(),
               lz: str = params.zone_ref(), who: Principal = Depends(user)) -> Any:
    def _map(conn: Any) -> Any:
        volumes.map_to(conn, who, station, volume, lz, body.host_path)
        return volumes.listing(conn, who, station)

    return hub_of(request).write(_map)
