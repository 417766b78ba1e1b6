"""The hub's HTTP app (FastAPI): the factory, the only module that lists every router, the error
mapping (JSON for the API, a page for people) and the reaper of expired leases."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from lz import __version__
from lz.hub.server import db, token_cache
from lz.hub.server.body_limit import BodyLimit, Caps
from lz.hub.server.config import HubConfig
from lz.hub.server.errors import HubError, TooMany
from lz.hub.server.hub import Hub

log = logging.getLogger("lz.hub")


def create_app(config: HubConfig, *, migrate: bool = True) -> FastAPI:
    from lz.hub.server import deliver, web
    from lz.hub.server.api import (
        jobs,
        notifications,
        oauth,
        pilots,
        station_rules,
        stations,
        tokens,
        tunnels,
        usage,
        users,
        zones,
        zones_lz,
    )
    hub = Hub(config)
    if migrate:
        db.upgrade(hub.engine)
    hub.files.ensure()
    hub.files.sweep_incoming(time.time(), config.incoming_grace_s)  # what killed hubs left half-received

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.notifier.bind(asyncio.get_running_loop())
        reaper = asyncio.create_task(_reap(hub))
        flusher = asyncio.create_task(_every(min(SEEN_FLUSH_S, hub.seen.every_s / 4), hub.flush_seen,
                                             "writing the landing zones' last_seen"))
        refresher = asyncio.create_task(_every(token_cache.REFRESH_S, hub.refresh_tokens,
                                               "verifying the cached tokens again"))
        checker = asyncio.create_task(hub.notifier.run())
        deliverer = asyncio.create_task(deliver.run(hub))  # e-mails and webhooks (issue 26)
        tunnels = asyncio.create_task(hub.tunnels.run())  # interactive ports (issue 26)
        # PostgreSQL: the other hub processes' wake-ups (LISTEN/NOTIFY, issue 22)
        listener = asyncio.create_task(hub.listener.run()) if hub.listener is not None else None
        try:
            yield
        finally:
            if listener is not None:
                listener.cancel()
            reaper.cancel()
            flusher.cancel()
            refresher.cancel()
            checker.cancel()
            deliverer.cancel()
            tunnels.cancel()

    app = FastAPI(title="lz hub", version=__version__, lifespan=lifespan,
                  description="Stations that users submit to and landing zones pull from.",
                  responses={401: {"model": _problem()}, 403: {"model": _problem()}, 404: {"model": _problem()}})
    app.state.hub = hub
    app.add_middleware(BodyLimit, caps=Caps(config.max_upload_bytes, config.max_results_bytes,  # type: ignore[arg-type]
                                            config.max_live_log_bytes, config.body_timeout_s, config.body_idle_s))
    # outermost: X-Forwarded-Proto/For are believed only from the proxy's own address (issue 21)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(config.trusted_proxies))  # type: ignore[arg-type]

    @app.exception_handler(HubError)
    async def _refused(request: Request, exc: HubError) -> Response:
        if not request.url.path.startswith(("/api/", "/oauth/")):
            answer = web.refused(request, exc)  # a person at the web page gets a page, not JSON
        else:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
            body: dict[str, str] = {"detail": str(exc)}
            if isinstance(exc, TooMany) and request.url.path.startswith("/oauth/"):  # RFC 6749 §5.2
                body.update(error="slow_down", error_description=str(exc))
            answer = JSONResponse(body, status_code=exc.status, headers=headers)
        if isinstance(exc, TooMany):  # a rate limit, a lockout, or a process busy with costly work
            answer.headers["Retry-After"] = exc.retry_after
        return answer

    # the landing zones' routes first: most requests are theirs, and routes are matched in order
    app.include_router(zones_lz.router, prefix="/api/v1/lz")
    app.include_router(users.router, prefix="/api/v1")
    app.include_router(tokens.router, prefix="/api/v1")
    app.include_router(stations.router, prefix="/api/v1")
    app.include_router(station_rules.router, prefix="/api/v1")
    app.include_router(zones.router, prefix="/api/v1")
    app.include_router(jobs.router, prefix="/api/v1")
    app.include_router(notifications.router, prefix="/api/v1")
    app.include_router(usage.router, prefix="/api/v1")
    oauth.include(app)
    app.include_router(pilots.router, prefix="/api/v1/lz")
    app.include_router(tunnels.router, prefix="/api/v1/lz")
    web.include(app)
    return app


def _problem() -> Any:
    from lz.hub.protocol.schemas import Problem

    return Problem


SEEN_FLUSH_S = 5.0


async def _every(period: float, work: Callable[[], Any], what: str) -> None:
    """``work`` in a worker thread every ``period`` seconds: the zones' visits noted by
    ``hub.seen`` (every ``SEEN_FLUSH_S``, well within the third of ``online_s`` a row may lag),
    the cached tokens in use (``token_cache.REFRESH_S``)."""
    while True:
        await asyncio.sleep(period)
        try:
            await run_in_threadpool(work)
        except Exception:  # the database may be briefly unreachable: the next round
            log.exception("%s failed", what)


async def _reap(hub: Hub, monotonic: Callable[[], float] = time.monotonic) -> None:
    """Requeue jobs whose leases ran out, a few times per lease period; housekeeping (retention,
    files no row needs, dead uploads) every ``housekeeping_s``. Paced on the monotonic clock
    (``asyncio.sleep`` is too): a wall clock stepped back must not hold housekeeping back."""
    period = max(0.2, min(5.0, hub.config.lease_s / 4))
    next_housekeeping = monotonic()
    while True:
        await asyncio.sleep(period)
        try:
            await run_in_threadpool(hub.requeue_expired)
            if monotonic() >= next_housekeeping:
                next_housekeeping = monotonic() + hub.config.housekeeping_s
                await run_in_threadpool(hub.housekeeping)
        except Exception:  # the database may be briefly unreachable; try again next period
            log.exception("requeue of expired leases or housekeeping failed")
