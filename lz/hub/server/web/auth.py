"""Sign in and out with a hub password, and ``/activate``: where a signed-in person approves the
code a landing zone (``lz run --hub``, ``lz login``) printed. With an Auth0 tenant configured,
sign-in goes through the tenant instead (``lz.hub.server.web.auth0_login``)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lz.core.errors import UserError
from lz.hub.server import limits
from lz.hub.server.deps import hub_of
from lz.hub.server.domain import login, rate_limits
from lz.hub.server.errors import TooMany
from lz.hub.server.forms import read_fields
from lz.hub.server.hub import Hub
from lz.hub.server.web import session
from lz.hub.server.web.render import page
from lz.hub.server.web.session import Viewer

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/zones" if session.current(request) else "/login", status_code=303)


@router.get("/login")
def sign_in_page(request: Request, next: str = "/") -> Response:
    if session.current(request) is not None:
        return RedirectResponse(session.safe_next(next), status_code=303)
    return _form(request, 200, session.safe_next(next), "")


def _form(request: Request, status: int, target: str, error: str) -> Response:
    """The sign-in page, its form carrying the pre-session CSRF token (set as a cookie when new)."""
    hub = hub_of(request)
    token, new = session.login_token(request)
    response = page(request, "login.html", status, viewer=None, next=target, tenant=hub.config.auth0,
                    error=error, csrf=token)
    if new:
        session.set_login_cookie(hub, request, response, token)
    return response


@router.post("/login")
async def sign_in(request: Request) -> Response:
    """A password sign-in, refused before any password is checked when the form is forged (403),
    the address signs in too often or the user's password sign-in is locked (429), or this process
    already checks as many passwords as it may at once (503)."""
    hub = hub_of(request)
    fields = await read_fields(request)
    target = session.safe_next(fields.get("next"))
    if hub.config.auth0 is not None:
        return _form(request, 400, target, "This hub signs in through its Auth0 tenant.")
    session.check_login_csrf(request, fields)
    await limits.per_address(hub, request, "sign-in", hub.config.login_per_address)
    name = fields.get("name", "")[:64]
    key = f"login-user:{name}"  # unknown names too: whether a user exists shows nowhere
    left = await run_in_threadpool(hub.write, rate_limits.locked, key, hub.now())
    if left:
        raise TooMany("too many failed sign-ins for this user: password sign-in is locked for "
                      f"{int(left / 60 + 0.999)} min", left)
    user_id = await run_in_threadpool(_check_password, hub, name, fields.get("password", "")[:1024])
    if user_id is None:
        cfg = hub.config
        await run_in_threadpool(hub.write, rate_limits.failed, key, hub.now(),
                                rate_limits.Lockout(cfg.login_failures, cfg.login_lock_s, cfg.login_lock_s))
        await asyncio.sleep(0.2)  # a little friction for guessing, same for unknown users
        return _form(request, 401, target, "Unknown user or wrong password.")
    await run_in_threadpool(hub.write, rate_limits.forget, key)
    return session.start(hub, request, user_id, target)


def _check_password(hub: Hub, name: str, password: str) -> int | None:
    """In the worker thread, slot and all: a client that goes away mid-check (the request's task
    cancelled) must not free the slot while its argon2id check still runs."""
    with hub.password_checks.held():
        return hub.read(login.check_password, name, password)


@router.post("/logout")
async def sign_out(request: Request, viewer: Viewer = Depends(session.viewer)) -> Response:
    await session.form(request, viewer)
    return session.end(hub_of(request), request)


# -- the device flow's page ----------------------------------------------------------------------
@router.get("/activate")
async def activate(request: Request, user_code: str = "", viewer: Viewer = Depends(session.viewer)) -> Response:
    hub = hub_of(request)
    if user_code:  # a code is guessed by asking many: bounded per address and per signed-in user
        await _lookup_allowed(hub, request, viewer)
    found = await run_in_threadpool(hub.read, login.pending, user_code, hub.now()) if user_code else None
    status = 404 if user_code and found is None else 200
    left = max(0, int(found.expires_at - hub.now())) if found else 0
    return page(request, "activate.html", status, viewer=viewer, user_code=user_code, found=found, left=left,
                done=None, error="")


@router.post("/activate")
async def decide(request: Request, viewer: Viewer = Depends(session.viewer)) -> Response:
    hub = hub_of(request)
    fields = await session.form(request, viewer)
    approve = fields.get("decision") == "approve"
    await _lookup_allowed(hub, request, viewer)
    try:
        found = hub.write(login.decide, fields.get("user_code", ""), viewer.who.user_id, approve, hub.now())
    except UserError as exc:
        return page(request, "activate.html", 404, viewer=viewer, user_code="", found=None, left=0, done=None,
                    error=str(exc))
    return page(request, "activate.html", viewer=viewer, user_code="", found=found, left=0,
                done="approved: it can now act as you" if approve else "denied", error="")


async def _lookup_allowed(hub: Hub, request: Request, viewer: Viewer) -> None:
    await limits.per_address(hub, request, "code lookup", hub.config.activate_per_address)
    await limits.per_key(hub, f"activate-user:{viewer.who.user_id}", "code lookup", hub.config.activate_per_address)
