"""Dependencies between hub jobs (``--after``): refused when unknown or unseen, held out of every
claim while waiting, released or ended failed by the sweep (real hub app, real SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.hub_helpers import HubApp, hub_app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path, lease_s=30) as a:
        yield a


def _finish(app: HubApp, token: str, job_id: str, outcome: str) -> None:
    app.ok("POST", f"/lz/jobs/{job_id}/finish", token, json={
        "name": "lz1", "attempt": 1, "results": False, "facts": {"outcome": outcome, "reason": f"it {outcome}"}})


def test_a_chain_waits_then_a_failure_ends_the_rest(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    first = app.submit(alice).json()["id"]
    second = app.submit(alice, after=[first]).json()["id"]
    third = app.submit(alice, after=[f"{second}:ok"]).json()["id"]
    cleanup = app.submit(alice, after=[f"{second}:failed"]).json()["id"]
    shown = app.ok("GET", f"/jobs/{third}", alice)
    assert shown["after"] == [f"{second}:ok"] and shown["pending_reason"] == f"waiting for job {second} to succeed"
    assert [j["id"] for j in app.claim(alice, max_jobs=10)] == [first]  # the others wait
    app.hub.requeue_expired()
    assert app.claim(alice, max_jobs=10) == []
    _finish(app, alice, first, "succeeded")
    app.hub.requeue_expired()  # the sweep: second may go now
    assert [j["id"] for j in app.claim(alice, max_jobs=10)] == [second]
    _finish(app, alice, second, "failed")
    app.hub.requeue_expired()
    ended = app.ok("GET", f"/jobs/{third}", alice)
    assert (ended["phase"], ended["state"], ended["outcome"], ended["reason"]) == (
        "finished", "cleaned", "failed", f"dependency {second} failed")
    assert [j["id"] for j in app.claim(alice, max_jobs=10)] == [cleanup]


def test_unknown_and_unseen_prerequisites_are_refused(app: HubApp) -> None:
    alice, bob = app.user("alice"), app.user("bob")
    app.station_with_zone(alice)
    app.station_with_zone(bob, station="s2", lz="lz2")
    theirs = app.submit(bob, station="s2").json()["id"]
    for after in ("0123456789", theirs, "abc:maybe"):
        answer = app.submit(alice, after=[after])
        assert answer.status_code == 422, answer.text
    assert "no job '0123456789'" in app.submit(alice, after=["0123456789"]).text
