"""Sign in and out with a hub password, and ``/activate``: where a signed-in person approves the
code a landing zone (``lz run --hub``, ``lz login``) printed. With an Auth0 tenant configured,
sign-in goes through the tenant instead (``lz.hub.server.web.auth0_login``)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lz.core.errors import UserError
from lz.hub.server.deps import hub_of
from lz.hub.server.domain import login
from lz.hub.server.forms import read_fields
from lz.hub.server.web import session
from lz.hub.server.web.render import page
from lz.hub.server.web.session import Viewer

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/zones" if session.current(request) else "/login", status_code=303)


@router.get("/login")
def sign_in_page(request: Request, next: str = "/") -> Response:
    hub = hub_of(request)
    if session.current(request) is not None:
        return RedirectResponse(session.safe_next(next), status_code=303)
    return page(request, "login.html", viewer=None, next=session.safe_next(next), tenant=hub.config.auth0,
                error="")


@router.post("/login")
async def sign_in(request: Request) -> Response:
    hub = hub_of(request)
    fields = await read_fields(request)
    target = session.safe_next(fields.get("next"))
    if hub.config.auth0 is not None:
        return page(request, "login.html", 400, viewer=None, next=target, tenant=hub.config.auth0,
                    error="This hub signs in through its Auth0 tenant.")
    user_id = await run_in_threadpool(hub.read, login.check_password, fields.get("name", "")[:64],
                                      fields.get("password", "")[:1024])
    if user_id is None:
        await asyncio.sleep(0.2)  # a little friction for guessing, same for unknown users
        return page(request, "login.html", 401, viewer=None, next=target, tenant=None,
                    error="Unknown user or wrong password.")
    return session.start(hub, request, user_id, target)


@router.post("/logout")
async def sign_out(request: Request, viewer: Viewer = Depends(session.viewer)) -> Response:
    await session.form(request, viewer)
    return session.end(hub_of(request), request)


# -- the device flow's page ----------------------------------------------------------------------
@router.get("/activate")
def activate(request: Request, user_code: str = "", viewer: Viewer = Depends(session.viewer)) -> Response:
    hub = hub_of(request)
    found = hub.read(login.pending, user_code, hub.now()) if user_code else None
    status = 404 if user_code and found is None else 200
    left = max(0, int(found.expires_at - hub.now())) if found else 0
    return page(request, "activate.html", status, viewer=viewer, user_code=user_code, found=found, left=left,
                done=None, error="")


@router.post("/activate")
async def decide(request: Request, viewer: Viewer = Depends(session.viewer)) -> Response:
    hub = hub_of(request)
    fields = await session.form(request, viewer)
    approve = fields.get("decision") == "approve"
    try:
        found = hub.write(login.decide, fields.get("user_code", ""), viewer.who.user_id, approve, hub.now())
    except UserError as exc:
        return page(request, "activate.html", 404, viewer=viewer, user_code="", found=None, left=0, done=None,
                    error=str(exc))
    return page(request, "activate.html", viewer=viewer, user_code="", found=found, left=0,
                done="approved: it can now act as you" if approve else "denied", error="")
