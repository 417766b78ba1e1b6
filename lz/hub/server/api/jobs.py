"""Jobs of a Station: submit, list, show, cancel, control, results and logs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from lz.core.selection import MAX_PATTERN, MAX_PATTERNS
from lz.hub.protocol.schemas import (
    MAX_ATTEMPTS,
    NAME,
    ControlIn,
)
from lz.hub.server import downloads
from lz.hub.server.api import params
from lz.hub.server.deps import hub_of, user
from lz.hub.server.domain import jobs
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.errors import Invalid
from lz.hub.server.hub import Hub

router = APIRouter()


@router.post("/stations/{station}/jobs", status_code=201, tags=["jobs"],
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/gzip": {"schema": {"type": "string", "format": "binary"}}}}})
async def submit(request: Request, station: str = params.name(),
                 key: str = Query(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="Idempotency key of this submission."),
                 name: str | None = Query(default=None, pattern=NAME),
                 folder: str = Query(default="job", pattern=NAME, description="The folder's name (default name)."),
                 cpus: str | None = Query(default=None, max_length=16),
                 memory: str | None = Query(default=None, max_length=16),
                 gpus: str | None = Query(default=None, max_length=16),
                 time: str | None = Query(default=None, max_length=32),
                 partition: str | None = Query(default=None, max_length=64),
                 array: str | None = Query(default=None, max_length=256, description=(
                     "A sweep: the job runs once per index (0-99, 1,3,5-7, 0-99:2, 0-99%10), as one job.")),
                 max_attempts: int | None = Query(default=None, ge=1, le=MAX_ATTEMPTS, description=(
                     "Failed attempts (lease ran out, job lost) before the job ends lost; at most the Station's.")),
                 template: str | None = Query(default=None, pattern=NAME, description=(
                     "One of the Station's templates: its defaults under the job's own resources, its bounds "
                     "and runtimes enforced (needs the templates permission; without: launch).")),
                 after: list[str] = Query(default=[], max_length=64, description=(
                     "Jobs it waits for, JOB[:ok|:any|:failed] (lz submit --after); repeat for several.")),
                 who: Principal = Depends(user)) -> Any:
    """Upload a job folder as a .tar.gz; checked like a local job (limits first, then intake)."""
    from lz.hub.server import uploads as submission

    hub = hub_of(request)
    overrides = {"cpus": cpus, "memory": memory, "gpus": gpus, "time": time, "partition": partition, "array": array}
    stored = await submission.receive(hub, request, who, station, key, name=name, folder=folder, overrides=overrides,
                                      max_attempts=max_attempts, template=template, after=after,
                                      answer=lambda conn, job_id: job_out(conn, hub, who, job_id, True))
    if stored.answer is not None:  # read in the transaction that stored the job
        return stored.answer
    return await run_in_threadpool(_job_out, hub, who, stored.id, True)


@router.post("/jobs/{job_id}/resubmit", status_code=201, tags=["jobs"])
async def resubmit_job(request: Request, job_id: str = params.job_id(),
                       key: str = Query(pattern=r"^[A-Za-z0-9_-]{8,64}$", description="Idempotency key."),
                       who: Principal = Depends(user)) -> Any:
    """Submit again: a new job of the same Station with this job's files and resources (its
    files are kept ``resubmit_days`` after it ends); needs the launch permission."""
    from lz.hub.server.resubmit import resubmit

    hub = hub_of(request)
    done = await resubmit(hub, who, job_id, key)
    return await run_in_threadpool(_job_out, hub, who, done, True)


def _job_out(hub: Hub, who: Principal, job_id: str, with_history: bool) -> dict[str, Any]:
    return hub.read(job_out, hub, who, job_id, with_history)


def job_out(conn: Any, hub: Hub, who: Principal, job_id: str, with_history: bool) -> dict[str, Any]:
    """A job as the API shows it."""
    from lz.hub.server.domain import usage

    row = jobs.find(conn, who, job_id)
    # never claimed (its first attempt, held by nobody: a new submission): no attempt rows, no usage
    ran = row.ran_on is not None or row.attempt != 1  # (a requeue clears ran_on, but starts attempt 2)
    data = jobs.job_json(row, hub.now(), jobs.history(conn, row.id) if with_history else None,
                         jobs.waiting_reasons(conn, [row]).get(row.id),
                         (jobs.attempt_history(conn, row.id) if ran else []) if with_history else None)
    data["usage"] = usage.of_job(conn, row.id) if ran else None  # CPU-, memory-, GPU-hours and credits (issue 26)
    return data


@router.get("/jobs", tags=["jobs"])
def list_jobs(request: Request, station: str | None = Query(default=None, pattern=NAME),
              state: list[str] = Query(default=[], max_length=16, description="Only these states (repeat)."),
              outcome: list[str] = Query(default=[], max_length=8, description="Only these outcomes (repeat)."),
              name: list[str] = Query(default=[], max_length=MAX_PATTERNS, description=(
                  "Only jobs whose name matches one of these patterns (* any characters, ? one; "
                  "case-insensitive; repeat).")),
              zone: str | None = Query(default=None, pattern=NAME, description="Only jobs that ran on this landing zone."),
              since: float | None = Query(default=None, ge=0, le=1e11, description="Only jobs submitted at or after "
                                                                                   "this time (UNIX seconds)."),
              limit: int = Query(default=1000, ge=1, le=1000, description="Jobs on this page."),
              order: str = Query(default=jobs.NEWEST, pattern="^(" + "|".join(jobs.ORDERS) + ")$",
                                 description="newest (first; the default), oldest first, or by name or "
                                             "state (A to Z, oldest first within one)."),
              before: str | None = Query(default=None, max_length=240, pattern=jobs.CURSOR,
                                         description="The cursor of the previous page (its X-Lz-Next header)."),
              who: Principal = Depends(user)) -> Response:
    """Visible jobs, newest first (or oldest, or by name or state), a page at a time: ``X-Lz-Total`` says how many
    match (at least that many, with ``X-Lz-Total-Exact: false``: totals past 1,000 are not
    counted), ``X-Lz-Next`` (absent on the last page) is the cursor of the next one (``before=``)."""
    hub = hub_of(request)
    now = hub.now()
    if any(len(p) > MAX_PATTERN for p in name):
        raise Invalid(f"a name pattern is longer than {MAX_PATTERN} characters")
    where = jobs.JobFilter(station, tuple(s[:16] for s in state), tuple(o[:16] for o in outcome), tuple(name),
                           zone, since)

    def _list(conn: Any) -> tuple[list[dict[str, Any]], jobs.Total, str | None]:
        found = jobs.page(conn, who, where, limit, order=order, after=before)
        waiting = jobs.waiting_reasons(conn, found.rows)
        return ([jobs.job_json(r, now, waiting=waiting.get(r.id)) for r in found.rows], jobs.counted(conn, who, where),
                found.following)

    page, total, following = hub.read(_list)
    headers = {"X-Lz-Total": str(total.count), **({"X-Lz-Next": following} if following else {}),
               **({} if total.exact else {"X-Lz-Total-Exact": "false"})}
    return JSONResponse(page, headers=headers)


@router.get("/jobs/{job_id}", tags=["jobs"])
def show_job(request: Request, job_id: str = params.job_id(), who: Principal = Depends(user)) -> dict[str, Any]:
    return _job_out(hub_of(request), who, job_id, True)


@router.post("/jobs/{job_id}/cancel", tags=["jobs"])
def cancel_job(request: Request, job_id: str = params.job_id(), who: Principal = Depends(user)) -> dict[str, Any]:
    hub = hub_of(request)
    row = hub.write(jobs.cancel, who, job_id, hub.now())
    hub.drop_unneeded_bundle(row)
    return _job_out(hub, who, row.id, True)


@router.post("/jobs/{job_id}/control", tags=["jobs"])
def control_job(body: ControlIn, request: Request, job_id: str = params.job_id(),
                who: Principal = Depends(user)) -> dict[str, Any]:
    """Stop, kill, pause or resume a job (``lz stop|kill|pause|resume --hub``)."""
    hub = hub_of(request)
    row = hub.write(jobs.control, who, job_id, body.action, hub.now())
    hub.drop_unneeded_bundle(row)
    return _job_out(hub, who, row.id, True)


@router.get("/jobs/{job_id}/results", tags=["jobs"], response_class=FileResponse,
            responses={200: {"content": {"application/x-tar": {}}},
                       307: {"description": "On an S3 store with presign = true: the archive is at "
                                            "Location, a presigned URL that works presign_s seconds"}})
def job_results(request: Request, job_id: str = params.job_id(), who: Principal = Depends(user)) -> Any:
    """The results of the one attempt that finished: a tar of results.tar.gz, manifest.json, logs."""
    return downloads.results_download(hub_of(request), who, job_id)


@router.get("/jobs/{job_id}/logs/{which}", tags=["jobs"], response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})
def job_log(request: Request, job_id: str = params.job_id(), which: str = params.log_name(),
            offset: int = Query(default=0, ge=0, le=1 << 40), who: Principal = Depends(user)) -> Response:
    """A job's log from ``offset``: of the finished attempt (from its results), else as much of
    the running attempt's as its landing zone has sent. ``X-Lz-Final: 1`` once it can not grow."""
    hub = hub_of(request)
    row = hub.read(jobs.find, who, job_id)
    chunks, size, final = downloads.log_from(hub.files, row, which, offset)
    return StreamingResponse(chunks, media_type="application/octet-stream",
                             headers={"X-Lz-Final": "1" if final else "0", "X-Lz-Size": str(size)})
