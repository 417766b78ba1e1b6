"""Notifications from jobs (issue 26): landing zones forward them; users read a job's, and choose
per Station how they get them and job ends (web alerts, e-mail, signed webhooks)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request

from lz.hub.protocol.notifications import NotificationsIn, NotificationsOut, SubscriptionIn, SubscriptionOut
from lz.hub.protocol.schemas import ReportOut
from lz.hub.server import webhook_target
from lz.hub.server.api import params
from lz.hub.server.deps import hub_of, principal, user
from lz.hub.server.domain import notifications, zones
from lz.hub.server.domain.accounts import Principal

router = APIRouter(tags=["notifications"])


@router.post("/lz/jobs/{job_id}/notifications", response_model=ReportOut)
def forward(body: NotificationsIn, request: Request, job_id: str = params.job_id(),
            who: Principal = Depends(principal)) -> Any:
    """A landing zone forwards what its attempt of the job sent (idempotent by seq; the answer is
    the highest seq stored, the landing zone's cursor)."""
    hub = hub_of(request)

    def _record(conn: Any) -> int:
        lz_id = zones.owned(conn, who, body.name)
        return notifications.record(conn, lz_id, job_id, body.attempt, [n.model_dump() for n in body.notifications],
                                    hub.now(), hub.config.lease_s)

    return ReportOut(acknowledged_seq=hub.write(_record))


@router.get("/jobs/{job_id}/notifications", response_model=NotificationsOut)
def of_job(request: Request, job_id: str = params.job_id(), who: Principal = Depends(user)) -> Any:
    """What the job sent through ``$LZ_NOTIFY``, oldest first (``lz logs JOB --notifications``)."""
    return {"notifications": hub_of(request).read(notifications.of_job, who, job_id)}


@router.get("/stations/{station}/notifications", response_model=list[SubscriptionOut])
def subscriptions(request: Request, station: str = params.name(), who: Principal = Depends(user)) -> Any:
    """How you get this Station's notifications of your jobs (none: web alerts only)."""
    return hub_of(request).read(notifications.subscriptions, who, station)


@router.post("/stations/{station}/notifications", response_model=SubscriptionOut, status_code=201)
def subscribe(body: SubscriptionIn, request: Request, station: str = params.name(),
              who: Principal = Depends(user)) -> Any:
    """A way to get them: ``web``, ``email`` (target: an address) or ``webhook`` (target: a URL;
    the answer holds its signing secret, shown this once)."""
    hub = hub_of(request)
    if body.channel == "webhook" and body.target:
        webhook_target.check(body.target.strip(), hub.config.webhook_allow_private)  # before the transaction: DNS
    return hub.write(notifications.subscribe, who, station, body.channel, body.target, body.events, hub.now())


@router.delete("/stations/{station}/notifications/{sub_id}", status_code=204)
def unsubscribe(request: Request, station: str = params.name(), sub_id: int = Path(ge=1, le=1 << 62),
                who: Principal = Depends(user)) -> None:
    hub_of(request).write(notifications.unsubscribe, who, station, sub_id)
