"""Receiving a job upload (a .tar.gz of a job folder), for the API and the web page alike:
size limits first, then the same intake checks as a local ``lz submit``, then the bundle file,
then the row (a crash leaves an unreferenced file, never a job without its bundle). A retried
upload with the same key from the same user answers the job the first one made. Quotas
(``domain.quotas``) are checked before anything is read (by the declared length) and again in
the transaction that creates the row, with the Station and the submitter locked."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from lz.host.faults import crash_point
from lz.hub.server.deps import refuse_declared_size
from lz.hub.server.domain import jobs, quotas, templates
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.hub import Hub
from lz.hub.server.intake_check import check_upload
from lz.hub.server.storage import Received
from lz.intake.bundle import IntakeLimits


class Stored(NamedTuple):
    """The job a submission made (or an earlier one with its key made), and what ``answer`` read
    of it inside the transaction that stored it (None when that transaction did not run)."""

    id: str
    answer: Any = None


Answer = Callable[[Any, str], Any]
"""What the caller answers, read from the job in the storing transaction (no read of its own)."""


async def receive(hub: Hub, request: Request, who: Principal, station: str, key: str, *, name: str | None,
                  folder: str, overrides: Mapping[str, str | None], max_attempts: int | None = None,
                  template: str | None = None, after: Sequence[str] = (), answer: Answer | None = None) -> Stored:
    """The job this upload (``request``'s body) made, or made before under ``key``; ``template``:
    one of the Station's templates, its defaults applied and its bounds held."""
    refuse_declared_size(request, hub.config.max_upload_bytes)
    declared = request.headers.get("content-length", "")
    adding = int(declared) if declared.isdigit() else 0

    def _before(conn: Any) -> tuple[int, Any, str | None]:
        """Permission, a retry of an earlier submission, quota: one read transaction (issue 22)."""
        station_id, chosen = templates.for_submission(conn, who, station, template)
        done = jobs.existing_submission(conn, who, key)
        if done is None:
            quotas.check_submit(conn, who, station_id, quotas.Defaults.of(hub.config), adding, lock=False)
        return station_id, chosen, done

    station_id, chosen, done = await run_in_threadpool(hub.read, _before)
    if done is not None:
        return Stored(done)
    received = await hub.files.receive(request.stream(), hub.config.max_upload_bytes)
    try:
        limits = IntakeLimits(max_bytes=hub.config.max_bundle_bytes, max_files=hub.config.max_bundle_files)
        async with hub.checks.slot():
            spec = await run_in_threadpool(check_upload, hub.files, received.name, received.scratch / folder,
                                           name=name, overrides=dict(overrides), limits=limits,
                                           defaults=templates.defaults(chosen) if chosen else None)
        if chosen is not None and template is not None:
            templates.check_job(template, chosen, spec["resources"], spec.get("recipe_kind"), spec.get("ports") or ())
        stored = await run_in_threadpool(store_job, hub, who, station_id, key, spec, received, max_attempts,
                                         f"template {template}" if chosen else None, after, answer)
    finally:
        hub.files.release(received)
    crash_point("hub.submit.stored")
    return stored


def store_job(hub: Hub, who: Principal, station_id: int, key: str, spec: dict[str, Any], received: Received,
              max_attempts: int | None = None, note: str | None = None, after: Sequence[str] = (),
              answer: Answer | None = None) -> Stored:
    """The bundle put in place, then the row (a refusal or failure removes the bundle again)."""
    job_id = jobs.new_job_id()
    bundle = hub.files.bundle_name(job_id)
    hub.files.commit(received, bundle)
    size = received.size

    def _insert(conn: Any) -> Stored:
        made = jobs.existing_submission(conn, who, key)
        if made is None:
            cap = quotas.check_submit(conn, who, station_id, quotas.Defaults.of(hub.config), size, lock=True)
            jobs.submit(conn, who, station_id, job_id, key, spec, bundle, size, hub.now(), max_attempts, note, after,
                        station_max_attempts=cap)
            made = job_id
        return Stored(made, answer(conn, made) if answer is not None else None)

    try:
        stored = hub.write_waking(_insert, wake=lambda made: made.id == job_id)  # a new job: claims woken
    except BaseException:
        hub.files.remove(bundle)  # refused (a quota) or failed: no row will ever need it
        raise
    if stored.id != job_id:
        hub.files.remove(bundle)
    return stored
