"""Landing zones as users see them: those they own or share a Station with."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from lz.hub.protocol.schemas import (
    ZoneOut,
)
from lz.hub.server.deps import hub_of, user
from lz.hub.server.domain import zones
from lz.hub.server.domain.accounts import Principal

router = APIRouter()


@router.get("/zones", response_model=list[ZoneOut], tags=["landing zones"])
def list_zones(request: Request, who: Principal = Depends(user)) -> Any:
    hub = hub_of(request)
    return hub.read(zones.listing, who, hub.now(), hub.config.online_s)
