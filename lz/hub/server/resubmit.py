"""Submit again (issue 26): a new job from an earlier one's bundle and resources, as if its
folder had been uploaded again. The bundle is streamed from the store back into it (a backend
copy would do on a local folder, but not every store can copy, and this path holds the same
checks as an upload: the declared size, the quota, the row written after the file)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool

from lz.hub.server.domain import jobs, quotas, roles
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.errors import Conflict
from lz.hub.server.hub import Hub
from lz.hub.server.storage import Store
from lz.hub.server.uploads import store_job

CHUNK = 1 << 20


def _earlier(conn: Any, who: Principal, job_id: str, key: str) -> tuple[str | None, Any]:
    done = jobs.existing_submission(conn, who, key)
    if done is not None:
        return done, None
    row = jobs.find(conn, who, job_id)  # 404 unless one may see it (one's own, or ``others_jobs``)
    roles.require(conn, who, row.station, "launch")
    if not row.bundle:
        raise Conflict(f"job {row.id}'s files are no longer kept on the hub (resubmit_days): submit its folder again")
    return None, row


async def _chunks(files: Store, name: str) -> AsyncIterator[bytes]:
    try:
        stream = await run_in_threadpool(files.open, name)
    except FileNotFoundError:
        raise Conflict("the job's files were removed a moment ago: submit its folder again") from None
    try:
        while chunk := await run_in_threadpool(stream.read, CHUNK):
            yield chunk
    finally:
        stream.close()


async def resubmit(hub: Hub, who: Principal, job_id: str, key: str) -> str:
    """The id of the new job (or of the one an earlier try with ``key`` made)."""
    done, row = await run_in_threadpool(hub.read, _earlier, who, job_id, key)
    if done is not None:
        return done
    await run_in_threadpool(hub.read, lambda conn: quotas.check_submit(
        conn, who, row.station_id, quotas.Defaults.of(hub.config), row.bundle_bytes, lock=False))
    received = await hub.files.receive(_chunks(hub.files, row.bundle), hub.config.max_upload_bytes)
    try:
        stored = await run_in_threadpool(store_job, hub, who, row.station_id, key, json.loads(row.spec), received,
                                         row.max_attempts, f"again from job {row.id}")
    finally:
        hub.files.release(received)
    return stored.id
