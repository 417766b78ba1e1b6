"""Endpoints for people: Stations, landing zones, jobs (submit, status, cancel, results, logs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from lz.hub import jobs, stations, stored, zones
from lz.hub.accounts import Principal
from lz.hub.schemas import JOB_ID, NAME, ControlIn, MemberIn, StationIn, StationOut, TokenInfo, ZoneOut
from lz.hub.server import Hub, hub_of, principal, user

router = APIRouter()


def _name() -> Any:
    return Path(pattern=NAME)


def _job_id() -> Any:
    return Path(pattern=JOB_ID)


def _log_name() -> Any:
    return Path(pattern=stored.LOG_PATTERN)


@router.get("/whoami", response_model=TokenInfo, tags=["users"])
def whoami(who: Principal = Depends(principal)) -> TokenInfo:
    return TokenInfo(user=who.name, admin=who.admin, scope=who.scope)


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
def show_station(request: Request, station: str = _name(), who: Principal = Depends(user)) -> Any:
    return hub_of(request).read(lambda c: stations.describe(c, stations.visible(c, who, station)))


@router.post("/stations/{station}/members", response_model=StationOut, tags=["stations"])
def add_member(body: MemberIn, request: Request, station: str = _name(), who: Principal = Depends(user)) -> Any:
    hub = hub_of(request)

    def _add(conn: Any) -> Any:
        stations.add_member(conn, who, station, body.user, hub.now())
        return stations.describe(conn, stations.visible(conn, who, station))

    return hub.write(_add)


@router.put("/stations/{station}/zones/{lz}", response_model=StationOut, tags=["stations"])
def add_zone(request: Request, station: str = _name(), lz: str = _name(), who: Principal = Depends(user)) -> Any:
    hub = hub_of(request)

    def _add(conn: Any) -> Any:
        stations.add_zone(conn, who, station, lz, hub.now())
        return stations.describe(conn, stations.visible(conn, who, station))

    result = hub.write(_add)
    hub.notifier.notify()  # its pending jobs may now go to that landing zone
    return result


@router.delete("/stations/{station}/zones/{lz}", response_model=StationOut, tags=["stations"])
def remove_zone(request: Request, station: str = _name(), lz: str = _name(), who: Principal = Depends(user)) -> Any:
    def _remove(conn: Any) -> Any:
        stations.remove_zone(conn, who, station, lz)
        return stations.describe(conn, stations.visible(conn, who, station))

    return hub_of(request).write(_remove)


@router.get("/zones", response_model=list[ZoneOut], tags=["landing zones"])
def list_zones(request: Request, who: Principal = Depends(user)) -> Any:
    hub = hub_of(request)
    return hub.read(zones.listing, who, hub.now(), hub.config.online_s)


@router.post("/stations/{station}/jobs", status_code=201, tags=["jobs"],
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/gzip": {"schema": {"type": "string", "format": "binary"}}}}})
async def submit(request: Request, station: str = _name(),
                 key: str = Query(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="Idempotency key of this submission."),
                 name: str | None = Query(default=None, pattern=NAME),
                 folder: str = Query(default="job", pattern=NAME, description="The folder's name (default name)."),
                 cpus: str | None = Query(default=None, max_length=16),
                 memory: str | None = Query(default=None, max_length=16),
                 gpus: str | None = Query(default=None, max_length=16),
                 time: str | None = Query(default=None, max_length=32),
                 partition: str | None = Query(default=None, max_length=64),
                 who: Principal = Depends(user)) -> Any:
    """Upload a job folder as a .tar.gz; checked like a local job (limits first, then intake)."""
    from lz.hub import submission

    hub = hub_of(request)
    overrides = {"cpus": cpus, "memory": memory, "gpus": gpus, "time": time, "partition": partition}
    done = await submission.receive(hub, request, who, station, key, name=name, folder=folder, overrides=overrides)
    return await run_in_threadpool(_job_out, hub, who, done, True)


def _job_out(hub: Hub, who: Principal, job_id: str, with_history: bool) -> dict[str, Any]:
    def _get(conn: Any) -> dict[str, Any]:
        row = jobs.find(conn, who, job_id)
        return jobs.job_json(row, hub.now(), jobs.history(conn, row.id) if with_history else None,
                             jobs.waiting_reasons(conn, [row]).get(row.id))

    return hub.read(_get)


@router.get("/jobs", tags=["jobs"])
def list_jobs(request: Request, station: str | None = Query(default=None, pattern=NAME),
              who: Principal = Depends(user)) -> list[dict[str, Any]]:
    hub = hub_of(request)
    now = hub.now()
    def _list(conn: Any) -> list[dict[str, Any]]:
        rows = jobs.listing(conn, who, station)
        waiting = jobs.waiting_reasons(conn, rows)
        return [jobs.job_json(r, now, waiting=waiting.get(r.id)) for r in rows]

    return hub.read(_list)


@router.get("/jobs/{job_id}", tags=["jobs"])
def show_job(request: Request, job_id: str = _job_id(), who: Principal = Depends(user)) -> dict[str, Any]:
    return _job_out(hub_of(request), who, job_id, True)


@router.post("/jobs/{job_id}/cancel", tags=["jobs"])
def cancel_job(request: Request, job_id: str = _job_id(), who: Principal = Depends(user)) -> dict[str, Any]:
    hub = hub_of(request)
    row = hub.write(jobs.cancel, who, job_id, hub.now())
    return _job_out(hub, who, row.id, True)


@router.post("/jobs/{job_id}/control", tags=["jobs"])
def control_job(body: ControlIn, request: Request, job_id: str = _job_id(),
                who: Principal = Depends(user)) -> dict[str, Any]:
    """Stop, kill, pause or resume a job (``lz stop|kill|pause|resume --hub``)."""
    hub = hub_of(request)
    row = hub.write(jobs.control, who, job_id, body.action, hub.now())
    return _job_out(hub, who, row.id, True)


@router.get("/jobs/{job_id}/results", tags=["jobs"], response_class=FileResponse,
            responses={200: {"content": {"application/x-tar": {}}}})
def job_results(request: Request, job_id: str = _job_id(), who: Principal = Depends(user)) -> Any:
    """The results of the one attempt that finished: a tar of results.tar.gz, manifest.json, logs."""
    return results_download(hub_of(request), who, job_id)


def results_download(hub: Hub, who: Principal, job_id: str) -> FileResponse:
    """The stored archive (retention counts from its first download); the web page's too."""
    row = hub.read(jobs.find, who, job_id)
    archive = stored.results_file(hub.files, row)
    hub.write(jobs.mark_downloaded, row.id, hub.now())
    return FileResponse(archive, media_type="application/x-tar", filename=f"{row.id}.tar",
                        headers={"Cache-Control": "no-store"})


@router.get("/jobs/{job_id}/logs/{which}", tags=["jobs"], response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})
def job_log(request: Request, job_id: str = _job_id(), which: str = _log_name(),
            offset: int = Query(default=0, ge=0, le=1 << 40), who: Principal = Depends(user)) -> Response:
    """A job's log from ``offset``: of the finished attempt (from its results), else as much of
    the running attempt's as its landing zone has sent. ``X-Lz-Final: 1`` once it can not grow."""
    hub = hub_of(request)
    row = hub.read(jobs.find, who, job_id)
    data, final = stored.log(hub.files, row, which)
    return Response(data[offset:], media_type="application/octet-stream",
                    headers={"X-Lz-Final": "1" if final else "0", "X-Lz-Size": str(len(data))})
