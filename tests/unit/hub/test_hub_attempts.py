"""Failed attempts on the hub (issue 20): a landing zone's ``lost`` is a failed attempt, not the
job's end; failures are bounded per Station and per job; every attempt is recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.hub_helpers import HubApp, hub_app, results_tar


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path, lease_s=30) as a:
        yield a


def _two_zones(app: HubApp) -> str:
    alice = app.user("alice")
    app.station_with_zone(alice)
    app.ok("POST", "/lz/register", alice, json={"name": "lz2"})
    app.ok("PUT", "/stations/s1/zones/lz2", alice)
    return alice


def _finish(app: HubApp, token: str, job_id: str, lz: str, attempt: int, outcome: str, results: bool = False) -> None:
    app.ok("POST", f"/lz/jobs/{job_id}/finish", token, json={
        "name": lz, "attempt": attempt, "results": results, "facts": {"outcome": outcome, "reason": "machine crashed"}})


def test_a_lost_finish_queues_the_job_again_and_refuses_that_attempts_results(app: HubApp) -> None:
    alice = _two_zones(app)
    job_id = app.submit(alice).json()["id"]
    assert [j["attempt"] for j in app.claim(alice, "lz1")] == [1]
    app.ok("PUT", f"/lz/jobs/{job_id}/results", alice, params={"name": "lz1", "attempt": 1}, content=results_tar())
    stored = app.hub.files.path(app.hub.files.results_name(job_id, 1))
    assert stored.exists()
    _finish(app, alice, job_id, "lz1", 1, "lost", results=True)
    job = app.ok("GET", f"/jobs/{job_id}", alice)
    assert (job["phase"], job["outcome"], job["attempts"], job["results"], job["failed_attempts"]) == (
        "pending", None, 2, False, 1)
    assert not stored.exists()  # not accepted, and removed
    assert job["history"][-1]["event"] == "requeue" and "lost" in job["history"][-1]["detail"]
    assert app.call("POST", f"/lz/jobs/{job_id}/finish", alice,  # the lost attempt has no more say
                    json={"name": "lz1", "attempt": 1, "results": False}).status_code == 409
    assert [j["attempt"] for j in app.claim(alice, "lz2")] == [2]  # at once, not after a lease
    _finish(app, alice, job_id, "lz2", 2, "succeeded")
    job = app.ok("GET", f"/jobs/{job_id}", alice)
    assert (job["phase"], job["outcome"]) == ("finished", "succeeded")
    assert [(a["attempt"], a["landing_zone"], a["ended"]) for a in job["attempt_history"]] == [
        (1, "lz1", "lost"), (2, "lz2", "succeeded")]
    assert all(a["claimed_at"] and a["ended_at"] for a in job["attempt_history"])


def test_a_lost_finish_of_a_job_its_user_stopped_ends_it_cancelled(app: HubApp) -> None:
    alice = _two_zones(app)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice, "lz1")
    app.ok("POST", f"/jobs/{job_id}/control", alice, json={"action": "stop"})
    _finish(app, alice, job_id, "lz1", 1, "lost")
    job = app.ok("GET", f"/jobs/{job_id}", alice)
    assert (job["phase"], job["outcome"], job["attempts"]) == ("finished", "cancelled", 1)
    assert "stopped by alice" in job["reason"]


def test_attempts_are_bounded_by_the_station_and_the_reason_lists_each(app: HubApp) -> None:
    alice = _two_zones(app)
    assert app.ok("PUT", "/stations/s1", alice, json={"max_attempts": 2})["max_attempts"] == 2
    job_id = app.submit(alice, max_attempts=5).json()["id"]  # capped by the Station's
    assert app.ok("GET", f"/jobs/{job_id}", alice)["max_attempts"] == 2
    app.claim(alice, "lz1")
    app.clock.now += 31
    assert app.hub.requeue_expired() == [job_id]
    assert [j["attempt"] for j in app.claim(alice, "lz2")] == [2]
    _finish(app, alice, job_id, "lz2", 2, "lost")
    job = app.ok("GET", f"/jobs/{job_id}", alice)
    assert (job["phase"], job["outcome"], job["state"], job["failed_attempts"]) == ("finished", "lost", "cleaned", 2)
    assert "2 of 2 attempts failed" in job["reason"]
    assert "#1 on lz1: expired" in job["reason"] and "#2 on lz2: lost (machine crashed)" in job["reason"]
    assert app.claim(alice, "lz1") == []
    assert [(a["landing_zone"], a["ended"]) for a in job["attempt_history"]] == [("lz1", "expired"), ("lz2", "lost")]


def test_a_lease_that_keeps_expiring_ends_the_job_lost(app: HubApp) -> None:
    alice = _two_zones(app)
    job_id = app.submit(alice, max_attempts=1).json()["id"]
    app.claim(alice, "lz1")
    app.clock.now += 31
    app.hub.requeue_expired()
    job = app.ok("GET", f"/jobs/{job_id}", alice)
    assert (job["phase"], job["outcome"], job["attempts"]) == ("finished", "lost", 1)
    assert "its landing zone stopped answering on attempt 1: 1 of 1 attempts failed" in job["reason"]
    assert job["history"][-1]["event"] == "lost"


def test_a_hand_back_is_no_failure(app: HubApp) -> None:
    alice = _two_zones(app)
    job_id = app.submit(alice, max_attempts=1).json()["id"]
    for attempt in (1, 2):
        app.claim(alice, "lz1")
        app.ok("POST", "/lz/release", alice, json={"name": "lz1", "jobs": [{"id": job_id, "attempt": attempt}]})
    job = app.ok("GET", f"/jobs/{job_id}", alice)
    assert (job["phase"], job["attempts"], job["failed_attempts"]) == ("pending", 3, 0)
    assert [a["ended"] for a in job["attempt_history"]] == ["released", "released"]
    assert job["attempt_history"][0]["detail"] == "handed back by its draining landing zone"


def test_only_owners_and_admins_change_a_station_and_bad_values_are_refused(app: HubApp) -> None:
    alice = _two_zones(app)
    bob = app.user("bob")
    app.ok("POST", "/stations/s1/members", alice, json={"user": "bob"})
    refused = app.call("PUT", "/stations/s1", bob, json={"max_attempts": 5})
    assert refused.status_code == 403 and "(manage_members:" in refused.json()["detail"]
    assert app.call("PUT", "/stations/s1", alice, json={"max_attempts": 0}).status_code == 422
    assert app.call("PUT", "/stations/s1", alice, json={"max_attempts": 5, "x": 1}).status_code == 422
    assert app.call("POST", "/stations/s1/jobs", alice, params={"key": "k" * 8, "max_attempts": 0},
                    content=b"").status_code == 422
    assert app.ok("GET", "/stations/s1", bob)["max_attempts"] == 3


def test_lz_status_of_one_job_lists_its_attempts(app: HubApp) -> None:
    from lz.cli.remote_jobs import _details

    alice = _two_zones(app)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice, "lz1")
    _finish(app, alice, job_id, "lz1", 1, "lost")
    app.claim(alice, "lz2")
    text = _details(app.ok("GET", f"/jobs/{job_id}", alice))
    assert "attempts (at most 3 may fail):" in text
    assert "#1  lz1" in text and "lost  machine crashed" in text
    assert "#2  lz2" in text and "(running)" in text
