"""Jobs: submit a folder or a .tar.gz by upload (the browser packs a folder into a .tar.gz
itself, so the hub has one intake path, the API's), the job list, and one job's page: its history,
live logs, usage, the lifecycle with its state marked, stop/kill/cancel/pause/resume, and its
results (the archive, or single files named in its manifest)."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from lz.hub.protocol.names import LOG_PATTERN, LOGS
from lz.hub.protocol.schemas import JOB_ID, NAME
from lz.hub.server import downloads
from lz.hub.server import uploads as submission
from lz.hub.server.deps import hub_of
from lz.hub.server.domain import jobs, stations, usage
from lz.hub.server.errors import HubError, Invalid, NotFound
from lz.hub.server.hub import Hub
from lz.hub.server.web import job_list, pages_notifications, session
from lz.hub.server.web.job_list import JobQuery
from lz.hub.server.web.render import diagram, page
from lz.hub.server.web.session import Viewer

router = APIRouter(include_in_schema=False)
LOG_TAIL = 64 << 10  # what a page shows of each log; the whole log is a download
ACTIONS = ("stop", "kill", "pause", "resume", "cancel")
FINISHED_STOP_POLLING = 286  # htmx: swap this answer, then stop polling


def _job_id() -> Any:
    return Path(pattern=JOB_ID)


def _log_name() -> Any:
    return Path(pattern=LOG_PATTERN)


def _polled(response: Response, finished: bool) -> Response:
    """A polled fragment of something that can no longer change tells htmx to stop polling."""
    if finished:
        response.status_code = FINISHED_STOP_POLLING
    return response


def listed(hub: Hub, viewer: Viewer, query: JobQuery) -> dict[str, Any]:
    """One page of the job list ``query`` asks for, with what the table and its paging links
    need; ``BadFilter`` (or the rules' refusal) when a value can not be used."""
    now = hub.now()
    where, size, order = query.where(now), query.page_size(), query.checked_order()

    def _read(conn: Any) -> dict[str, Any]:
        found = jobs.page(conn, viewer.who, where, size, order=order, after=query.after or None,
                          before=query.before or None)
        waiting = jobs.waiting_reasons(conn, found.rows)
        return {"jobs": [jobs.job_json(r, now, waiting=waiting.get(r.id)) for r in found.rows],
                "total": jobs.counted(conn, viewer.who, where), "found": found}

    listing = hub.read(_read)
    found = listing.pop("found")
    links = {"following": query.url(after=found.following, before="") if found.following else None,
             "preceding": None if found.first else query.url(before=found.preceding or "", after=""),
             "first": None if found.first else query.url(after="", before="")}
    words = _PAGER_WORDS.get(order, ("First", "Previous", "Next"))
    return {**listing, "pages": links, "query": query, "pager": words, "order": order,
            "filtered": where != jobs.JobFilter()}


_PAGER_WORDS = {jobs.NEWEST: ("Newest", "Newer", "Older"), jobs.OLDEST: ("Oldest", "Older", "Newer")}
"""The paging links' words (first, before, after) where the order has a direction in time."""


def _query(request: Request) -> JobQuery:
    return JobQuery.of(dict(request.query_params))


@router.get("/jobs")
def jobs_page(request: Request, viewer: Viewer = Depends(session.viewer)) -> Response:
    """The Jobs tab: submit, then the list as its GET form asks (filters, order, page); a value the
    list can not use shows the form again with one line saying why."""
    hub = hub_of(request)
    mine = hub.read(stations.list_for, viewer.who)
    query = _query(request)
    chosen = query.station if query.station in {s["name"] for s in mine} else None
    context: dict[str, Any] = {"viewer": viewer, "stations": mine, "chosen": chosen, "station": None,
                               "states": job_list.STATE_CHOICES, "outcomes": job_list.OUTCOME_CHOICES,
                               "orders": job_list.ORDER_CHOICES, "sizes": job_list.PAGE_SIZES, "query": query,
                               "zones": _zone_names(mine), "templates": hub.read(_templates, viewer)}
    try:
        context.update(listed(hub, viewer, query))
    except HubError as exc:
        return page(request, "jobs.html", status=exc.status, error=str(exc), jobs=[], **context)
    return page(request, "jobs.html", table_url=query.url("/jobs/table"), **context)


def _templates(conn: Any, viewer: Viewer) -> list[dict[str, Any]]:
    """The templates of the viewer's Stations, each with the form's fields its defaults fill."""
    from lz.core.resources import format_memory, format_time
    from lz.hub.server.domain import templates

    found = []
    for t in templates.visible_to(conn, viewer.who):
        shown = {"cpus": t["cpus"].get("default"), "gpus": t["gpus"].get("default"),
                 "memory": t["memory_mb"].get("default"), "time": t["time_s"].get("default")}
        shows = {"memory": format_memory, "time": format_time}
        fields = {k: ("" if v is None else shows.get(k, str)(v)) for k, v in shown.items()}
        found.append({"name": t["name"], "station": t["station"], "description": t.get("description", ""),
                      "fields": fields})
    return found


def _zone_names(mine: list[dict[str, Any]]) -> list[str]:
    """The landing zones of the viewer's Stations (the zone field's suggestions)."""
    return sorted({z.split("/")[-1] for s in mine for z in s.get("landing_zones", ())})


@router.get("/jobs/table")
def jobs_table(request: Request, viewer: Viewer = Depends(session.viewer)) -> Response:
    """The list alone, polled by the page with the page's own query (its filters and page)."""
    query = _query(request)
    try:
        context = listed(hub_of(request), viewer, query)
    except HubError as exc:
        return page(request, "_jobs_table.html", status=exc.status, viewer=viewer, jobs=[], error=str(exc))
    return page(request, "_jobs_table.html", viewer=viewer, **context)


@router.post("/jobs/upload")
async def upload(request: Request, station: str = Query(pattern=NAME),
                 key: str = Query(pattern=r"^[A-Za-z0-9_-]{8,64}$"),
                 name: str | None = Query(default=None, max_length=64),
                 folder: str = Query(default="job", max_length=255),
                 cpus: str | None = Query(default=None, max_length=16),
                 memory: str | None = Query(default=None, max_length=16),
                 gpus: str | None = Query(default=None, max_length=16),
                 time: str | None = Query(default=None, max_length=32),
                 partition: str | None = Query(default=None, max_length=64),
                 template: str | None = Query(default=None, max_length=64),
                 viewer: Viewer = Depends(session.viewer)) -> Response:
    """The body is the .tar.gz; the answer is JSON for the page's script: the job's URL, or the
    one-line reason it was refused."""
    session.check_csrf_header(request, viewer)
    hub = hub_of(request)
    overrides = {k: (v.strip() or None) if v else None
                 for k, v in {"cpus": cpus, "memory": memory, "gpus": gpus, "time": time, "partition": partition}.items()}
    folder = re.sub(r"[^A-Za-z0-9._-]", "_", folder).strip("._") or "job"
    try:
        job_id = (await submission.receive(hub, request, viewer.who, station, key, name=(name or "").strip() or None,
                                           folder=folder[:64], overrides=overrides,
                                           template=(template or "").strip() or None)).id
    except HubError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)
    return JSONResponse({"id": job_id, "url": f"/jobs/{job_id}"}, status_code=201)


# -- one job -------------------------------------------------------------------------------------
def _job(hub: Hub, viewer: Viewer, job_id: str) -> dict[str, Any]:
    def _read(conn: Any) -> dict[str, Any]:
        row = jobs.find(conn, viewer.who, job_id)
        data = jobs.job_json(row, hub.now(), jobs.history(conn, row.id), jobs.waiting_reasons(conn, [row]).get(row.id),
                             jobs.attempt_history(conn, row.id))
        data["usage"] = usage.of_job(conn, row.id)
        data["_row"] = row
        return data

    return hub.read(_read)


def _tail(hub: Hub, row: Any, which: str) -> tuple[str, bool, int, bool]:
    """(the text a page shows of a log, whether it was cut, the log's size, whether it is final)."""
    data, size, final = downloads.log_tail(hub.files, row, which, LOG_TAIL)
    return data.decode("utf-8", "replace"), size > LOG_TAIL, size, final


def _job_context(hub: Hub, viewer: Viewer, job_id: str) -> dict[str, Any]:
    job = _job(hub, viewer, job_id)
    row = job.pop("_row")
    files = downloads.returned_files(downloads.manifest(hub.files, row)) if job["results"] else []
    actions = available_actions(job["phase"], job["state"], row.control)
    finished = job["phase"] == "finished"
    return {"job": job, "_row": row, "files": files, "actions": actions, "diagram": diagram(job["state"]),
            "finished": finished, "resubmittable": finished and bool(row.bundle),
            "resubmit_key": secrets.token_hex(16),  # one page, one key: a double click is one new job
            "ports": json.loads(row.spec).get("ports") or []}  # opened at /jobs/ID/port/N/ while it runs


def available_actions(phase: str, state: str, control: str | None = None) -> list[str]:
    """The buttons a job's page offers: a waiting job can be held (pause) or released (resume)
    and cancelled; one a landing zone holds can be stopped (partial results), killed or cancelled,
    paused while queued or running, resumed while paused. The hub's lifecycle decides again when
    one is pressed."""
    if phase == "finished":
        return []
    if phase == "pending":
        return ["resume" if control == "pause" else "pause", "cancel"]
    return ["stop", "kill", *(["pause"] if state in ("queued", "running") else []),
            *(["resume"] if state == "paused" else []), "cancel"]


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str = _job_id(), viewer: Viewer = Depends(session.viewer)) -> Response:
    hub = hub_of(request)
    context = _job_context(hub, viewer, job_id)
    if context["job"]["id"] != job_id:  # a prefix: the page of record has the whole id
        return RedirectResponse(f"/jobs/{context['job']['id']}", status_code=303)
    logs = {}
    for which in LOGS:
        logs[which] = _tail(hub, context["_row"], which)[:3]
    notes = pages_notifications.job_context(hub, viewer, context["job"]["id"])
    return page(request, "job.html", viewer=viewer, logs=logs, notes=notes, **context)


@router.get("/jobs/{job_id}/live")
def job_live(request: Request, job_id: str = _job_id(), viewer: Viewer = Depends(session.viewer)) -> Response:
    context = _job_context(hub_of(request), viewer, job_id)
    return _polled(page(request, "_job_live.html", viewer=viewer, **context), context["finished"])


@router.get("/jobs/{job_id}/tail/{which}")
def log_tail(request: Request, job_id: str = _job_id(), which: str = _log_name(),
             viewer: Viewer = Depends(session.viewer)) -> Response:
    """One log's last 64 KiB, polled on its own so an open log stays open and scrolled."""
    hub = hub_of(request)
    row = hub.read(jobs.find, viewer.who, job_id)
    text, cut, size, final = _tail(hub, row, which)
    return _polled(page(request, "_log_tail.html", viewer=viewer, text=text, cut=cut, size=size), final)


@router.post("/jobs/{job_id}/control")
async def control(request: Request, job_id: str = _job_id(), viewer: Viewer = Depends(session.viewer)) -> Response:
    fields = await session.form(request, viewer)
    action = fields.get("action", "")
    hub = hub_of(request)
    if action not in ACTIONS:
        raise NotFound(f"unknown request {action!r}")
    if action == "cancel":
        row = await run_in_threadpool(hub.write_waking, jobs.cancel, viewer.who, job_id, hub.now())
    else:
        row = await run_in_threadpool(hub.write_waking, jobs.control, viewer.who, job_id, action, hub.now())
    await run_in_threadpool(hub.drop_unneeded_bundle, row)  # on S3 a request: off the event loop
    return RedirectResponse(f"/jobs/{quote(row.id)}", status_code=303)


@router.post("/jobs/{job_id}/resubmit")
async def resubmit(request: Request, job_id: str = _job_id(), viewer: Viewer = Depends(session.viewer)) -> Response:
    """Submit again: on to the new job's page (a refusal is the error page, with its status)."""
    from lz.hub.server.resubmit import resubmit as again

    fields = await session.form(request, viewer)
    key = fields.get("key", "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{8,64}", key):
        raise Invalid("stale form: reload the page")
    new_id = await again(hub_of(request), viewer.who, job_id, key)
    return RedirectResponse(f"/jobs/{quote(new_id)}", status_code=303)


@router.get("/jobs/{job_id}/results")
def results(request: Request, job_id: str = _job_id(), viewer: Viewer = Depends(session.viewer)) -> Response:
    return downloads.results_download(hub_of(request), viewer.who, job_id)


@router.get("/jobs/{job_id}/files/{path:path}")
def one_file(request: Request, job_id: str = _job_id(), path: str = Path(max_length=4096),
             viewer: Viewer = Depends(session.viewer)) -> Response:
    hub = hub_of(request)
    row = hub.read(jobs.find, viewer.who, job_id)
    chunks = downloads.one_file(hub.files, row, path)
    first = next(chunks, b"")  # a missing file is refused before the answer starts

    def _all() -> Any:
        yield first
        yield from chunks

    filename = path.rsplit("/", 1)[-1]
    return StreamingResponse(_all(), media_type="application/octet-stream", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}", "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff"})


@router.get("/jobs/{job_id}/logs/{which}")
def log_file(request: Request, job_id: str = _job_id(), which: str = _log_name(),
             viewer: Viewer = Depends(session.viewer)) -> Response:
    hub = hub_of(request)
    row = hub.read(jobs.find, viewer.who, job_id)
    chunks, _size, _final = downloads.log_from(hub.files, row, which, 0)
    return StreamingResponse(chunks, media_type="text/plain; charset=utf-8", headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="{row.id}-{which}"'})
