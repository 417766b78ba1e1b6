"""Endpoints for a Station's volumes (rules in ``lz.hub.volumes``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request

from lz.hub import volumes
from lz.hub.accounts import Principal
from lz.hub.schemas import NAME, VolumeIn, VolumeMapIn, VolumeOut
from lz.hub.server import hub_of, user

router = APIRouter(tags=["volumes"])
VOLUME = r"^[A-Za-z][A-Za-z0-9_]{0,31}$"


def _name() -> Any:
    return Path(pattern=NAME)


def _volume() -> Any:
    return Path(pattern=VOLUME)


@router.get("/stations/{station}/volumes", response_model=list[VolumeOut])
def list_volumes(request: Request, station: str = _name(), who: Principal = Depends(user)) -> Any:
    return hub_of(request).read(volumes.listing, who, station)


@router.put("/stations/{station}/volumes/{volume}", response_model=list[VolumeOut])
def add_volume(body: VolumeIn, request: Request, station: str = _name(), volume: str = _volume(),
               who: Principal = Depends(user)) -> Any:
    hub = hub_of(request)

    def _add(conn: Any) -> Any:
        volumes.add(conn, who, station, volume, body.mount, body.access, hub.now())
        return volumes.listing(conn, who, station)

    return hub.write(_add)


@router.delete("/stations/{station}/volumes/{volume}", response_model=list[VolumeOut])
def remove_volume(request: Request, station: str = _name(), volume: str = _volume(),
                  who: Principal = Depends(user)) -> Any:
    def _remove(conn: Any) -> Any:
        volumes.remove(conn, who, station, volume)
        return volumes.listing(conn, who, station)

    return hub_of(request).write(_remove)


@router.put("/stations/{station}/volumes/{volume}/zones/{lz}", response_model=list[VolumeOut])
def map_volume(body: VolumeMapIn, request: Request, station: str = _name(), volume: str = _volume(),
               lz: str = _name(), who: Principal = Depends(user)) -> Any:
    def _map(conn: Any) -> Any:
        volumes.map_to(conn, who, station, volume, lz, body.host_path)
        return volumes.listing(conn, who, station)

    return hub_of(request).write(_map)
