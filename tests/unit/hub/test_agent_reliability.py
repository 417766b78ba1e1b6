"""The landing zone's agent under issue 20's faults: two attempts of one job held by one zone
(the heartbeat answer names attempts), a wall clock stepped back (every interval is monotonic),
and what a SIGKILL leaves in the incoming and outgoing areas (swept at start and on a timer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lz.config import Settings
from lz.core.job import JobSpec
from lz.hub.agent import beat, outbox
from lz.hub.agent.agent import HubAgent
from lz.hub.agent.client import HubUnavailable
from lz.hub.agent.options import AgentOptions
from lz.hub.agent.outbox import Claim
from lz.hub.agent.pilot import Pilot
from lz.slurm.allocation import Allocation
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import upgrade
from tests.clock import Clock
from tests.unit.hub_helpers import HubApp, hub_app

QUIET = {"lease_s": 30.0, "gone": [], "cancel": [], "gone_jobs": [], "cancel_jobs": [], "controls": []}


class HubThroughApp:
    """The agent's client, answered in process by a real hub app."""

    def __init__(self, app: HubApp, token: str):
        self.app, self.token, self.url = app, token, "http://hub.test"

    def post(self, path: str, payload: Any = None, **_: Any) -> Any:
        return self.app.ok("POST", path.removeprefix("/api/v1"), self.token, json=payload)


class Recording:
    """A hub that answers every heartbeat with ``answer`` and counts them."""

    url = "http://hub.test"

    def __init__(self, answer: dict[str, Any] | None = None):
        self.answer = answer or QUIET
        self.beats = 0

    def post(self, path: str, payload: Any = None, **_: Any) -> Any:
        assert path == "/api/v1/lz/heartbeat"
        self.beats += 1
        return self.answer


class Unreachable:
    url = "http://hub.test"

    def post(self, *_: Any, **__: Any) -> Any:
        raise HubUnavailable("hub unreachable (test)")

    download = put = post


def _agent(tmp_path: Path, client: Any, **kwargs: Any) -> HubAgent:
    settings = Settings(db=tmp_path / "lz" / "lz.db", workdir=tmp_path / "work", runtime="none", name="lz1")
    settings.db.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db)
    upgrade(engine)
    options = AgentOptions("http://hub.test", tmp_path / "token", 2, **kwargs.pop("options", {}))
    return HubAgent(options, client, JobStore(engine), settings, wake=lambda: None, **kwargs)


def _young_job(tmp_path: Path, now: list[float], protocol: int) -> tuple[Reports, HubAgent, str]:
    """An agent on a hub that said ``protocol``, holding a job 0.1 s old by the clock ``now``."""
    client = Reports()
    agent = _agent(tmp_path, client, clock=lambda: now[0])
    client.agent = agent
    agent.hub_protocol = protocol
    local = _hold(agent, "h1", 1)
    now[0] = agent.store.get(local).created_at + 0.1
    return client, agent, local


def _hold(agent: HubAgent, job_id: str, attempt: int) -> str:
    """A claim of ``attempt`` with its local job stored and linked."""
    outbox.record_claim(agent.engine, "http://hub.test", {"id": job_id, "attempt": attempt, "name": "j", "spec": {}},
                        float(attempt))
    local = agent.store.create(JobSpec(name="j", command=("true",)))
    claim = next(c for c in outbox.claims(agent.engine) if c.attempt == attempt)
    outbox.link(agent.engine, claim, local.id)
    return local.id


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path, lease_s=30) as a:
        yield a


# -- 1. the heartbeat acts on (job, attempt) -------------------------------------------------------
def test_a_zone_holding_two_attempts_stops_the_stale_one_and_keeps_the_live_one(app: HubApp, tmp_path: Path) -> None:
    """Issue 20: the answer named job ids, so the agent cancelled the live attempt 2 and let the
    stale attempt 1 run on."""
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    assert [j["attempt"] for j in app.claim(alice)] == [1]
    app.clock.advance(31)  # lz1 was slow past its lease: the job is requeued, and lz1 claims it again
    assert app.hub.requeue_expired() == [job_id]
    assert [j["attempt"] for j in app.claim(alice)] == [2]
    agent = _agent(tmp_path, HubThroughApp(app, alice))
    stale, live = _hold(agent, job_id, 1), _hold(agent, job_id, 2)
    agent.heartbeat()
    assert agent.store.get(stale).state == "collecting"  # cancelled: collecting, then cleaned
    assert agent.store.get(live).state == "received"
    assert {c.attempt: c.lease_lost for c in outbox.claims(agent.engine)} == {1: True, 2: False}
    # a cancel on the hub reaches the live attempt (the stale one is no longer renewed)
    app.ok("POST", f"/jobs/{job_id}/cancel", alice)
    agent._last_beat = None
    agent.heartbeat()
    assert agent.store.get(live).state == "collecting"
    assert [c.cancel_applied for c in outbox.claims(agent.engine) if c.attempt == 2] == [True]


def test_the_heartbeat_answer_names_attempts_and_keeps_the_old_fields(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice)
    app.ok("POST", f"/jobs/{job_id}/control", alice, json={"action": "stop"})
    held = [{"id": job_id, "attempt": 1}, {"id": job_id, "attempt": 7}]
    answer = app.ok("POST", "/lz/heartbeat", alice, json={"name": "lz1", "jobs": held})
    assert answer["gone"] == [job_id] and answer["gone_jobs"] == [{"id": job_id, "attempt": 7}]
    assert answer["cancel"] == [] and answer["cancel_jobs"] == []
    assert answer["controls"] == [{"id": job_id, "attempt": 1, "action": "stop", "by": "alice", "seq": 1}]


def test_an_older_hubs_bare_ids_never_pick_one_of_two_attempts() -> None:
    one, two, other = (Claim("j", 1, "j", {}, "a", 0, False, False), Claim("j", 2, "j", {}, "b", 0, False, False),
                       Claim("k", 1, "k", {}, "c", 0, False, False))
    old = {"lease_s": 30, "gone": ["j", "k"], "cancel": ["k"], "controls": [
        {"id": "j", "action": "stop", "by": "x", "seq": 1}, {"id": "k", "action": "kill", "by": "x", "seq": 1}]}
    found = beat.orders([one, two, other], old)
    assert (found.gone, found.cancel, [c for c, _ in found.controls]) == ([other], [other], [other])
    new = {**old, "gone_jobs": [{"id": "j", "attempt": 1}], "cancel_jobs": [],
           "controls": [{"id": "j", "attempt": 2, "action": "stop", "by": "x", "seq": 1}]}
    found = beat.orders([one, two, other], new)
    assert (found.gone, found.cancel, [c for c, _ in found.controls]) == ([one], [], [two])


# -- 2. a wall clock stepped back holds nothing back -------------------------------------------------
def test_heartbeats_keep_their_pace_when_the_wall_clock_steps_back_an_hour(tmp_path: Path) -> None:
    clock = Clock()
    hub = Recording()
    agent = _agent(tmp_path, hub, clock=clock, monotonic=clock.monotonic)
    agent.heartbeat()
    assert hub.beats == 1 and agent.beat_due_in() == 10.0  # a third of the 30 s lease
    clock.advance(4)
    clock.step(-3600)  # NTP or `date -s`
    agent.heartbeat()
    assert hub.beats == 1 and agent.beat_due_in() == 6.0
    clock.advance(6)
    agent.heartbeat()
    assert hub.beats == 2
    clock.step(+7200)  # and forward: no burst of beats either
    agent.heartbeat()
    assert hub.beats == 2 and agent.beat_due_in() == 10.0


def test_an_idle_zone_beats_at_the_hubs_idle_pace_and_at_the_lease_pace_once_it_holds_a_job(tmp_path: Path) -> None:
    """``idle_beat_s`` (issue 22): 1,000 idle zones beat half as often; a claim brings back the
    lease's pace at the next wake-up (the beater wakes every third of a lease to look)."""
    clock = Clock()
    hub = Recording({**QUIET, "idle_beat_s": 20.0})
    agent = _agent(tmp_path, hub, clock=clock, monotonic=clock.monotonic)
    agent.heartbeat()
    clock.advance(10)
    agent.heartbeat()
    assert hub.beats == 1 and agent.beat_due_in(holding=False) == 10.0
    clock.advance(10)
    agent.heartbeat()
    assert hub.beats == 2
    clock.advance(10)
    _hold(agent, "j1", 1)  # claimed since the last beat: a third of the lease is enough
    agent.heartbeat()
    assert hub.beats == 3


def test_a_pilots_time_left_ignores_a_stepped_wall_clock() -> None:
    clock = Clock()
    pilot = Pilot(Allocation("7", 1, None, (), clock.now + 600, None), clock=clock, monotonic=clock.monotonic)
    clock.step(-3600)
    assert pilot.time_left_s() == 600
    clock.advance(100)
    clock.step(+7200)
    assert pilot.time_left_s() == 500 and pilot.ends_at == clock.now - 3600 - 100 + 600


def test_the_hubs_reaper_keeps_housekeeping_when_the_wall_clock_steps_back() -> None:
    from lz.hub.server.app import _reap

    clock = Clock()
    done: list[str] = []

    class Hub:
        class config:  # noqa: N801
            lease_s = 0.8  # a pass every 0.2 s
            housekeeping_s = 60.0

        def now(self) -> float:
            return clock()

        def requeue_expired(self) -> None:
            clock.advance(61)  # a minute passes between two passes (in this test)

        def housekeeping(self) -> None:
            done.append("housekeeping")
            clock.step(-3600)

    async def run() -> None:
        task = asyncio.create_task(_reap(Hub(), monotonic=clock.monotonic))  # type: ignore[arg-type]
        await asyncio.sleep(0.75)
        task.cancel()

    asyncio.run(run())
    assert len(done) >= 3


# -- 3. leftovers of a SIGKILL -------------------------------------------------------------------------
def test_the_agent_sweeps_what_a_crash_left_and_keeps_what_an_open_claim_owns(tmp_path: Path) -> None:
    agent = _agent(tmp_path, Unreachable())
    outbox.record_claim(agent.engine, "http://hub.test", {"id": "abc", "attempt": 1, "name": "j", "spec": {}}, 1.0)
    incoming, outgoing = agent.incoming, agent.outgoing
    for area in (incoming, outgoing):
        area.mkdir(parents=True)
    kept = [incoming / "abc-1.tar.gz", incoming / ".abc-1.tar.gz.part", outgoing / "abc-1.tar"]
    gone = [incoming / "def-1.tar.gz", incoming / ".abc-2.tar.gz.part", outgoing / "def-3.tar",
            outgoing / "abc-1-0a1b2c.tar", outgoing / "notes.txt"]  # the old name of an archive, a stray file
    for path in kept + gone:
        path.write_bytes(b"x" * 10)
    (incoming / "folder" / "inside").mkdir(parents=True)
    (outgoing / "empty").mkdir()
    agent.start()  # at start
    try:
        assert [p for p in kept if not p.exists()] == []
        assert sorted(p.name for area in (incoming, outgoing) for p in area.iterdir()) == sorted(p.name for p in kept)
    finally:
        agent.stop()


def test_the_sweep_runs_again_on_a_timer(tmp_path: Path) -> None:
    agent = _agent(tmp_path, Unreachable(), options={"sweep_s": 0.0})
    agent.start()
    try:
        late = agent.outgoing / "fed-9.tar"
        late.write_bytes(b"x")
        deadline = time.monotonic() + 10
        while late.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not late.exists()
    finally:
        agent.stop()


# -- issue 23: a job's end is heard at once ----------------------------------------------------------
def test_a_job_whose_process_ended_frees_its_room_and_its_clean_starts_the_upload(tmp_path: Path) -> None:
    from lz.core.records import Transition

    agent = _agent(tmp_path, Unreachable())
    local = _hold(agent, "h1", 1)
    assert agent._busy() == 1
    job = agent.store.get(local)
    agent.on_transition(job, Transition("running", "collecting", "ended", 1.0, None, local, 5))
    assert agent._room.is_set() and agent._kick.is_set()  # the next claim goes out, one claimed ahead is taken in
    agent._kick.clear()
    agent.store.fire(local, "cancel", expect="received")  # collecting: its CPUs are free
    assert agent._busy() == 0
    agent._room.clear()
    agent.on_transition(job, Transition("collecting", "cleaned", "clean", 2.0, None, local, 6))
    assert agent._kick.is_set()  # the results go up now, not at the syncer's next pass
    agent._room.clear()
    agent._kick.clear()
    agent.on_transition(job, Transition("queued", "running", "started", 3.0, None, local, 7))
    assert not agent._room.is_set() and not agent._kick.is_set()  # reported at the syncer's next pass


def test_a_full_pilot_claims_one_job_ahead_and_takes_it_in_once_it_fits(tmp_path: Path) -> None:
    """Issue 23: the next job's claim and bundle are in while the running one finishes; its
    intake waits for its CPUs, so nothing runs beyond the allocation."""
    import dataclasses

    from lz.hub.agent.pilot import Pilot
    from lz.slurm.allocation import Allocation

    agent = _agent(tmp_path, Unreachable())
    pilot = Pilot(Allocation("7", 2, 4000, (), None, None))
    agent.options = dataclasses.replace(agent.options, pilot=pilot, max_running=2)
    assert agent._ahead_room() is not None  # nothing held: the whole allocation
    outbox.record_claim(agent.engine, "http://hub.test", {"id": "h1", "attempt": 1, "name": "j",
                                                          "spec": {"resources": {"cpus": 2}}}, 1.0)
    running = agent.store.create(JobSpec(name="j", command=("true",))).id
    outbox.link(agent.engine, next(iter(outbox.claims(agent.engine))), running)
    assert agent._pilot_room() is None  # both CPUs taken: no ordinary claim
    assert agent._ahead_room() == {"free_cpus": 2, "free_memory_mb": 4000, "free_gpus": 0, "time_left_s": None}
    outbox.record_claim(agent.engine, "http://hub.test", {"id": "h2", "attempt": 1, "name": "j",
                                                          "spec": {"resources": {"cpus": 1}}}, 2.0)
    ahead = next(c for c in outbox.claims(agent.engine) if c.hub_job_id == "h2")
    assert agent._ahead_room() is None  # one claimed ahead at a time
    assert not agent._fits_now(ahead)  # its CPU is still the running job's
    agent.store.fire(running, "cancel", expect="received")  # collecting: its process has ended
    assert agent._fits_now(ahead)


class Reports:
    """A hub that acknowledges every report and records each request's path (and, for a
    report, whether the claim ``h2`` had been taken in by then)."""

    url = "http://hub.test"

    def __init__(self) -> None:
        self.sent: list[tuple[str, bool]] = []
        self.agent: Any = None

    def post(self, path: str, payload: Any = None, **_: Any) -> Any:
        taken_in = any(c.hub_job_id == "h2" and c.local_job_id for c in outbox.claims(self.agent.engine))
        self.sent.append((path, taken_in))
        return {"acknowledged_seq": max([0, *(e["seq"] for e in (payload or {}).get("events", []))])}


def test_a_young_jobs_transitions_wait_for_its_end_and_then_go_in_one_report(tmp_path: Path) -> None:
    """Issue 23: a short job costs one report (the one that frees its room on the hub), not one
    per syncer pass; a job that lives longer than ``report_after_s`` is reported as before."""
    now = [0.0]
    client, agent, local = _young_job(tmp_path, now, protocol=2)
    agent.sync_once()
    for event, expect in (("build", "received"), ("built", "building"), ("started", "queued")):
        agent.store.fire(local, event, expect=expect)
        agent.sync_once()
    assert client.sent == []  # received, building, queued, running: all held back
    agent.store.fire(local, "ended", expect="running")
    agent.sync_once()
    assert [p for p, _ in client.sent] == ["/api/v1/lz/jobs/h1/events"]  # everything in one report
    other = _hold(agent, "h3", 2)
    now[0] = agent.store.get(other).created_at + agent.options.report_after_s
    agent.sync_once()
    assert [p for p, _ in client.sent][1:] == ["/api/v1/lz/jobs/h3/events"]  # no longer young: told
    now[0] = agent.store.get(other).created_at - 3600  # a wall clock stepped back an hour never holds it
    agent.store.fire(other, "build", expect="received")
    agent.sync_once()
    assert [p for p, _ in client.sent][2:] == ["/api/v1/lz/jobs/h3/events"]


def test_a_claim_to_take_in_goes_before_the_round_trips_of_an_ended_job(tmp_path: Path) -> None:
    """Issue 23: the job claimed ahead starts as the last one ends, so its intake comes first in
    a syncer pass, before the report of the job whose end made room for it."""
    from tests.unit.hub_helpers import job_tarball

    client = Reports()
    agent = _agent(tmp_path, client)
    client.agent = agent
    agent.hub_protocol = 2
    agent.incoming.mkdir(parents=True)
    ended = _hold(agent, "h1", 1)
    for event, expect in (("build", "received"), ("built", "building"), ("started", "queued"), ("ended", "running")):
        agent.store.fire(ended, event, expect=expect)
    outbox.record_claim(agent.engine, "http://hub.test", {"id": "h2", "attempt": 1, "name": "next", "spec": {}}, 5.0)
    agent._inline[("h2", 1)] = job_tarball()  # as the claim answer carried it
    agent.sync_once()
    assert client.sent == [("/api/v1/lz/jobs/h1/events", True)]  # h2 was taken in before h1's report


def test_to_a_protocol_3_hub_a_short_job_is_told_only_by_its_finish_and_the_claim_names_it(tmp_path: Path) -> None:
    """Issue 23: the claim names the jobs whose process ended (they take no room on the hub), so
    a short job needs no report at all: its transitions go with its finish."""
    now = [0.0]
    client, agent, local = _young_job(tmp_path, now, protocol=3)
    for event, expect in (("build", "received"), ("built", "building"), ("started", "queued"), ("ended", "running")):
        agent.store.fire(local, event, expect=expect)
        agent.sync_once()
    assert client.sent == []  # its process ended: still nothing of its own
    assert agent._held() == (0, ["h1"])  # what the next claim names
    agent.hub_protocol = 2
    agent.sync_once()
    assert [p for p, _ in client.sent] == ["/api/v1/lz/jobs/h1/events"]  # a protocol-2 hub counts it from a report
