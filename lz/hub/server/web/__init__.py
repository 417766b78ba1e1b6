"""The hub's web page: Landing Zones, Stations and Jobs for people who never touch the CLI.

Server-rendered Jinja2 templates with a little JavaScript (htmx, served by the hub itself, for
live fragments; a small upload script). Every page acts through the same rule functions as the
API (``lz.hub.server.domain.stations``, ``members``, ``jobs``…), so the authorization is the API's."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from lz.hub.server.errors import HubError


def include(app: FastAPI) -> None:
    from fastapi.staticfiles import StaticFiles

    from lz.hub.server.web import (
        auth,
        auth0_login,
        pages_jobs,
        pages_notifications,
        pages_ports,
        pages_stations,
        pages_usage,
        pages_zones,
        render,
        session,
    )

    app.add_exception_handler(session.SignInRequired, session.to_sign_in)
    app.add_exception_handler(RequestValidationError, _malformed)
    app.mount("/static", StaticFiles(directory=render.STATIC), name="static")
    for module in (auth, auth0_login, pages_zones, pages_stations, pages_notifications, pages_ports, pages_jobs,
                   pages_usage):
        app.include_router(module.router)


def refused(request: Request, exc: HubError) -> Response:
    """A refusal of the rules (404 for what you may not see, 403, 409…) as a page of its own."""
    from lz.hub.server.errors import TooMany
    from lz.hub.server.web import render, session

    response = render.page(request, "error.html", exc.status, viewer=session.current(request), message=str(exc),
                           code=exc.status)
    if isinstance(exc, TooMany):
        response.headers["Retry-After"] = exc.retry_after
    return response


async def _malformed(request: Request, exc: Exception) -> Response:
    """A malformed address at the web page (``/jobs/<not an id>``) is a page saying so; the API
    keeps FastAPI's 422 with the details, less the rejected input itself (it may be anything,
    even a number JSON cannot write, and it is the caller's own)."""
    from fastapi.responses import JSONResponse

    assert isinstance(exc, RequestValidationError)
    if request.url.path.startswith(("/api/", "/oauth/")):
        details = [{"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))}
                   for e in exc.errors()]
        return JSONResponse({"detail": details}, status_code=422)
    from lz.hub.server.errors import NotFound

    return refused(request, NotFound(f"no such page: {request.url.path}"))
