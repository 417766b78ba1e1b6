"""The hub as request handlers see it: its settings, database, stored files, long-poll notifier
and Auth0 tenant, wired once by ``app.create_app``; one transaction per call of ``read``/``write``."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request

from lz.hub.server import db, wakeups
from lz.hub.server.check_slots import CheckSlots
from lz.hub.server.config import HubConfig
from lz.hub.server.domain import claims
from lz.hub.server.limits import PerKeyCap, Slots
from lz.hub.server.notify import Notifier
from lz.hub.server.seen_book import SeenBook
from lz.hub.server.storage import Store
from lz.hub.server.storage.choose import open_store
from lz.hub.server.token_cache import TokenCache, ZoneIds
from lz.hub.server.tunnels import DatabaseTunnels, Tunnels

log = logging.getLogger("lz.hub")
T = TypeVar("T")


class Hub:
    """What every request handler needs, wired once by ``create_app``."""

    def __init__(self, config: HubConfig):
        self.config = config
        self.engine = db.make_hub_engine(config.db_url)
        self.statements = db.StatementCount(self.engine)  # this process's, for the metrics
        self.principals = TokenCache()  # tokens verified a moment ago (deps.principal)
        self.principals.forget_on_writes(self.engine)
        self.zone_ids = ZoneIds()  # (owner, name) -> landing-zone id (zones_lz.owned)
        self.zone_ids.forget_on_deletes(self.engine)
        self.files: Store = open_store(config)
        self.seen = SeenBook(config.online_s / 3)  # zones' visits, written in batches (flush_seen)
        self.notifier = Notifier(config.recheck_s, lambda: self.read(claims.claimable_by_station))
        self.checks = CheckSlots(config.max_parallel_checks, config.check_wait_s)
        self.removed: Counter[str] = Counter()  # what housekeeping removed since start, by kind (metrics)
        self.tenant: Any = None
        self.password_checks = Slots(config.password_checks, "password checks")  # argon2id: 64 MiB each
        self.polls = PerKeyCap(config.polls_per_token, "long-poll claims", "per token")
        self.zone_polls = PerKeyCap(config.polls_per_zone, "long-poll claims", "per landing zone")
        # interactive ports (issue 26): this process's tunnels, wished for in the database
        self.tunnels = Tunnels(config.ports, DatabaseTunnels(self.read, self.write, self.now), config.ports.recheck_s)
        # PostgreSQL: the other processes' submissions and tunnels heard at once (LISTEN/NOTIFY)
        connect = wakeups.psycopg_connect(self.engine)
        self.listener = None if connect is None else wakeups.Listener(
            connect, {wakeups.CLAIMS: self.notifier.notify, wakeups.TUNNELS: self.tunnels.kick},
            self._listening, own_pids=wakeups.BackendPids(self.engine))
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

    def write_waking(self, fn: Callable[..., T], *args: Any, wake: Callable[[T], bool] = lambda _: True) -> T:
        """``write``, and when ``wake(result)`` the waiting claims woken: another process's by a
        NOTIFY in the same transaction (sent on commit, never for a rollback), this process's at
        once after the commit."""
        with db.write(self.engine) as conn:
            result = fn(conn, *args)
            woke = wake(result)
            if woke:
                wakeups.announce(conn, wakeups.CLAIMS)
        if woke:
            self.notifier.notify()
        return result

    def _listening(self, up: bool) -> None:
        """The listener's state: while it listens, the checkers' rechecks are only the safety net;
        while it does not, they poll at their own pace again. Either way they look now."""
        self.notifier.recheck_s = self.config.wakeup_recheck_s if up else self.config.recheck_s
        self.tunnels.recheck_s = self.config.wakeup_recheck_s if up else self.config.ports.recheck_s
        self.notifier.notify()
        self.tunnels.kick()

    def read(self, fn: Callable[..., T], *args: Any) -> T:
        with db.read(self.engine) as conn:
            return fn(conn, *args)

    def drop_unneeded_bundle(self, row: Any) -> None:
        """After a cancel or control request: a finished job whose row forgot its bundle (a
        waiting job ended at once) has it unlinked now, not at the next housekeeping, so it stops
        filling the disk and counting toward quotas at once."""
        if row.phase == "finished" and not row.bundle:
            self.files.remove(self.files.bundle_name(row.id))

    def housekeeping(self) -> Counter[str]:
        """One pass: files past their retention (forgotten in their rows first, then unlinked),
        then finished jobs past theirs (rows, events, attempts), then every stored file no row
        needs and dead uploads in ``incoming``. Counts what went (``removed`` keeps the totals
        for the metrics) and logs one line when anything did."""
        from lz.hub.server.domain import notifications, ports, rate_limits, retention

        config = self.config
        keep = retention.Retention(after_download_s=config.retention_days * 86400,
                                   undownloaded_s=config.undownloaded_days * 86400,
                                   finished_jobs_s=config.finished_jobs_days * 86400,
                                   bundles_s=config.resubmit_days * 86400)
        gone: Counter[str] = Counter()
        for relative in self.write(retention.expire_files, self.now(), keep):
            kind = relative.split("/", 1)[0]
            if self.files.remove_tree(relative) if kind == "logs" else self.files.remove(relative):
                gone[kind] += 1
        gone["jobs"] += self.write(retention.forget_finished, self.now(), keep)
        gone["rate-limits"] += self.write(rate_limits.purge, self.now())
        gone["deliveries"] += self.write(notifications.purge, self.now())
        gone["tunnels"] += self.write(ports.purge, self.now())  # wishes a killed hub process left
        wall = time.time()  # stored times are wall-clock times
        gone += self.files.sweep(self.read(retention.needed), wall, config.incoming_grace_s)
        gone["incoming"] += self.files.sweep_incoming(wall, config.incoming_grace_s)
        gone = +gone  # drop zeros
        if gone:
            self.removed.update(gone)
            log.warning("housekeeping removed %s", ", ".join(f"{n} {kind}" for kind, n in sorted(gone.items())))
        return gone

    def flush_seen(self) -> int:
        """The zones' visits noted since the last flush, as one UPDATE (``SeenBook``)."""
        from lz.hub.server.domain import zones

        visits = self.seen.take()
        if visits:
            try:
                self.write(zones.seen_many, visits)
            except Exception:
                self.seen.give_back(visits)
                raise
        return len(visits)

    def refresh_tokens(self) -> int:
        """The tokens in use verified again, in one statement per 500 (``TokenCache``)."""
        from lz.hub.server.domain import accounts

        generation, read_at, digests = self.principals.due()
        found: dict[str, Any] = {}
        for first in range(0, len(digests), 500):
            found.update(self.read(accounts.authenticate_digests, digests[first:first + 500], self.now()))
        self.principals.refreshed(generation, read_at, found, digests)
        return len(digests)

    def requeue_expired(self) -> list[str]:
        """The periodic sweep: leases that ran out, and jobs whose prerequisites (--after) ended."""
        released, ended = self.write_waking(claims.settle_dependents, self.now(), wake=lambda found: bool(found[0]))
        if ended:
            log.info("dependencies not met, jobs ended: %s", " ".join(ended))
        requeued = self.write_waking(claims.requeue_expired, self.now(), wake=bool)
        if requeued:
            log.warning("leases expired, jobs requeued: %s", " ".join(requeued))
        return requeued
