"""Races on PostgreSQL between two connections (as two hub processes would hold), each order
forced by a transaction that holds its row lock while the other side runs (issue 20 (a)):

- a cancel, stop or pause of a waiting job against a claim: whoever locks the row first decides,
  the other side sees what it committed (a claim skips the locked row; a request waits for it and
  is decided again on the row as it is now), and neither is lost nor done twice;
- two hubs reaping the same expired lease: exactly one requeue, attempt + 1 once;
- a finish against the expiry of its lease: exactly one of them wins.

The ``_request`` of ``lz.hub.server.domain.jobs`` locks the row (FOR UPDATE) and writes under a
phase-and-attempt guard; these tests are what shows that it holds on a real server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from lz.hub.server import db
from lz.hub.server.domain import accounts, claims, jobs, stations, zones
from lz.hub.server.errors import Conflict
from lz.hub.server.models import HubAttempt, HubEvent, HubJob

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

ALICE = accounts.Principal(1, "alice", False, "user", 0)
jobs_t: Any = HubJob.__table__
events_t: Any = HubEvent.__table__
attempts_t: Any = HubAttempt.__table__


@pytest.fixture
def engines(postgres_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one database (two hub processes), with a Station, two zones and a job."""
    one, two = db.make_hub_engine(postgres_url), db.make_hub_engine(postgres_url)
    db.upgrade(one)
    now = time.time()
    with db.write(one) as conn:
        accounts.add_user(conn, "alice", False, now)
        sid = stations.create(conn, ALICE, "s", now)
        for name in ("lz1", "lz2"):
            zones.register(conn, ALICE, name, {"max_running": 10}, now)
            stations.add_zone(conn, ALICE, "s", name, now)
        jobs.submit(conn, ALICE, sid, "00000000aa", "key-0000", {"name": "j"}, "", 0, now)
    yield one, two
    one.dispose()
    two.dispose()


def _job(engine: Engine) -> Any:
    with db.read(engine) as conn:
        return conn.execute(select(jobs_t).where(jobs_t.c.id == "00000000aa")).one()


def _events(engine: Engine, event: str) -> int:
    with db.read(engine) as conn:
        return int(conn.execute(select(func.count()).where(events_t.c.event == event)).scalar_one())


def _claim(conn: Any, lz_id: int = 1, lease_s: float = 600.0, now: float | None = None) -> list[Any]:
    return claims.claim(conn, lz_id, f"lz{lz_id}", time.time() if now is None else now, lease_s, 1)


def _request(conn: Any, action: str) -> Any:
    if action == "cancel":
        return jobs.cancel(conn, ALICE, "00000000aa", time.time())
    return jobs.control(conn, ALICE, "00000000aa", action, time.time())


class _Blocked:
    """``fn`` on its own connection in a thread, which must wait for a lock held elsewhere."""

    def __init__(self, engine: Engine, fn: Callable[[Any], Any]):
        self.result: Any = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                with db.write(engine) as conn:
                    self.result = fn(conn)
            except BaseException as exc:  # surfaced by join()
                self.error = exc

        self.thread = threading.Thread(target=run)
        self.thread.start()
        time.sleep(0.5)
        assert self.thread.is_alive(), "it did not wait for the row lock"

    def join(self) -> Any:
        self.thread.join(30)
        assert not self.thread.is_alive()
        return self.result


@pytest.mark.parametrize("action", ["cancel", "stop", "pause"])
def test_a_claim_that_locks_first_wins_and_the_request_is_recorded_on_the_held_job(
        engines: tuple[Engine, Engine], action: str) -> None:
    one, two = engines
    with db.write(one) as conn:
        assert [j["id"] for j in _claim(conn)] == ["00000000aa"]
        blocked = _Blocked(two, lambda c: _request(c, action))  # waits on the claim's lock
    blocked.join()
    assert blocked.error is None, blocked.error
    job = _job(one)
    assert (job.phase, job.lease_owner, job.attempt) == ("leased", 1, 1)  # the claim stands
    assert bool(job.cancel_requested) == (action == "cancel") and job.control == (None if action == "cancel" else action)
    assert _events(one, "claim") == 1 and _events(one, action) == 1  # each recorded once


@pytest.mark.parametrize("action", ["cancel", "stop", "pause"])
def test_a_request_that_locks_first_wins_and_the_claim_passes_the_job_by(
        engines: tuple[Engine, Engine], action: str) -> None:
    one, two = engines
    with db.write(one) as conn:
        _request(conn, action)
        with db.write(two) as other:
            assert _claim(other, 2) == []  # SKIP LOCKED: the row being decided is not a candidate
    with db.write(two) as other:
        assert _claim(other, 2) == []  # ended (cancel, stop) or held (pause): never claimable
    job = _job(one)
    assert job.phase == ("pending" if action == "pause" else "finished") and job.lease_owner is None
    assert job.outcome == (None if action == "pause" else "cancelled")
    assert _events(one, "claim") == 0 and _events(one, action) == 1


def test_two_hubs_reaping_one_expired_lease_requeue_it_once(engines: tuple[Engine, Engine]) -> None:
    one, two = engines
    with db.write(one) as conn:
        _claim(conn, lease_s=0.01)
    time.sleep(0.05)
    with db.write(one) as conn:  # the first reaper holds its lock while the second runs
        assert claims.requeue_expired(conn, time.time()) == ["00000000aa"]
        with db.write(two) as other:
            assert claims.requeue_expired(other, time.time()) == []
    with db.write(two) as other:
        assert claims.requeue_expired(other, time.time()) == []
    job = _job(one)
    assert (job.phase, job.attempt, job.failures) == ("pending", 2, 1)
    assert _events(one, "requeue") == 1
    with db.read(one) as conn:
        assert conn.execute(select(attempts_t.c.ended)).scalars().all() == ["expired"]


def test_two_hubs_reaping_at_the_same_moment_requeue_each_lease_once(engines: tuple[Engine, Engine]) -> None:
    """The same without a forced order: both reapers released by a barrier, twenty times over."""
    one, two = engines
    for round_ in range(20):
        with db.write(one) as conn:
            assert len(_claim(conn, lease_s=0.01)) == 1
        time.sleep(0.03)
        barrier = threading.Barrier(2)
        found: list[list[str]] = []

        def reap(engine: Engine, barrier: threading.Barrier, found: list[list[str]]) -> None:
            barrier.wait()
            with db.write(engine) as conn:
                found.append(claims.requeue_expired(conn, time.time()))

        threads = [threading.Thread(target=reap, args=(e, barrier, found)) for e in (one, two)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(len(f) for f in found) == [0, 1], (round_, found)
        if _job(one).phase == "finished":
            break  # its attempts ran out (max 3): it ended lost, once
    job = _job(one)
    assert (job.phase, job.outcome, job.failures) == ("finished", "lost", 3)
    assert _events(one, "requeue") == 2 and _events(one, "lost") == 1 and _events(one, "cancel") == 0


@pytest.mark.parametrize("first", ["finish", "expiry"])
def test_a_finish_and_the_expiry_of_its_lease_exactly_one_wins(engines: tuple[Engine, Engine], first: str) -> None:
    one, two = engines
    with db.write(one) as conn:
        _claim(conn, lease_s=0.01)
    time.sleep(0.05)

    def finish(conn: Any) -> Any:
        return claims.finish(conn, 1, "00000000aa", 1, None, {"outcome": "succeeded"}, time.time())

    if first == "finish":
        with db.write(one) as conn:
            assert finish(conn) is True
            with db.write(two) as other:
                assert claims.requeue_expired(other, time.time()) == []  # skips the locked row
        with db.write(two) as other:
            assert claims.requeue_expired(other, time.time()) == []  # finished: nothing to reap
        job = _job(one)
        assert (job.phase, job.outcome, job.attempt) == ("finished", "succeeded", 1)
        assert _events(one, "requeue") == 0
    else:
        with db.write(one) as conn:
            assert claims.requeue_expired(conn, time.time()) == ["00000000aa"]
            blocked = _Blocked(two, finish)  # waits on the reaper's lock, then sees attempt 2
        blocked.join()
        assert isinstance(blocked.error, Conflict), blocked.error
        job = _job(one)
        assert (job.phase, job.outcome, job.attempt) == ("pending", None, 2)
        assert _events(one, "finish") == 0
    assert _events(one, "finish") + _events(one, "requeue") == 1
