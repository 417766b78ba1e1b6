"""Endpoints for landing zones: register, long-poll claims, heartbeats, reports and uploads.

A landing zone acts under its owner's token (scope ``user`` or ``landing-zone``) and by its name;
it may claim only from Stations it was added to, and report only on jobs it holds under the
attempt it names (anything else: 409, the landing zone then drops its copy)."""

from __future__ import annotations

import base64
import random
import time
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from lz.host.faults import crash_point
from lz.hub.protocol.fit import Room
from lz.hub.protocol.schemas import (
    NAME,
    AttemptOut,
    ClaimIn,
    ClaimOut,
    ControlOut,
    FinishIn,
    HeartbeatIn,
    HeartbeatOut,
    LogOut,
    Ok,
    ReportIn,
    ReportOut,
    ZoneFacts,
)
from lz.hub.protocol.versions import INLINE_BUNDLE_MAX, PROTOCOL
from lz.hub.server.api import params
from lz.hub.server.deps import hub_of, principal, refuse_declared_size
from lz.hub.server.domain import claims, quotas, usage, zones
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.errors import HubError, Invalid, TooLarge
from lz.hub.server.hub import Hub
from lz.hub.server.results_check import check_results, inline_results

router = APIRouter(tags=["landing zones"])
DISCONNECT_CHECK_S = 5.0
"""How often a waiting long poll asks whether its client is still there (no database work)."""
POLL_SPREAD = 0.25
"""A long poll with nothing for it answers after ``wait_s`` less up to this share of it, at random:
zones that polled together (a job array of pilots started in one scheduling cycle, every zone
back at once after a hub restart) drift apart instead of polling again together every ``wait_s``
for good. A thousand zones started at once sent their 1,000 polls in the same instant every 20 s,
and the job submitted then waited up to 2 s behind them (issue 22)."""


@router.post("/register", response_model=Ok)
def register(body: ZoneFacts, request: Request, who: Principal = Depends(principal)) -> Ok:
    hub = hub_of(request)
    lz_id = hub.write(zones.register, who, body.name, body.model_dump(exclude={"name"}), hub.now())
    hub.seen.forget(lz_id)  # its row as registered, whatever this process knew of it
    return Ok()


@router.post("/heartbeat", response_model=HeartbeatOut)
async def heartbeat(body: HeartbeatIn, request: Request, who: Principal = Depends(principal)) -> HeartbeatOut:
    """Leases renewed, the zone seen. An idle zone this process knows fresh (``SeenBook``) is
    answered on the event loop: no database, no worker thread."""
    hub = hub_of(request)
    now = hub.now()
    load = {"running": body.running, "queue_length": body.queue_length}
    known_id = hub.zone_ids.get(who.user_id, body.name)
    if not body.jobs and known_id is not None and hub.seen.quiet(known_id, now, load):
        gone: list[tuple[str, int]] = []
        cancel: list[tuple[str, int]] = []
        controls: list[dict[str, Any]] = []
    else:
        gone, cancel, controls = await run_in_threadpool(_beat, hub, who, body, now, load)
    return HeartbeatOut(lease_s=hub.config.lease_s, idle_beat_s=_idle_beat_s(hub), gone=[i for i, _ in gone],
                        cancel=[i for i, _ in cancel], gone_jobs=[AttemptOut(id=i, attempt=a) for i, a in gone],
                        cancel_jobs=[AttemptOut(id=i, attempt=a) for i, a in cancel],
                        controls=[ControlOut(**c) for c in controls])


def _beat(hub: Hub, who: Principal, body: HeartbeatIn, now: float,
          load: dict[str, Any]) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[dict[str, Any]]]:
    """The heartbeat's database part: a read when nothing is due, else one write transaction."""

    def _quiet(conn: Any) -> bool:
        """Nothing to write: no leases to renew and the zone's row already says it is here."""
        lz_id = _owned(hub, conn, who, body.name)
        due, online, stored = zones.seen_row(conn, lz_id, now, _seen_every_s(hub), **load)
        if not due and online is not None:
            hub.seen.know(lz_id, online, stored)
        return not body.jobs and not due

    def _renew(conn: Any) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]], list[dict[str, Any]]]:
        lz_id = _owned(hub, conn, who, body.name)
        zones.seen(conn, lz_id, now, **load)
        return lz_id, *claims.heartbeat(conn, lz_id, [(h.id, h.attempt) for h in body.jobs], now, hub.config.lease_s)

    if not body.jobs and hub.read(_quiet):
        return [], [], []
    lz_id, gone, cancel, controls = hub.write(_renew)
    hub.seen.know(lz_id, now, load)
    return gone, cancel, controls


@router.post("/claim", response_model=ClaimOut)
async def claim(body: ClaimIn, request: Request, who: Principal = Depends(principal),
                inline: int = Query(default=0, ge=0, le=1 << 30, description=(
                    "Bundles up to this many bytes (at most 64 KiB) come inside the answer, base64 "
                    "(protocol 2): no download request. An older hub ignores it."))) -> ClaimOut:
    """Long poll: answers as soon as a job is claimed for this landing zone, or after ``wait_s``
    (less up to a quarter of it, at random: ``POLL_SPREAD``) with none. It looks in the database
    once itself (not when it will wait and the process's last check, a moment ago, found nothing
    for its zone: ``Notifier.nothing_for``); after that it waits for a ticket from the
    process's one checker (``notify.Notifier``: woken at once by submissions to this process, and
    re-checking a few times a second for submissions to other hub processes), so waiting costs no
    database work. A client that went away (its connection closed) claims nothing: the check runs
    right before each claim transaction (and every ``DISCONNECT_CHECK_S`` while waiting, freeing its
    slot), and jobs claimed while it was going away are handed back at once (attempt + 1, no
    failure), so another landing zone may take them without waiting for a lease nobody would renew.
    Each poll holds a connection, so this process holds at most ``polls_per_zone`` at once per
    landing zone and ``polls_per_token`` per token (a job array of pilots shares one token, each
    pilot its own zone name): one more is 429 with Retry-After."""
    hub = hub_of(request)
    # an Auth0 tenant's tokens have no row (token_id 0): their user stands for them
    token = f"token:{who.token_id}" if who.token_id else f"user:{who.user_id}"
    with hub.polls.held(token), hub.zone_polls.held(f"{token}/{body.name}"):
        return await _long_poll(hub, body, request, who, min(inline, INLINE_BUNDLE_MAX))


async def _long_poll(hub: Hub, body: ClaimIn, request: Request, who: Principal, inline: int) -> ClaimOut:
    deadline = time.monotonic() + min(body.wait_s, hub.config.max_claim_wait_s) * (1 - POLL_SPREAD * random.random())
    settled = _settled(hub, who, body) if body.wait_s > hub.notifier.recheck_s and not body.ended else None
    if settled is None:
        settled = await run_in_threadpool(_seen, hub, who, body.name)  # and its own first look
    lz_id, look = settled
    while True:
        got: list[Any] = []
        if look:
            try:
                if await request.is_disconnected():  # nobody would hear of the jobs: claim none
                    return ClaimOut(lease_s=hub.config.lease_s, jobs=[], protocol=PROTOCOL)
                got = await run_in_threadpool(_claim_once, hub, lz_id, body, inline)
            finally:
                hub.notifier.release(lz_id)  # its ticket (if any) is spent: the next check may hand one out
            if got and await request.is_disconnected():  # went away during the claim: hand them back
                await run_in_threadpool(hub.write_waking, claims.release, lz_id,
                                        [(j["id"], j["attempt"]) for j in got], hub.now(), "the hub: its claimer went away")
                return ClaimOut(lease_s=hub.config.lease_s, jobs=[], protocol=PROTOCOL)
        left = deadline - time.monotonic()
        if got or left <= 0 or await request.is_disconnected():
            return ClaimOut(lease_s=hub.config.lease_s, jobs=got, protocol=PROTOCOL)
        look = await hub.notifier.wait(lz_id, min(left, DISCONNECT_CHECK_S))


def _owned(hub: Hub, conn: Any, who: Principal, name: str) -> int:
    """``zones.owned``, from ``hub.zone_ids`` once known (an id never changes)."""
    lz_id = hub.zone_ids.get(who.user_id, name)
    if lz_id is None:
        lz_id = zones.owned(conn, who, name)
        hub.zone_ids.put(who.user_id, name, lz_id)
    return lz_id


def _idle_beat_s(hub: Hub) -> float:
    """How often a zone holding no job heartbeats: its long polls (every ``wait_s``) already mark
    it seen, so its beats only refresh its load; a third of ``online_s``, never faster than the
    lease pace. 1,000 idle zones: 50 beats a second, not 100 (issue 22)."""
    return max(hub.config.lease_s / 3, _seen_every_s(hub))


def _seen_every_s(hub: Hub) -> float:
    """How stale a zone's ``last_seen`` may be: a third of what still counts as online."""
    return hub.config.online_s / 3


def _seen(hub: Hub, who: Principal, name: str) -> tuple[int, bool]:
    """The polling zone's id, marked seen, and whether anything is claimable for it
    (``claims.has_pending``). Seen: noted for the next batched write when this process knows
    the zone's row fresh (``SeenBook``), otherwise read with the look in one transaction and
    written only when ``zones.seen_due``."""
    now = hub.now()
    known_id = _quiet_zone(hub, who, name, now)
    if known_id is not None:
        return known_id, hub.read(claims.has_pending, known_id)

    def _due(conn: Any) -> tuple[int, bool, float | None, dict[str, Any], bool]:
        lz_id = _owned(hub, conn, who, name)
        due, online, stored = zones.seen_row(conn, lz_id, now, _seen_every_s(hub))
        return lz_id, due, online, stored, claims.has_pending(conn, lz_id)

    lz_id, due, online, stored, pending = hub.read(_due)
    if due:
        hub.write(zones.seen, lz_id, now)
        hub.seen.know(lz_id, now, stored)
    elif online is not None:
        hub.seen.know(lz_id, online, stored)
    return lz_id, pending


def _settled(hub: Hub, who: Principal, body: ClaimIn) -> tuple[int, bool] | None:
    """A poll that will wait (and names no ended job: those are recorded by a claim), of a zone
    this process knows and has seen lately, while the long polls' last check found nothing for it
    (``Notifier.nothing_for``): its id and no look of its own, without a database read or a
    thread. None: ``_seen`` decides."""
    lz_id = _quiet_zone(hub, who, body.name, hub.now())
    if lz_id is None or not hub.notifier.nothing_for(lz_id):
        return None
    return lz_id, False


def _quiet_zone(hub: Hub, who: Principal, name: str, now: float) -> int | None:
    """The zone's id where this process knows it and has written its ``last_seen`` lately
    (``SeenBook.quiet``): a poll of it needs no read to find or mark it."""
    lz_id = hub.zone_ids.get(who.user_id, name)
    return lz_id if lz_id is not None and hub.seen.quiet(lz_id, now) else None


def _claim_once(hub: Hub, lz_id: int, body: ClaimIn, inline: int) -> list[Any]:
    limited = (body.free_cpus, body.free_memory_mb, body.free_gpus, body.time_left_s)
    room = None if all(v is None for v in limited) else Room(*limited)
    claimed = hub.write(claims.claim, lz_id, body.name, hub.now(), hub.config.lease_s, body.max_jobs, room,
                        quotas.Defaults.of(hub.config), body.ended)
    if claimed:
        crash_point("hub.claim.committed")
    for job in claimed:
        _inline_bundle(hub, job, job.pop("bundle_file"), job.pop("bundle_bytes"), inline)
    return claimed


def _inline_bundle(hub: Hub, job: dict[str, Any], name: str, size: int | None, inline: int) -> None:
    """A small bundle inside the claim answer (protocol 2). Read after the claim committed: a
    bundle that cannot be read now is simply not inlined (the zone downloads it, as before)."""
    if size is None or size > inline:
        return
    try:
        with hub.files.open(name) as handle:
            data = handle.read(inline + 1)
    except OSError:
        return
    if len(data) <= inline:
        job["bundle"] = base64.b64encode(data).decode("ascii")


@router.get("/jobs/{job_id}/bundle", response_class=FileResponse,
            responses={200: {"content": {"application/gzip": {}}}})
def bundle(request: Request, job_id: str = params.job_id(), name: str = Query(pattern=NAME),
           attempt: int = Query(ge=1, le=1_000_000), who: Principal = Depends(principal)) -> Any:
    hub = hub_of(request)

    def _row(conn: Any) -> Any:
        return claims._held(conn, _owned(hub, conn, who, name), job_id, attempt, for_update=False)

    row = hub.read(_row)
    return hub.files.response(row.bundle, "application/gzip")


@router.post("/jobs/{job_id}/events", response_model=ReportOut)
def report(body: ReportIn, request: Request, job_id: str = params.job_id(), who: Principal = Depends(principal)) -> Any:
    hub = hub_of(request)

    def _report(conn: Any) -> int:
        lz_id = _owned(hub, conn, who, body.name)
        facts = body.facts.model_dump(exclude_unset=True)
        seq = claims.report(conn, lz_id, job_id, body.attempt, [e.model_dump() for e in body.events],
                            facts, hub.now(), hub.config.lease_s)
        usage.charge(conn, lz_id, job_id, body.attempt, facts, hub.now(), hub.config.credit_warn_percent)
        return seq

    return ReportOut(acknowledged_seq=hub.write(_report))


@router.put("/jobs/{job_id}/results", response_model=Ok,
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/x-tar": {"schema": {"type": "string", "format": "binary"}}}}})
async def upload_results(request: Request, job_id: str = params.job_id(), name: str = Query(pattern=NAME),
                         attempt: int = Query(ge=1, le=1_000_000), who: Principal = Depends(principal)) -> Ok:
    """Results of one attempt (fenced before and after the upload); replacing an earlier,
    interrupted upload of the same attempt is harmless."""
    hub = hub_of(request)

    def _check(conn: Any) -> None:
        claims.check_upload(conn, _owned(hub, conn, who, name), job_id, attempt)

    await run_in_threadpool(hub.read, _check)
    refuse_declared_size(request, hub.config.max_results_bytes)
    received = await hub.files.receive(request.stream(), hub.config.max_results_bytes)
    try:
        async with hub.checks.slot():
            await run_in_threadpool(check_results, hub.files, received.name)
        await run_in_threadpool(hub.read, _check)
        await run_in_threadpool(hub.files.commit, received, hub.files.results_name(job_id, attempt))
    finally:
        hub.files.release(received)
    _results_stored()
    return Ok()


@router.post("/jobs/{job_id}/logs/{which}", response_model=LogOut,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
async def append_log(request: Request, job_id: str = params.job_id(),
                     which: str = params.log_name(), name: str = Query(pattern=NAME),
                     attempt: int = Query(ge=1, le=1_000_000), offset: int = Query(ge=0, le=1 << 40),
                     who: Principal = Depends(principal)) -> LogOut:
    """The next bytes of a running attempt's log (for ``lz logs`` while it runs); the log of
    record comes with the results."""
    hub = hub_of(request)

    def _check(conn: Any) -> None:
        claims._held(conn, _owned(hub, conn, who, name), job_id, attempt, for_update=False)

    await run_in_threadpool(hub.read, _check)
    refuse_declared_size(request, 1 << 20)
    data = b""
    async for chunk in request.stream():
        data += chunk
        if len(data) > 1 << 20:
            raise TooLarge("a log chunk is at most 1 MiB")
    size = await run_in_threadpool(hub.files.append_log, hub.files.live_log_name(job_id, attempt, which), offset,
                                   data, hub.config.max_live_log_bytes)
    return LogOut(size=size)


@router.post("/jobs/{job_id}/finish", response_model=Ok)
def finish(body: FinishIn, request: Request, job_id: str = params.job_id(), who: Principal = Depends(principal)) -> Ok:
    hub = hub_of(request)
    results = hub.files.results_name(job_id, body.attempt) if body.results else None
    if body.results_inline is not None:
        if results is None:
            raise Invalid("results_inline: only with results true")
        size: int | None = _store_inline(hub, who, body, job_id, results)
    else:
        size = hub.files.size(results) if results is not None else 0
    if size is None:
        raise HubError(f"job {job_id} attempt {body.attempt}: upload the results before finishing")

    def _finish(conn: Any) -> bool | None:
        lz_id = _owned(hub, conn, who, body.name)
        facts = body.facts.model_dump(exclude_unset=True)
        # the results' size counts toward its Station's and submitter's bytes (``quotas.use``)
        done = claims.finish(conn, lz_id, job_id, body.attempt, results, facts, hub.now(),
                             [e.model_dump() for e in body.events], results_bytes=size if results else None)
        usage.charge(conn, lz_id, job_id, body.attempt, facts, hub.now(), hub.config.credit_warn_percent)
        return done

    # the job was lost: queued again (waiting claims woken), this attempt's results refused
    if hub.write_waking(_finish, wake=lambda done: done is None) is None:
        hub.files.remove(hub.files.results_name(job_id, body.attempt))
    crash_point("hub.finish.recorded")
    return Ok()


def _store_inline(hub: Hub, who: Principal, body: FinishIn, job_id: str, name: str) -> int:
    """Results carried by the finish (protocol 4), checked and fenced as an upload is, then
    stored as ``name`` before the finish's transaction names them: one request and one read where
    an upload took a request and two."""
    assert body.results_inline is not None
    data = inline_results(body.results_inline, hub.config.max_results_bytes)

    def _check(conn: Any) -> None:
        claims.check_upload(conn, _owned(hub, conn, who, body.name), job_id, body.attempt)

    hub.read(_check)
    hub.files.put(name, data)
    _results_stored()
    return len(data)


def _results_stored() -> None:
    """An attempt's results in place, uploaded or carried by its finish, nothing recorded yet."""
    crash_point("hub.upload.stored")
