"""Endpoints for a landing zone's agent to carry interactive ports (issue 26): the long poll that
hands it the tunnels users want, and the WebSocket of each tunnel (``lz.hub.protocol.ports``)."""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter, Depends, Query, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials
from starlette.concurrency import run_in_threadpool

from lz.hub.protocol.ports import NOT_HERE, REFUSED, TUNNEL_ID, TunnelsOut, TunnelWaitIn
from lz.hub.protocol.schemas import NAME
from lz.hub.server.deps import hub_of, principal, principal_now
from lz.hub.server.domain import zones
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.errors import HubError

router = APIRouter(tags=["landing zones"])


@router.post("/tunnels/wait", response_model=TunnelsOut)
async def wait(body: TunnelWaitIn, request: Request, who: Principal = Depends(principal)) -> TunnelsOut:
    """Long poll: the connections users want opened to the ports of jobs this landing zone runs,
    as soon as there are any (or none after ``wait_s``). Held in this hub process's memory."""
    hub = hub_of(request)
    lz_id = await run_in_threadpool(hub.read, zones.owned, who, body.name)
    return TunnelsOut(tunnels=await hub.tunnels.asked(lz_id, min(body.wait_s, hub.config.max_claim_wait_s)))


@router.websocket("/tunnels/{tunnel_id}")
async def tunnel(socket: WebSocket, tunnel_id: str, name: str = Query(pattern=NAME)) -> None:
    """One tunnel: binary messages carry the TCP connection to the job's port byte for byte. The
    zone authenticates with its token as for every other call."""
    hub = hub_of(cast(Request, socket))
    scheme, _, token = socket.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token or not _matches(tunnel_id):
        await socket.close(code=REFUSED)
        return
    try:
        who = await run_in_threadpool(principal_now, cast(Request, socket), HTTPAuthorizationCredentials(
            scheme="Bearer", credentials=token.strip()))
        lz_id = await run_in_threadpool(hub.read, zones.owned, who, name)
    except HubError:
        await socket.close(code=REFUSED)
        return
    await socket.accept()
    done = hub.tunnels.arrived(tunnel_id, lz_id, socket)
    if done is None:
        await socket.close(code=NOT_HERE)
        return
    await done.wait()  # the user's side relays on this socket until it is done
    await _close(socket)


def _matches(tunnel_id: str) -> bool:
    import re

    return re.match(TUNNEL_ID, tunnel_id) is not None


async def _close(socket: Any) -> None:
    try:
        await socket.close()
    except Exception:  # already closed by the agent
        pass
