"""Claims, leases and fencing on the hub (the API with a real SQLite database)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lz.hub.server.api.zones_lz import POLL_SPREAD
from tests.unit.hub_helpers import HubApp, hub_app, results_tar


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path, lease_s=30, resubmit_days=0) as a:  # a finished job's bundle goes at once
        yield a


def _report(app: HubApp, token: str, job_id: str, attempt: int, seq: int, to: str = "building",
            lz: str = "lz1") -> object:
    return app.call("POST", f"/lz/jobs/{job_id}/events", token, json={
        "name": lz, "attempt": attempt,
        "events": [{"seq": seq, "from_state": "received", "to_state": to, "event": "build", "at": 1.0}]})


def test_a_job_is_claimed_once_and_runs_its_course(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    claimed = app.claim(alice)
    assert [(j["id"], j["attempt"]) for j in claimed] == [(job_id, 1)]
    assert app.claim(alice) == []  # nobody else gets it
    assert app.call("GET", f"/lz/jobs/{job_id}/bundle", alice, params={"name": "lz1", "attempt": 1}).status_code == 200
    assert _report(app, alice, job_id, 1, 10).json() == {"acknowledged_seq": 10}
    assert _report(app, alice, job_id, 1, 10).json() == {"acknowledged_seq": 10}  # idempotent by seq
    assert app.ok("GET", f"/jobs/{job_id}", alice)["state"] == "building"
    put = app.call("PUT", f"/lz/jobs/{job_id}/results", alice, params={"name": "lz1", "attempt": 1},
                   content=results_tar(b"hello\n"))
    assert put.status_code == 200, put.text
    finish = {"name": "lz1", "attempt": 1, "results": True, "facts": {"outcome": "succeeded", "exit_code": 0}}
    app.ok("POST", f"/lz/jobs/{job_id}/finish", alice, json=finish)
    app.ok("POST", f"/lz/jobs/{job_id}/finish", alice, json=finish)  # a retried finish is harmless
    job = app.ok("GET", f"/jobs/{job_id}", alice)
    assert (job["state"], job["outcome"], job["attempts"], job["results"]) == ("cleaned", "succeeded", 1, True)
    events = [h["event"] for h in job["history"]]
    assert events == ["submit", "claim", "build", "finish"]
    assert app.call("GET", f"/jobs/{job_id}/logs/stdout", alice).content == b"hello\n"
    assert app.call("GET", f"/jobs/{job_id}/results", alice).content == results_tar(b"hello\n")


def test_an_expired_lease_requeues_with_a_new_attempt_and_fences_the_old_one(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    app.ok("POST", "/lz/register", alice, json={"name": "lz2"})
    app.ok("PUT", "/stations/s1/zones/lz2", alice)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice, "lz1")
    app.clock.now += 29
    beat = app.ok("POST", "/lz/heartbeat", alice, json={"name": "lz1", "jobs": [{"id": job_id, "attempt": 1}]})
    assert beat["gone"] == [] and beat["cancel"] == []
    app.clock.now += 31  # lz1 went silent past its renewed lease
    assert app.hub.requeue_expired() == [job_id]
    again = app.claim(alice, "lz2")
    assert [(j["id"], j["attempt"]) for j in again] == [(job_id, 2)]
    # every late word of attempt 1 is refused
    assert _report(app, alice, job_id, 1, 11).status_code == 409
    assert app.call("PUT", f"/lz/jobs/{job_id}/results", alice, params={"name": "lz1", "attempt": 1},
                    content=results_tar()).status_code == 409
    assert app.call("POST", f"/lz/jobs/{job_id}/finish", alice,
                    json={"name": "lz1", "attempt": 1, "results": False}).status_code == 409
    beat = app.ok("POST", "/lz/heartbeat", alice, json={"name": "lz1", "jobs": [{"id": job_id, "attempt": 1}]})
    assert beat["gone"] == [job_id]
    # the same attempt number from the wrong landing zone is refused too
    assert _report(app, alice, job_id, 2, 1, lz="lz1").status_code == 409
    assert _report(app, alice, job_id, 2, 1, lz="lz2").status_code == 200
    app.ok("PUT", f"/lz/jobs/{job_id}/results", alice, params={"name": "lz2", "attempt": 2}, content=results_tar(b"2\n"))
    app.ok("POST", f"/lz/jobs/{job_id}/finish", alice, json={"name": "lz2", "attempt": 2, "results": True,
                                                            "facts": {"outcome": "succeeded"}})
    job = app.ok("GET", f"/jobs/{job_id}", alice)
    assert (job["attempts"], job["landing_zone"], job["outcome"]) == (2, "lz2", "succeeded")
    assert [h["event"] for h in job["history"]] == ["submit", "claim", "requeue", "claim", "build", "finish"]
    assert app.call("GET", f"/jobs/{job_id}/logs/stdout", alice).content == b"2\n"


def test_cancel_of_a_pending_job_ends_it_and_of_a_leased_one_reaches_its_landing_zone(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    leased = app.submit(alice).json()["id"]
    app.clock.now += 1
    pending = app.submit(alice).json()["id"]
    assert [j["id"] for j in app.claim(alice, max_jobs=1)] == [leased]  # the older one
    job = app.ok("POST", f"/jobs/{leased}/cancel", alice)
    assert (job["state"], job["cancel_requested"]) == ("received", True)
    beat = app.ok("POST", "/lz/heartbeat", alice, json={"name": "lz1", "jobs": [{"id": leased, "attempt": 1}]})
    assert beat["cancel"] == [leased]
    job = app.ok("POST", f"/jobs/{pending}/cancel", alice)
    assert (job["state"], job["outcome"]) == ("cleaned", "cancelled")
    assert app.call("POST", f"/jobs/{pending}/cancel", alice).status_code == 409
    assert app.claim(alice) == []


def test_a_cancelled_job_whose_landing_zone_vanished_ends_cancelled(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice)
    app.ok("POST", f"/jobs/{job_id}/cancel", alice)
    app.clock.now += 60
    app.hub.requeue_expired()
    job = app.ok("GET", f"/jobs/{job_id}", alice)
    assert (job["state"], job["outcome"], job["attempts"]) == ("cleaned", "cancelled", 1)


def test_a_retried_submission_creates_one_job(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    first = app.submit(alice, key="same-key-1").json()["id"]
    assert app.submit(alice, key="same-key-1").json()["id"] == first
    assert len(app.ok("GET", "/jobs", alice)) == 1


def test_long_poll_answers_within_a_second_of_a_submission(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    got: dict[str, float] = {}

    def poll() -> None:
        got["jobs"] = len(app.claim(alice, wait_s=10))
        got["at"] = time.monotonic()

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.5)
    submitted = time.monotonic()
    assert app.submit(alice).status_code == 201
    thread.join(15)
    assert got["jobs"] == 1
    assert got["at"] - submitted < 1.0


def test_long_poll_ends_empty_after_its_wait(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    start = time.monotonic()
    assert app.claim(alice, wait_s=0.6) == []
    assert 0.6 * (1 - POLL_SPREAD) - 0.02 < time.monotonic() - start < 3  # it ends in its last quarter


def test_results_are_kept_until_downloaded_and_the_retention_passed(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice)
    app.ok("PUT", f"/lz/jobs/{job_id}/results", alice, params={"name": "lz1", "attempt": 1}, content=results_tar())
    app.ok("POST", f"/lz/jobs/{job_id}/finish", alice, json={"name": "lz1", "attempt": 1, "results": True})
    app.hub.housekeeping()
    assert list((app.hub.files.root / "bundles").iterdir()) == []  # the bundle is not needed any more
    app.clock.now += 90 * 86400
    app.hub.housekeeping()
    assert app.call("GET", f"/jobs/{job_id}/results", alice).status_code == 200  # never downloaded: kept
    app.clock.now += 29 * 86400
    app.hub.housekeeping()
    assert app.call("GET", f"/jobs/{job_id}/results", alice).status_code == 200
    app.clock.now += 2 * 86400
    app.hub.housekeeping()
    assert app.call("GET", f"/jobs/{job_id}/results", alice).status_code == 404
    assert list((app.hub.files.root / "results" / job_id).iterdir()) == []


def test_live_logs_of_a_running_attempt_then_the_logs_of_record(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice)
    send = {"name": "lz1", "attempt": 1}
    assert app.ok("POST", f"/lz/jobs/{job_id}/logs/stdout", alice, params={**send, "offset": 0},
                  content=b"line 1\n") == {"size": 7}
    # a retried chunk is not written twice; a chunk from the wrong place gets the size to resync
    assert app.ok("POST", f"/lz/jobs/{job_id}/logs/stdout", alice, params={**send, "offset": 0},
                  content=b"line 1\n") == {"size": 7}
    assert app.ok("POST", f"/lz/jobs/{job_id}/logs/stdout", alice, params={**send, "offset": 7},
                  content=b"line 2\n") == {"size": 14}
    live = app.call("GET", f"/jobs/{job_id}/logs/stdout", alice, params={"offset": 7})
    assert (live.content, live.headers["x-lz-final"]) == (b"line 2\n", "0")
    bob = app.user("bob")
    assert app.call("GET", f"/jobs/{job_id}/logs/stdout", bob).status_code == 404
    assert app.call("POST", f"/lz/jobs/{job_id}/logs/stdout", alice, params={**send, "attempt": 2, "offset": 14},
                    content=b"x").status_code == 409
    app.ok("PUT", f"/lz/jobs/{job_id}/results", alice, params=send, content=results_tar(b"all of it\n"))
    app.ok("POST", f"/lz/jobs/{job_id}/finish", alice, json={**send, "results": True})
    final = app.call("GET", f"/jobs/{job_id}/logs/stdout", alice)
    assert (final.content, final.headers["x-lz-final"]) == (b"all of it\n", "1")
    app.hub.housekeeping()
    assert not (app.hub.files.root / "logs" / job_id).exists()


def test_hub_metrics_are_read_from_its_database(app: HubApp) -> None:
    """Claims and lease expiries by Station, as any hub process reads them at a scrape."""
    from prometheus_client import CollectorRegistry, generate_latest

    from lz.hub.server import metrics_source
    from lz.metrics.hub import HubMetrics

    token = app.user("alice")
    app.station_with_zone(token)
    app.ok("POST", "/lz/register", token, json={"name": "lz1", "cpus": 4, "max_running": 2})
    for _ in range(2):
        assert app.submit(token).status_code == 201
    assert len(app.claim(token, max_jobs=2)) == 2
    app.clock.now += 31
    assert len(app.hub.requeue_expired()) == 2
    registry = CollectorRegistry()
    engine = app.hub.engine
    HubMetrics(registry, online=metrics_source.online(engine, 60), queued=metrics_source.queued(engine),
               claims=metrics_source.events(engine, "claim"),
               expiries=metrics_source.events(engine, None, "lease of attempt % expired"))
    text = generate_latest(registry).decode()
    assert 'lz_hub_claims_total{station="s1"} 2.0' in text
    assert 'lz_hub_lease_expiries_total{station="s1"} 2.0' in text
    assert 'lz_hub_queued_jobs{station="s1"} 2.0' in text


def test_stop_kill_pause_resume_through_the_hub_reach_the_holding_landing_zone(app: HubApp) -> None:
    """A control request is recorded on the hub (who, which, a sequence number) and handed to
    the landing zone holding the job with its next heartbeat; a job nobody holds is stopped at
    once, and a paused waiting job is held (not claimable) until it is resumed."""
    alice = app.user("alice")
    app.station_with_zone(alice)
    held = app.submit(alice).json()["id"]
    app.clock.now += 1  # oldest first
    waiting = app.submit(alice).json()["id"]
    assert [j["id"] for j in app.claim(alice)] == [held]
    app.ok("POST", f"/jobs/{waiting}/control", alice, json={"action": "pause"})
    assert app.claim(alice) == []  # held while paused
    app.ok("POST", f"/jobs/{waiting}/control", alice, json={"action": "resume"})
    stopped = app.ok("POST", f"/jobs/{waiting}/control", alice, json={"action": "stop"})
    assert (stopped["state"], stopped["outcome"], stopped["reason"]) == ("cleaned", "cancelled", "stopped by alice")
    app.ok("POST", f"/jobs/{held}/control", alice, json={"action": "pause"})
    beat = app.ok("POST", "/lz/heartbeat", alice, json={"name": "lz1", "jobs": [{"id": held, "attempt": 1}]})
    assert beat["controls"] == [{"id": held, "attempt": 1, "action": "pause", "by": "alice", "seq": 1}]
    app.ok("POST", f"/jobs/{held}/control", alice, json={"action": "resume"})
    beat = app.ok("POST", "/lz/heartbeat", alice, json={"name": "lz1", "jobs": [{"id": held, "attempt": 1}]})
    assert beat["controls"] == [{"id": held, "attempt": 1, "action": "resume", "by": "alice", "seq": 2}]
    bad = app.call("POST", f"/jobs/{held}/control", alice, json={"action": "explode"})
    assert bad.status_code == 422
    events = [h["event"] for h in app.ok("GET", f"/jobs/{held}", alice)["history"]]
    assert events[-2:] == ["pause", "resume"]


def test_the_agent_carries_out_a_hub_request_once_as_lz_stop_would(tmp_path: Path) -> None:
    from lz.config import Settings
    from lz.core.job import JobSpec
    from lz.hub.agent.agent import HubAgent
    from lz.hub.agent.options import AgentOptions
    from lz.hub.agent.outbox import Claim
    from lz.store.db import make_engine
    from lz.store.jobs import JobStore
    from lz.store.migrate import upgrade

    settings = Settings(db=tmp_path / "lz.db", workdir=tmp_path / "work", runtime="none")
    engine = make_engine(settings.db)
    upgrade(engine)
    store = JobStore(engine)
    local = store.create(JobSpec(name="j", command=("true",)))
    wakes: list[int] = []
    agent = HubAgent(AgentOptions("http://127.0.0.1:9", tmp_path / "token", 1), None, store, settings,  # type: ignore[arg-type]
                     wake=lambda: wakes.append(1))
    claim = Claim("hubjob", 1, "j", {}, local.id, 0, False, False)
    agent._control_local(claim, {"id": "hubjob", "action": "stop", "by": "alice", "seq": 1})
    agent._control_local(claim, {"id": "hubjob", "action": "stop", "by": "alice", "seq": 1})  # a repeat: once
    job = store.get(local.id)
    assert job.state == "collecting" and job.control_by == "alice (on the hub)"
    assert "stopped by alice (on the hub)" in (job.reason or "") and len(wakes) == 1


@pytest.mark.parametrize("action", ["stop", "kill", "cancel"])
def test_an_accepted_end_survives_the_lease_expiring(app: HubApp, action: str) -> None:
    """Issue 20 (1): a stop or kill accepted for a held job whose landing zone then vanishes used
    to be forgotten at the requeue; another zone ran the job again. Now the job ends cancelled."""
    alice = app.user("alice")
    app.station_with_zone(alice)
    app.ok("POST", "/lz/register", alice, json={"name": "lz2"})
    app.ok("PUT", "/stations/s1/zones/lz2", alice)
    job_id = app.submit(alice).json()["id"]
    assert [j["id"] for j in app.claim(alice, "lz1")] == [job_id]
    if action == "cancel":
        app.ok("POST", f"/jobs/{job_id}/cancel", alice)
    else:
        app.ok("POST", f"/jobs/{job_id}/control", alice, json={"action": action})
    app.clock.now += 31  # lz1 vanished
    assert app.hub.requeue_expired() == [job_id]
    assert app.claim(alice, "lz2") == []
    job = app.ok("GET", f"/jobs/{job_id}", alice)
    word = {"stop": "stopped", "kill": "killed", "cancel": "cancelled"}[action]
    assert (job["state"], job["outcome"]) == ("cleaned", "cancelled")
    assert job["reason"].startswith(f"{word} by ") and "stopped answering" in job["reason"]


def test_an_accepted_stop_survives_a_draining_zone_handing_the_job_back(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice, "lz1")
    app.ok("POST", f"/jobs/{job_id}/control", alice, json={"action": "stop"})
    app.ok("POST", "/lz/release", alice, json={"name": "lz1", "jobs": [{"id": job_id, "attempt": 1}]})
    job = app.ok("GET", f"/jobs/{job_id}", alice)
    assert (job["state"], job["outcome"]) == ("cleaned", "cancelled") and job["reason"].startswith("stopped by alice")
    assert app.claim(alice, "lz1") == []


@pytest.mark.parametrize("facts", [{"started_at": 1e15}, {"ended_at": -5}, {"cpu_seconds": float("inf")},
                                   {"outcome": "<script>"}])
def test_a_landing_zones_impossible_facts_are_refused_and_the_lists_stay_readable(app: HubApp, facts: dict) -> None:
    """Issue 21 (6): one report with a start time of 1e15 made the job list, the Station page and
    the job page answer 500 for everyone, for good. Reported facts are bounded: 422, nothing stored."""
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice)
    body = {"name": "lz1", "attempt": 1, "events": [], "facts": facts}
    refused = app.client.post(f"/api/v1/lz/jobs/{job_id}/events", content=json.dumps(body, allow_nan=True),
                              headers={"content-type": "application/json", **app.auth(alice)})
    assert refused.status_code == 422
    assert [j["id"] for j in app.ok("GET", "/jobs", alice)] == [job_id]
    assert app.ok("GET", f"/jobs/{job_id}", alice)["state"] == "received"


def test_a_landing_zone_reports_an_absurd_figure_as_unknown_and_the_hub_takes_the_report(app: HubApp) -> None:
    """In a CI run under load, sstat's garbage CPU time made every report of a running job a 422;
    the agent sent it again for ever and the job never finished on the hub. The agent now sends
    what is out of the protocol's bounds as null, and the hub takes the rest."""
    from lz.hub.protocol.schemas import facts_within_bounds

    facts, dropped = facts_within_bounds({"outcome": None, "cpu_seconds": 1.8e19, "max_rss_bytes": 1 << 64,
                                          "native_state": "RUNNING", "started_at": 1_700_000_000.0})
    assert dropped == ["cpu_seconds", "max_rss_bytes"]
    assert facts == {"outcome": None, "cpu_seconds": None, "max_rss_bytes": None, "native_state": "RUNNING",
                     "started_at": 1_700_000_000.0}
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice)
    app.ok("POST", f"/lz/jobs/{job_id}/events", alice, json={"name": "lz1", "attempt": 1, "events": [], "facts": facts})
    assert app.ok("GET", f"/jobs/{job_id}", alice)["native_state"] == "RUNNING"


def test_a_zone_whose_job_ended_may_claim_the_next_and_a_pilot_one_ahead(app: HubApp) -> None:
    """Issue 23: the room a job held is free once its process has ended (collected, uploaded:
    it is still leased), and a pilot holds one job more, claimed ahead while its room is taken."""
    alice = app.user("alice")
    app.station_with_zone(alice)
    app.ok("POST", "/lz/register", alice, json={"name": "lz1", "cpus": 1, "max_running": 1})
    for _ in range(4):
        app.submit(alice)
        app.clock.now += 1
    first = app.claim(alice, max_jobs=4)
    assert len(first) == 1 and app.claim(alice) == []  # its one job runs
    _report(app, alice, first[0]["id"], 1, 1, to="collecting")
    assert len(app.claim(alice, max_jobs=4)) == 1  # the next, while the first is collected
    app.ok("POST", "/lz/register", alice, json={"name": "lz1", "cpus": 1, "max_running": 1, "pilot_group": "70"})
    assert len(app.claim(alice, max_jobs=4)) == 1  # a pilot: one ahead
    assert app.claim(alice, max_jobs=4) == []
