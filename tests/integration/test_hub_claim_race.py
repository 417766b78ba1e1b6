"""Concurrent claims on one database, SQLite and PostgreSQL: many claimers (over two engines, as
two hub processes would be), every job claimed by exactly one of them, none lost; with leases
expiring under the claimers, each attempt is claimed at most once."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from lz.hub.server import db
from lz.hub.server.domain import accounts, claims, jobs, stations, zones
from lz.hub.server.models import HubEvent

pytestmark = pytest.mark.integration


def _world(engine: Engine, n_jobs: int, n_zones: int) -> list[int]:
    now = time.time()
    with db.write(engine) as conn:
        accounts.add_user(conn, "alice", False, now)
        who = accounts.Principal(1, "alice", False, "user", 0)
        sid = stations.create(conn, who, "s", now)
        lz_ids = []
        for i in range(n_zones):
            # claimers here never finish their jobs: no running limit, only exclusivity is tested
            lz_ids.append(zones.register(conn, who, f"lz{i}", {"max_running": 100_000}, now))
            stations.add_zone(conn, who, "s", f"lz{i}", now)
        for i in range(n_jobs):
            jobs.submit(conn, who, sid, f"{i:010x}", f"key{i:08d}", {"name": f"j{i}"}, "", 0, now + i * 1e-3)
    return lz_ids


def _race(engines: list[Engine], lz_ids: list[int], lease_s: float, threads_per_zone: int = 2,
          requeue: bool = False, for_s: float | None = None) -> list[tuple[str, int, int]]:
    """Claim until five empty rounds in a row, or for ``for_s`` seconds (leases that expire keep
    making work)."""
    got: list[tuple[str, int, int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def claimer(index: int, lz_id: int) -> None:
        engine = engines[index % len(engines)]
        empty = 0
        stop = time.monotonic() + (for_s or 1e9)
        try:
            while empty < 5 and time.monotonic() < stop:
                with db.write(engine) as conn:
                    if requeue:
                        claims.requeue_expired(conn, time.time())
                    batch = claims.claim(conn, lz_id, f"lz{lz_id}", time.time(), lease_s, random.randint(1, 4))
                with lock:
                    got.extend((j["id"], j["attempt"], lz_id) for j in batch)
                empty = 0 if batch else empty + 1
                time.sleep(random.random() * 0.01)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    workers = [threading.Thread(target=claimer, args=(i, lz)) for i, lz in
               enumerate(lz_ids * threads_per_zone)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(300)
    assert not errors, errors
    return got


def _engines(url: str, n: int) -> list[Engine]:
    return [db.make_hub_engine(url) for _ in range(n)]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_each_job_is_claimed_once(backend: str, tmp_path: Path, request: Any) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engines = _engines(url, 2)
    db.upgrade(engines[0])
    lz_ids = _world(engines[0], 300, 4)
    got = _race(engines, lz_ids, lease_s=600)
    counts = Counter(job for job, _, _ in got)
    assert len(counts) == 300 and set(counts.values()) == {1}
    assert {a for _, a, _ in got} == {1}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_expiring_leases_never_give_one_attempt_twice(backend: str, tmp_path: Path, request: Any) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engines = _engines(url, 2)
    db.upgrade(engines[0])
    lz_ids = _world(engines[0], 60, 4)
    got = _race(engines, lz_ids, lease_s=0.02, requeue=True, for_s=3)
    counts = Counter((job, attempt) for job, attempt, _ in got)
    assert set(counts.values()) == {1}  # each (job, attempt) went to one claimer
    attempts: dict[str, list[int]] = {}
    for job, attempt, _ in got:
        attempts.setdefault(job, []).append(attempt)
    assert all(sorted(a) == list(range(1, len(a) + 1)) for a in attempts.values())  # no attempt skipped
    events: Any = HubEvent.__table__
    with db.read(engines[0]) as conn:
        claim_events = conn.execute(select(func.count()).where(events.c.event == "claim")).scalar()
    assert claim_events == len(got)
