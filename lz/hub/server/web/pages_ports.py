"""``/jobs/ID/port/N/…``: a running job's declared port, for the Station's members with the
``ports`` flag (issue 26), over HTTP and WebSocket, through a tunnel its landing zone opens.

A person signs in as for every page (the session cookie); a program may send a hub token
instead (``Authorization: Bearer``). The rule is ``lz.hub.server.domain.ports.target``."""

from __future__ import annotations

import functools
from typing import cast

from fastapi import APIRouter, Path, Request, WebSocket
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lz.hub.protocol.schemas import JOB_ID
from lz.hub.server import port_proxy
from lz.hub.server.deps import hub_of
from lz.hub.server.domain import ports
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.errors import Forbidden, HubError, Unauthorized
from lz.hub.server.web import session

router = APIRouter(include_in_schema=False)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def _who(conn: Request) -> Principal | None:
    """The signed-in person, else the bearer of a hub token, else nobody."""
    found = session.current(conn)
    if found is not None:
        return found.who
    scheme, _, token = conn.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    from fastapi.security import HTTPAuthorizationCredentials

    from lz.hub.server.deps import principal_now

    return principal_now(conn, HTTPAuthorizationCredentials(scheme="Bearer", credentials=token.strip()))


@router.api_route("/jobs/{job_id}/port/{port}", methods=METHODS)
def bare(job_id: str = Path(pattern=JOB_ID), port: int = Path(ge=1, le=65535)) -> Response:
    """Without the trailing slash, relative links of the job's pages would miss the prefix."""
    return RedirectResponse(f"{port_proxy.prefix_of(job_id, port)}/", status_code=307)


@router.api_route("/jobs/{job_id}/port/{port}/{path:path}", methods=METHODS)
async def http(request: Request, job_id: str = Path(pattern=JOB_ID), port: int = Path(ge=1, le=65535),
               path: str = Path(max_length=8192)) -> Response:
    hub = hub_of(request)
    who = await run_in_threadpool(_who, request)
    if who is None:
        return await session.to_sign_in(request, session.SignInRequired(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")))
    target = await run_in_threadpool(hub.read, functools.partial(ports.target, shared=hub.config.ports.shared), who, job_id, port)
    opened = hub.tunnels.opened(target)
    channel = await opened.__aenter__()
    released = False

    async def release() -> None:
        nonlocal released
        if not released:
            released = True
            await opened.__aexit__(None, None, None)

    try:
        return await port_proxy.http(request, channel, port_proxy.prefix_of(job_id, port),
                                     hub.config.ports.max_request_bytes, release)
    except BaseException:
        await release()
        raise


@router.websocket("/jobs/{job_id}/port/{port}/{path:path}")
async def websocket(socket: WebSocket, job_id: str, port: int, path: str) -> None:
    hub = hub_of(cast(Request, socket))
    try:
        if not (1 <= port <= 65535 and len(path) <= 8192):
            raise Unauthorized("no such port")
        if not port_proxy.same_origin(socket.headers.get("origin"), socket.headers.get("host")):
            raise Forbidden("a WebSocket to a job's port from a page of another site")
        who = await run_in_threadpool(_who, cast(Request, socket))
        if who is None:
            raise Unauthorized("sign in first")
        target = await run_in_threadpool(hub.read, functools.partial(ports.target, shared=hub.config.ports.shared), who, job_id, port)
        async with hub.tunnels.opened(target) as channel:
            await port_proxy.websocket(socket, channel, port_proxy.prefix_of(job_id, port))
    except HubError as exc:
        await socket.close(code=4000 + exc.status, reason=str(exc)[:120])
