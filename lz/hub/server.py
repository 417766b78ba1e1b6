"""The hub's HTTP API (FastAPI): the app factory, authentication and error mapping.

Every endpoint needs ``Authorization: Bearer <token>``; the token is never logged and never
accepted in a URL. No token, or an unknown, revoked or expired one: 401 and nothing else happens.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from lz import __version__
from lz.hub import accounts, claims, db
from lz.hub.accounts import Principal
from lz.hub.config import HubConfig
from lz.hub.errors import Forbidden, HubError, TooLarge, Unauthorized
from lz.hub.notify import Notifier
from lz.hub.storage import Files

log = logging.getLogger("lz.hub")
T = TypeVar("T")


class Hub:
    """What every request handler needs, wired once by ``create_app``."""

    def __init__(self, config: HubConfig):
        self.config = config
        self.engine = db.make_hub_engine(config.db_url)
        self.files = Files(config.files_dir)
        self.notifier = Notifier(config.recheck_s)
        self.tenant: Any = None
        if config.auth0 is not None:
            from lz.hub.tenant import TenantVerifier

            self.tenant = TenantVerifier(config.auth0)

    def now(self) -> float:
        return self.config.clock()

    def base_url(self, request: Request) -> str:
        """Where people and landing zones reach this hub: ``public_url`` behind a proxy, else the
        address the request came to (no trailing slash)."""
        return (self.config.public_url or str(request.base_url)).rstrip("/")

    def write(self, fn: Callable[..., T], *args: Any) -> T:
        with db.write(self.engine) as conn:
            return fn(conn, *args)

    def read(self, fn: Callable[..., T], *args: Any) -> T:
        with db.read(self.engine) as conn:
            return fn(conn, *args)

    def housekeeping(self) -> None:
        """Remove files no row needs any more (rows first: a crash leaves a file, never a row
        pointing at nothing)."""
        from lz.hub import jobs

        for relative in self.write(jobs.expire, self.now(), self.config.retention_days * 86400):
            if relative.startswith("logs/"):
                self.files.remove_tree(relative)
            else:
                self.files.remove(relative)

    def requeue_expired(self) -> list[str]:
        requeued = self.write(claims.requeue_expired, self.now())
        if requeued:
            log.warning("leases expired, jobs requeued: %s", " ".join(requeued))
            self.notifier.notify()
        return requeued


_bearer = HTTPBearer(auto_error=False, description="A hub token (`lz hub token create`).")


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def principal(request: Request, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Principal:
    if creds is None or creds.scheme.lower() != "bearer":
        raise Unauthorized("a hub token is required (Authorization: Bearer …)")
    hub = hub_of(request)
    who = hub.read(accounts.authenticate, creds.credentials, hub.now())
    if who is None and hub.tenant is not None and creds.credentials.count(".") == 2:
        who = _tenant_user(hub, creds.credentials)
    if who is None:
        raise Unauthorized("unknown, revoked or expired token")
    return who


def _tenant_user(hub: Hub, token: str) -> Principal | None:
    """An access token of the configured Auth0 tenant: verified, then its ``sub`` mapped to a user."""
    from lz.hub import login

    subject = hub.tenant.subject(token)
    if subject is None:
        return None
    found: Principal = hub.write(login.user_for_subject, subject, hub.now())
    return found


def user(who: Principal = Depends(principal)) -> Principal:
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


def create_app(config: HubConfig, *, migrate: bool = True) -> FastAPI:
    from lz.hub import routes_login, routes_lz, routes_members, routes_pilot, routes_user, routes_volumes, web

    hub = Hub(config)
    if migrate:
        db.upgrade(hub.engine)
    hub.files.ensure()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.notifier.bind(asyncio.get_running_loop())
        reaper = asyncio.create_task(_reap(hub))
        try:
            yield
        finally:
            reaper.cancel()

    app = FastAPI(title="lz hub", version=__version__, lifespan=lifespan,
                  description="Stations that users submit to and landing zones pull from.",
                  responses={401: {"model": _problem()}, 403: {"model": _problem()}, 404: {"model": _problem()}})
    app.state.hub = hub

    @app.exception_handler(HubError)
    async def _refused(request: Request, exc: HubError) -> Response:
        if not request.url.path.startswith(("/api/", "/oauth/")):
            return web.refused(request, exc)  # a person at the web page gets a page, not JSON
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"detail": str(exc)}, status_code=exc.status, headers=headers)

    app.include_router(routes_user.router, prefix="/api/v1")
    app.include_router(routes_members.router, prefix="/api/v1")
    app.include_router(routes_volumes.router, prefix="/api/v1")
    app.include_router(routes_lz.router, prefix="/api/v1/lz")
    routes_login.include(app)
    app.include_router(routes_pilot.router, prefix="/api/v1/lz")
    web.include(app)
    return app


def _problem() -> Any:
    from lz.hub.schemas import Problem

    return Problem


async def _reap(hub: Hub) -> None:
    """Requeue jobs whose leases ran out, a few times per lease period."""
    period = max(0.2, min(5.0, hub.config.lease_s / 4))
    last_housekeeping = 0.0
    while True:
        await asyncio.sleep(period)
        try:
            await run_in_threadpool(hub.requeue_expired)
            if hub.now() - last_housekeeping > 60:
                await run_in_threadpool(hub.housekeeping)
                last_housekeeping = hub.now()
        except Exception:  # the database may be briefly unreachable; try again next period
            log.exception("requeue of expired leases or housekeeping failed")
