"""The hub's metrics, read from its database at each scrape: landing zones online, jobs waiting
by Station, claims and lease expiries by Station. Read, not counted in one process: several hub
processes behind a load balancer share one database, and any of them answers for all."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from sqlalchemy import Engine, func, select

from lz.hub.server.models import HubEvent, HubJob, LandingZone, Station

zones_t = LandingZone.__table__
jobs_t = HubJob.__table__
events_t = HubEvent.__table__
stations_t = Station.__table__


def online(engine: Engine, online_s: float) -> Callable[[], int]:
    def count() -> int:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(zones_t)
                                    .where(zones_t.c.last_seen > time.time() - online_s)).scalar() or 0)
    return count


def queued(engine: Engine) -> Callable[[], Mapping[str, int]]:
    def by_station() -> Mapping[str, int]:
        query = (select(stations_t.c.name, func.count()).select_from(jobs_t.join(stations_t))
                 .where(jobs_t.c.phase == "pending").group_by(stations_t.c.name))
        with engine.connect() as conn:
            return {name: int(n) for name, n in conn.execute(query)}
    return by_station


def events(engine: Engine, event: str | None, detail_like: str | None = None) -> Callable[[], Mapping[str, int]]:
    """How many hub events of a kind each Station's jobs had (claims; lease expiries)."""
    def by_station() -> Mapping[str, int]:
        query = (select(stations_t.c.name, func.count())
                 .select_from(events_t.join(jobs_t, events_t.c.job_id == jobs_t.c.id).join(stations_t))
                 .group_by(stations_t.c.name))
        if event is not None:
            query = query.where(events_t.c.event == event)
        if detail_like is not None:
            query = query.where(events_t.c.detail.like(detail_like))
        with engine.connect() as conn:
            return {name: int(n) for name, n in conn.execute(query)}
    return by_station
