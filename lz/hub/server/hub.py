"""The hub as request handlers see it: its settings, database, stored files, long-poll notifier
and Auth0 tenant, wired once by ``app.create_app``; one transaction per call of ``read``/``write``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request

from lz.hub.server import db
from lz.hub.server.config import HubConfig
from lz.hub.server.domain import claims
from lz.hub.server.notify import Notifier
from lz.hub.server.storage import Files

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
            from lz.hub.server.tenant import TenantVerifier

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
        from lz.hub.server.domain import jobs

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
