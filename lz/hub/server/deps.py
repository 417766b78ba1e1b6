"""Request dependencies every router and page imports from here: the hub, the caller (a token's
principal) and the user behind it, and the declared-size check of uploads.

Every API endpoint needs ``Authorization: Bearer <token>``; the token is never logged and never
accepted in a URL. No token, or an unknown, revoked or expired one: 401 and nothing else happens.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from lz.hub.server.domain import accounts, tokens
from lz.hub.server.domain.accounts import Principal
from lz.hub.server.errors import Forbidden, TooLarge, Unauthorized
from lz.hub.server.hub import Hub

_bearer = HTTPBearer(auto_error=False, description="A hub token (`lz hub token create`).")


def hub_of(request: Request) -> Hub:
    """The one ``Hub`` of this app (``app.state.hub``)."""
    hub: Hub = request.app.state.hub
    return hub


async def principal(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    """The caller. A token verified a moment ago (``hub.principals``) is answered here, on the
    event loop: most requests need no worker thread for it, only their handler (issue 22: a
    thread hand-off each way per request). Anything that needs the database (a token not
    cached, its ``last_used_at`` due, an Auth0 token) runs ``principal_now`` in the thread pool."""
    if creds is not None and creds.scheme.lower() == "bearer":
        token = creds.credentials
        if token.startswith(tokens.PREFIX) and len(token) <= 200:
            hub = hub_of(request)
            who = hub.principals.get(tokens.digest(token), hub.now())
            if who is not None and not _touch_due(hub, who):
                return who
    return await run_in_threadpool(principal_now, request, creds)


def principal_now(request: Request, creds: HTTPAuthorizationCredentials | None) -> Principal:
    """``principal``, blocking (the database when needed): for a worker thread."""
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthorized("a hub token is required (Authorization: Bearer …)")
    hub = hub_of(request)
    who = _verified(hub, creds.credentials)
    if who is None and hub.tenant is not None and creds.credentials.count(".") == 2:
        who = _tenant_user(hub, creds.credentials)
    if who is None:
        raise Unauthorized("unknown, revoked or expired token")
    if _touch_due(hub, who):
        hub.write(accounts.touch, who.token_id, hub.now())  # for ``GET /api/v1/tokens``; rarely a write
        hub.principals.touched(tokens.digest(creds.credentials), hub.now())
    return who


def _touch_due(hub: Hub, who: Principal) -> bool:
    return bool(who.token_id) and (who.last_used_at is None or hub.now() - who.last_used_at >= accounts.TOUCH_EVERY_S)


def _verified(hub: Hub, token: str) -> Principal | None:
    """A token of this hub's database, from ``hub.principals`` when verified a moment ago
    (``token_cache``: no transaction for most requests)."""
    if not token.startswith(tokens.PREFIX) or len(token) > 200:
        return None
    key, now = tokens.digest(token), hub.now()
    who = hub.principals.get(key, now)
    if who is None:
        who = hub.read(accounts.authenticate, token, now)
        if who is not None:
            hub.principals.put(key, who, who.expires_at)
    return who


def _tenant_user(hub: Hub, token: str) -> Principal | None:
    """An access token of the configured Auth0 tenant: verified, then its ``sub`` mapped to a user."""
    from lz.hub.server.domain import login

    subject = hub.tenant.subject(token)
    if subject is None:
        return None
    found: Principal | None = hub.write(login.user_for_subject, subject, hub.now())
    return found


async def user(who: Principal = Depends(principal)) -> Principal:
    """Endpoints for people: a landing-zone token may not act as a user."""
    if who.scope != "user":
        raise Forbidden("a landing-zone token cannot act as a user")
    return who


def refuse_declared_size(request: Request, max_bytes: int) -> None:
    """Refuse an upload whose declared length is over the limit before reading any of it (the
    streaming check still counts what actually arrives)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge(f"upload is larger than {max_bytes} bytes")


CurrentHub = Annotated[Hub, Depends(hub_of)]
Caller = Annotated[Principal, Depends(principal)]
CurrentUser = Annotated[Principal, Depends(user)]
