"""The hub gives a landing zone only jobs it can run, never more than its limit, and says why a
job waits."""

from __future__ import annotations

from pathlib import Path

from tests.unit.hub_helpers import hub_app


def test_a_job_too_big_for_every_landing_zone_waits_and_says_why(tmp_path: Path) -> None:
    with hub_app(tmp_path) as app:
        alice = app.user("alice")
        app.station_with_zone(alice, "s1", "lz1")  # 4 CPUs
        big = app.submit(alice, "s1", cpus="64").json()["id"]
        small = app.submit(alice, "s1", cpus="2").json()["id"]
        claimed = app.claim(alice, "lz1", max_jobs=4)
        assert [j["id"] for j in claimed] == [small]
        job = app.ok("GET", f"/jobs/{big}", alice)
        assert job["phase"] == "pending"
        assert job["pending_reason"] == "waiting: no landing zone of station s1 has 64 CPUs (largest: 4)"
        listed = {j["id"]: j for j in app.ok("GET", "/jobs", alice)}
        assert listed[big]["pending_reason"] == job["pending_reason"]
        # a bigger landing zone joins: the job goes there
        app.ok("POST", "/lz/register", alice, json={"name": "big", "cpus": 128})
        app.ok("PUT", "/stations/s1/zones/big", alice)
        assert app.ok("GET", f"/jobs/{big}", alice)["pending_reason"] == "waiting for a landing zone"
        assert [j["id"] for j in app.claim(alice, "big")] == [big]


def test_never_more_than_the_landing_zone_can_run(tmp_path: Path) -> None:
    with hub_app(tmp_path) as app:
        alice = app.user("alice")
        app.ok("POST", "/stations", alice, json={"name": "s1"})
        app.ok("POST", "/lz/register", alice, json={"name": "lz1", "cpus": 8, "max_running": 2})
        app.ok("PUT", "/stations/s1/zones/lz1", alice)
        for _ in range(5):
            app.submit(alice, "s1")
        assert len(app.claim(alice, "lz1", max_jobs=8)) == 2
        assert app.claim(alice, "lz1", max_jobs=8) == []  # it holds two: its limit


def test_a_station_without_landing_zones(tmp_path: Path) -> None:
    with hub_app(tmp_path) as app:
        alice = app.user("alice")
        app.ok("POST", "/stations", alice, json={"name": "lonely"})
        job = app.submit(alice, "lonely").json()["id"]
        assert app.ok("GET", f"/jobs/{job}", alice)["pending_reason"] == "waiting: station lonely has no landing zone"
