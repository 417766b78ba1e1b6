"""Usage and credits (issue 26): usage summed per day, Station, user and landing zone; a
Station's prices and credit limits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from lz.hub.protocol.schemas import DAY, NAME, CreditsIn, CreditsOut
from lz.hub.server.api import params
from lz.hub.server.deps import hub_of, user
from lz.hub.server.domain import credits, usage
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.errors import Invalid

router = APIRouter()


@router.get("/usage", tags=["usage"])
def show_usage(request: Request, station: str | None = Query(default=None, pattern=NAME),
               user_name: str | None = Query(default=None, alias="user", pattern=NAME),
               since: str | None = Query(default=None, pattern=DAY, description="First UTC day (YYYY-MM-DD)."),
               until: str | None = Query(default=None, pattern=DAY, description="Last UTC day (YYYY-MM-DD)."),
               by: list[str] = Query(default=list(usage.GROUPS), max_length=4, description=(
                   "Sum per these (repeat): day, station, user, landing_zone.")),
               who: Principal = Depends(user)) -> list[dict[str, Any]]:
    """CPU-, memory- and GPU-hours and credits, summed per ``by``: everything for a hub admin;
    in a Station, all of it where one's role sees others' jobs, else one's own."""
    unknown = [b for b in by if b not in usage.GROUPS]
    if unknown:
        raise Invalid(f"by: unknown {unknown[0][:32]!r} (known: {', '.join(usage.GROUPS)})")
    wanted = tuple(g for g in usage.GROUPS if g in by)
    result: list[dict[str, Any]] = hub_of(request).read(
        lambda c: usage.summary(c, who, station=station, since=since, until=until, user=user_name, by=wanted))
    return result


@router.get("/stations/{station}/credits", response_model=CreditsOut, tags=["usage"])
def show_credits(request: Request, station: str = params.name(), who: Principal = Depends(user)) -> Any:
    """The Station's prices and credit limits, and what was spent (any member may read them)."""
    return hub_of(request).read(credits.describe, who, station)


@router.put("/stations/{station}/credits", response_model=CreditsOut, tags=["usage"])
def set_credits(body: CreditsIn, request: Request, station: str = params.name(),
                who: Principal = Depends(user)) -> Any:
    """Set one rule's prices and limit (a role with ``manage_members``, or a hub admin)."""
    hub = hub_of(request)
    given = body.model_dump(exclude_unset=True)
    values = {column: None if given[shown] is None else credits.parse_credits(given[shown])
              for column, shown in credits.SHOWN.items() if shown in given}
    return hub.write(credits.set_rule, who, station, body.scope, body.name, values, hub.now())
