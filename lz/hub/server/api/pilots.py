"""Endpoints for pilots: hand claims back and leave (the drain on ``scancel``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from lz.hub.protocol.schemas import ReleaseIn, ReleaseOut
from lz.hub.server.deps import hub_of, principal
from lz.hub.server.domain import claims, zones
from lz.hub.server.domain.accounts import Principal

router = APIRouter(tags=["landing zones"])


@router.post("/release", response_model=ReleaseOut)
def release(body: ReleaseIn, request: Request, who: Principal = Depends(principal)) -> ReleaseOut:
    """Requeue the named jobs this landing zone holds (a new attempt each, not a failure) and,
    with ``offline``, show it offline at once. Jobs it no longer holds are skipped."""
    hub = hub_of(request)

    def _release(conn: Any) -> list[str]:
        lz_id = zones.owned(conn, who, body.name)
        now = hub.now()
        done = claims.release(conn, lz_id, [(h.id, h.attempt) for h in body.jobs], now)
        if body.offline:
            zones.offline(conn, lz_id, now)
        return done

    released = hub.write_waking(_release, wake=bool)
    if body.offline:  # its visits noted before the goodbye must not bring it back (``SeenBook``)
        lz_id = hub.zone_ids.get(who.user_id, body.name)
        if lz_id is not None:
            hub.seen.forget(lz_id)
    return ReleaseOut(released=released)
