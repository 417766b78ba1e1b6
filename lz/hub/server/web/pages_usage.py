"""The Usage page (issue 26): CPU-, memory- and GPU-hours and credits per day with a chart, and
the same per Station, user and landing zone; what ``lz usage`` shows, through the same rules."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from lz.hub.server.deps import hub_of
from lz.hub.server.domain import stations, usage
from lz.hub.server.web import session
from lz.hub.server.web.render import page
from lz.hub.server.web.session import Viewer
from lz.hub.server.web.usage_chart import bar_chart

router = APIRouter(include_in_schema=False)
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@router.get("/usage")
def usage_page(request: Request, viewer: Viewer = Depends(session.viewer), station: str | None = None,
               since: str | None = None) -> Response:
    hub = hub_of(request)
    station = station if station and NAME.match(station) else None
    since = since if since and DAY.match(since) else None

    def _read(conn: Any) -> dict[str, Any]:
        per_day = usage.summary(conn, viewer.who, station=station, since=since, by=("day",))
        detail = usage.summary(conn, viewer.who, station=station, since=since)
        return {"per_day": per_day, "detail": detail, "stations": [s["name"] for s in stations.list_for(conn, viewer.who)]}

    found = hub.read(_read)
    priced = any(r["credits_mc"] for r in found["per_day"])
    if priced:
        points = [(r["day"], r["credits_mc"], f"{r['credits']} credits") for r in found["per_day"]]
        title = "Credits per day"
    else:
        points = [(r["day"], int(r["cpu_hours"] * 1000), f"{r['cpu_hours']} CPU-hours") for r in found["per_day"]]
        title = "CPU-hours per day"
    return page(request, "usage.html", viewer=viewer, chart=bar_chart(points, title), chart_title=title,
                station=station, since=since, **found)
