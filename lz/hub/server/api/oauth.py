"""Login endpoints: what a client needs to know (``/api/v1/meta``), the RFC 8628 device flow
(``/oauth/device/code``, ``/oauth/token``: form-encoded as the RFC says, JSON accepted too, as
auth0-python sends it). Tokens a signed-in user makes are ``lz.hub.server.api.tokens``.
The ``/activate`` page where a person approves a code is part of the web page (``lz.hub.server.web``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from lz import __version__
from lz.hub.server import limits
from lz.hub.server.deps import hub_of
from lz.hub.server.domain import login
from lz.hub.server.forms import read_fields

api = APIRouter()
oauth = APIRouter(include_in_schema=False)
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def include(app: FastAPI) -> None:
    app.include_router(api, prefix="/api/v1")
    app.include_router(oauth)


class MetaOut(BaseModel):
    version: str
    min_version: str | None
    latest_version: str | None
    upgrade: str = Field(description="How to upgrade a landing zone (lz never modifies itself).")
    auth: dict[str, str]



@api.get("/meta", response_model=MetaOut, tags=["login"])
def meta(request: Request) -> Any:
    """Unauthenticated: versions landing zones should run and how clients log in."""
    hub = hub_of(request)
    tenant = hub.config.auth0
    auth = ({"kind": "auth0", "domain": tenant.domain, "client_id": tenant.client_id, "audience": tenant.audience,
             "scheme": tenant.scheme} if tenant else
            {"kind": "embedded", "domain": hub.base_url(request).split("://", 1)[1],
             "scheme": hub.base_url(request).split("://", 1)[0], "client_id": "lz"})
    return MetaOut(version=__version__, min_version=hub.config.min_version or __version__,
                   latest_version=hub.config.latest_version or __version__,
                   upgrade="pip install --upgrade lz  (then restart the landing zone)", auth=auth)


# -- the device flow -----------------------------------------------------------------------------
def _oauth_error(exc: login.OAuthError) -> JSONResponse:
    headers = {"Cache-Control": "no-store", **({"Retry-After": "60"} if exc.status == 429 else {})}
    return JSONResponse({"error": exc.error, "error_description": exc.description or exc.error},
                        status_code=exc.status, headers=headers)


@oauth.post("/oauth/device/code")
async def device_code(request: Request) -> Response:
    hub = hub_of(request)
    if hub.config.auth0 is not None:
        return _oauth_error(login.OAuthError("unsupported_grant_type", "this hub logs in through its Auth0 tenant"))
    await limits.per_address(hub, request, "device login", hub.config.device_per_address)
    params = await read_fields(request)
    client = params.get("client_name") or f"an unnamed client ({request.headers.get('user-agent', 'no user agent')})"
    address = request.client.host if request.client else "unknown"
    try:
        code, user_code = hub.write(login.start, client, address, hub.now(), hub.config.device_s,
                                    hub.config.device_interval_s)
    except login.OAuthError as exc:
        return _oauth_error(exc)
    base = hub.base_url(request)
    return JSONResponse({
        "device_code": code, "user_code": user_code, "verification_uri": f"{base}/activate",
        "verification_uri_complete": f"{base}/activate?user_code={quote(user_code)}",
        "expires_in": int(hub.config.device_s), "interval": hub.config.device_interval_s,
    }, headers={"Cache-Control": "no-store"})


@oauth.post("/oauth/token")
async def token(request: Request) -> Response:
    hub = hub_of(request)
    await limits.per_address(hub, request, "token", hub.config.token_per_address)
    params = await read_fields(request)
    grant = params.get("grant_type", "")
    cfg = hub.config
    if grant == DEVICE_GRANT and params.get("device_code"):
        answer = await run_in_threadpool(hub.write, _kept(login.poll), params["device_code"], hub.now(),
                                         cfg.access_s, cfg.refresh_s)
    elif grant == "refresh_token" and params.get("refresh_token"):
        answer = await run_in_threadpool(hub.write, _kept(login.refresh), params["refresh_token"], hub.now(),
                                         cfg.access_s, cfg.refresh_s, cfg.refresh_grace_s)
    else:
        answer = login.OAuthError("unsupported_grant_type", "device_code or refresh_token grants only")
    if isinstance(answer, login.OAuthError):
        return _oauth_error(answer)
    return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _kept(fn: Any) -> Any:
    """The OAuth error as a value, so what the call wrote (last poll time, a revoked family) commits."""

    def inner(conn: Any, *args: Any) -> Any:
        try:
            return fn(conn, *args)
        except login.OAuthError as exc:
            return exc

    return inner
