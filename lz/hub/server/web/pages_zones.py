"""The Landing Zones tab: every landing zone the viewer owns or shares a Station with, refreshed
in place every few seconds (a polled fragment, so nothing reloads)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from lz import __version__
from lz.hub.protocol.versions import below
from lz.hub.server.deps import hub_of
from lz.hub.server.domain import zones
from lz.hub.server.web import session
from lz.hub.server.web.render import page
from lz.hub.server.web.session import Viewer

router = APIRouter(include_in_schema=False)


def _entries(request: Request, viewer: Viewer) -> dict[str, Any]:
    hub = hub_of(request)
    now = hub.now()
    listing = hub.read(zones.listing, viewer.who, now, hub.config.online_s)
    minimum = hub.config.min_version or __version__
    for zone in listing:
        zone["outdated"] = bool(zone["version"]) and below(zone["version"], minimum)
    grouped = zones.grouped(listing)
    return {"zones": grouped, "now": now, "min_version": minimum, "online": sum(z["online"] for z in listing),
            "count": len(listing)}


@router.get("/zones")
def zones_page(request: Request, viewer: Viewer = Depends(session.viewer)) -> Response:
    return page(request, "zones.html", viewer=viewer, **_entries(request, viewer))


@router.get("/zones/table")
def zones_table(request: Request, viewer: Viewer = Depends(session.viewer)) -> Response:
    return page(request, "_zones_table.html", viewer=viewer, **_entries(request, viewer))
