"""Notifications on the web page (issue 26): a job's list with a badge for the new ones (a
fragment the job's page loads and polls), and per Station how you get them and job ends."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lz.hub.protocol.schemas import JOB_ID, NAME
from lz.hub.server import webhook_target
from lz.hub.server.deps import hub_of
from lz.hub.server.domain import jobs, notifications
from lz.hub.server.errors import Invalid
from lz.hub.server.hub import Hub
from lz.hub.server.web import session
from lz.hub.server.web.render import page
from lz.hub.server.web.session import Viewer

router = APIRouter(include_in_schema=False)
FINISHED_STOP_POLLING = 286  # htmx: swap this answer, then stop polling


def job_context(hub: Hub, viewer: Viewer, job_id: str) -> dict[str, Any]:
    """What the job page's Notifications section shows: newest first, and how many are new to
    its owner (the badge; none where the owner chose other ways than web alerts)."""

    def _read(conn: Any) -> dict[str, Any]:
        row = jobs.find(conn, viewer.who, job_id)
        found = notifications.of_job(conn, viewer.who, row.id)
        badge = row.submitter_id == viewer.who.user_id and notifications.web_alerts(conn, row.station_id, row.submitter_id)
        return {"job_id": row.id, "sent": list(reversed(found)), "finished": row.phase == "finished",
                "unseen": sum(1 for n in found if not n["seen"]) if badge else 0}

    return hub.read(_read)


@router.get("/jobs/{job_id}/notifications")
def job_notifications(request: Request, job_id: str = Path(pattern=JOB_ID),
                      viewer: Viewer = Depends(session.viewer)) -> Response:
    """The section alone, polled by the page while the job is not finished."""
    context = job_context(hub_of(request), viewer, job_id)
    response = page(request, "_job_notifications.html", viewer=viewer, **context)
    if context["finished"] and not context["unseen"]:
        response.status_code = FINISHED_STOP_POLLING
    return response


@router.post("/jobs/{job_id}/notifications/seen")
async def seen(request: Request, job_id: str = Path(pattern=JOB_ID), viewer: Viewer = Depends(session.viewer)) -> Response:
    await session.form(request, viewer)
    hub = hub_of(request)
    hub.write(notifications.mark_seen, viewer.who, job_id, hub.now())
    return RedirectResponse(f"/jobs/{quote(job_id)}#notifications", status_code=303)


@router.get("/stations/{station}/notifications")
def station_notifications(request: Request, station: str = Path(pattern=NAME),
                          viewer: Viewer = Depends(session.viewer), error: str | None = None,
                          secret: str | None = None) -> Response:
    hub = hub_of(request)
    found = hub.read(notifications.subscriptions, viewer.who, station)
    smtp = hub.config.smtp is not None
    return page(request, "notifications.html", status=422 if error else 200, viewer=viewer, station=station,
                subscriptions=found, error=error, secret=secret, smtp=smtp, channels=notifications.CHANNELS)


@router.post("/stations/{station}/notifications")
async def add(request: Request, station: str = Path(pattern=NAME), viewer: Viewer = Depends(session.viewer)) -> Response:
    fields = await session.form(request, viewer)
    hub = hub_of(request)
    events = [e for e in notifications.EVENTS if fields.get(f"event_{e}")]
    try:
        if fields.get("channel") == "webhook" and fields.get("target"):
            await run_in_threadpool(webhook_target.check, fields["target"].strip(), hub.config.webhook_allow_private)
        made = hub.write(notifications.subscribe, viewer.who, station, fields.get("channel", ""),
                         fields.get("target"), events, hub.now())
    except Invalid as exc:
        return station_notifications(request, station, viewer, error=str(exc))
    if made.get("secret"):  # shown once, on this answer only
        return station_notifications(request, station, viewer, secret=made["secret"])
    return RedirectResponse(f"/stations/{quote(station)}/notifications", status_code=303)


@router.post("/stations/{station}/notifications/{sub_id}/remove")
async def remove(request: Request, station: str = Path(pattern=NAME), sub_id: int = Path(ge=1, le=1 << 62),
                 viewer: Viewer = Depends(session.viewer)) -> Response:
    await session.form(request, viewer)
    hub = hub_of(request)
    hub.write(notifications.unsubscribe, viewer.who, station, sub_id)
    return RedirectResponse(f"/stations/{quote(station)}/notifications", status_code=303)

