"""Usage and credits (issue 26): the price arithmetic in milli-credits, the bounds on what a
landing zone reports, sums per day, Station, user and landing zone, idempotent charging, a job
that waits for credit with its reason, and a running job warned then stopped at the limit."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from lz.hub.server.domain import credits, usage
from lz.hub.server.domain.credits import Limit, Prices
from lz.hub.server.domain.usage import Totals, measured
from lz.hub.server.errors import Invalid
from tests.unit.hub_helpers import HubApp, hub_app, job_tarball

# -- the arithmetic (pure) -------------------------------------------------------------------------


def test_credits_parse_exactly_and_show_with_three_places() -> None:
    assert credits.parse_credits("1.5") == 1500
    assert credits.parse_credits("0.001") == 1
    assert credits.parse_credits("0.1") + credits.parse_credits("0.2") == credits.parse_credits("0.3") == 300
    assert credits.show_credits(1500) == "1.500" and credits.show_credits(7) == "0.007"
    assert credits.show_credits(None) is None
    for bad in ("0.0001", "-1", "nan", "inf", "1e400", "x", "10000000000001"):
        with pytest.raises(Invalid):
            credits.parse_credits(bad)


def test_a_cost_is_rounded_once_on_the_totals_never_per_increment() -> None:
    prices = Prices(cpu_hour_mc=1000, mem_gib_hour_mc=500, gpu_hour_mc=4000)
    assert prices.cost(3600, 0, 0) == 1000
    assert prices.cost(0, 1024 * 3600, 0) == 500  # a GiB for an hour
    assert prices.cost(0, 0, 1800) == 2000
    # 3600 reports of one CPU-second each cost what one report of an hour does
    assert prices.cost(1, 0, 0) == 0 and prices.cost(3600, 0, 0) == 1000
    exact = Fraction(1000 * 10 ** 9, 3600) + Fraction(500 * 10 ** 12, 1024 * 3600) + Fraction(4000 * 10 ** 9, 3600)
    assert prices.cost(10 ** 9, 10 ** 12, 10 ** 9) == math.floor(exact)  # big totals: exact, no float
    assert Prices().free and not prices.free


def test_an_estimate_is_the_resources_over_the_time_limit() -> None:
    prices = Prices(cpu_hour_mc=1000, gpu_hour_mc=10_000)
    assert credits.estimate({"cpus": 4, "gpus": 1, "time_s": 1800}, prices) == 2000 + 5000
    assert credits.estimate({"cpus": 4}, prices) == 0  # no time limit: nothing to bound it by


def test_a_limit_holds_a_job_back_when_its_estimate_would_pass_it() -> None:
    limit = Limit("user ann in station s", 10_000, 9_000)
    assert not limit.reached() and limit.fraction() == Decimal("0.9")
    assert not limit.would_pass(1000) and limit.would_pass(1001)
    assert Limit("x", 10, 10).reached() and Limit("x", 10, 10).would_pass(0)
    assert credits.waiting_reason([limit], 500) is None
    assert credits.waiting_reason([limit], 2000) == ("waiting: credit limit: user ann in station s spent 9.000 of "
                                                     "10.000 credits and this job may cost up to 2.000")


ZONE = SimpleNamespace(cpus=4, memory_mb=8192)


def test_reported_usage_is_bounded_by_the_hubs_clock_and_the_jobs_size() -> None:
    facts = {"started_at": 0.0, "cpu_seconds": 1e12, "max_rss_bytes": 1 << 60}
    after = measured(Totals(), facts, {"cpus": 2}, ZONE, claimed_at=1000.0, ended_at=None, now=1100.0)
    # the start is the claim's (a zone cannot say it started before it had the job), CPU at most
    # every CPU of the zone for the wall time, memory at most the zone's
    assert after == Totals(wall_s=100, cpu_s=400, mem_mib_s=8192 * 100, gpu_s=0)
    assert measured(Totals(), {"cpu_seconds": 50}, {}, ZONE, 1000.0, None, 1100.0) == Totals()  # not started


def test_totals_only_grow_and_memory_is_integrated_over_the_reports() -> None:
    first = measured(Totals(), {"started_at": 1000.0, "cpu_seconds": 30, "max_rss_bytes": 100 << 20}, {"gpus": 2},
                     ZONE, 1000.0, None, 1060.0)
    assert first == Totals(60, 30, 100 * 60, 120)
    lower = measured(first, {"started_at": 1000.0, "cpu_seconds": 5, "max_rss_bytes": 200 << 20}, {"gpus": 2},
                     ZONE, 1000.0, None, 1090.0)
    assert lower == Totals(90, 30, 100 * 60 + 200 * 30, 180)
    again = measured(lower, {"started_at": 1000.0, "cpu_seconds": 5}, {"gpus": 2}, ZONE, 1000.0, None, 1050.0)
    assert again == lower  # an older report, or a clock that went back, charges nothing
    ended = measured(lower, {"started_at": 1000.0, "cpu_seconds": 40}, {"gpus": 2}, ZONE, 1000.0, 1095.0, 9999.0)
    assert ended.wall_s == 95  # the attempt's recorded end caps a late report


# -- on a hub ---------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HubApp]:
    """A hub on SQLite, and on PostgreSQL (hub0017_usage migrated there; row locks, BigInteger sums)."""
    if request.param == "sqlite":
        with hub_app(tmp_path) as a:
            yield a
        return
    from fastapi.testclient import TestClient

    from lz.hub.server.app import create_app
    from lz.hub.server.config import HubConfig
    from tests.clock import Clock
    from tests.unit.hub_helpers import HUB_EPOCH

    clock = Clock(HUB_EPOCH)
    config = HubConfig(db_url=request.getfixturevalue("postgres_url"), files_dir=tmp_path / "files", clock=clock)
    with TestClient(create_app(config)) as client:
        yield HubApp(client, clock)


def _running(app: HubApp, token: str, body: bytes | None = None, **params: Any) -> dict[str, Any]:
    response = app.submit(token, body=body, **params)
    assert response.status_code == 201, response.text
    claimed = app.claim(token)
    assert claimed, "nothing claimed"
    return dict(claimed[0])


def _report(app: HubApp, token: str, job: dict[str, Any], **facts: Any) -> Any:
    return app.ok("POST", f"/lz/jobs/{job['id']}/events", token,
                  json={"name": "lz1", "attempt": job["attempt"], "events": [], "facts": facts})


def test_usage_is_charged_once_per_report_and_summed_per_day_station_user_and_zone(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    app.ok("PUT", "/stations/s1/credits", alice, json={"cpu_hour": "3600", "memory_gib_hour": "0"})
    job = _running(app, alice)
    start = app.clock()
    app.clock.advance(100)
    _report(app, alice, job, started_at=start, cpu_seconds=50.0, max_rss_bytes=1 << 30)
    _report(app, alice, job, started_at=start, cpu_seconds=50.0, max_rss_bytes=1 << 30)  # resent: nothing more
    rows = app.ok("GET", "/usage", alice)
    assert [(r["day"], r["station"], r["user"], r["landing_zone"], r["credits"]) for r in rows] == [
        (usage.day_of(app.clock()), "s1", "alice", "lz1", "50.000")]
    assert rows[0]["memory_gib_hours"] == round(100 / 3600, 3) and rows[0]["credits_mc"] == 50_000
    # the next UTC day gets what the reports bring on it
    app.clock.advance(86_400)
    _report(app, alice, job, started_at=start, cpu_seconds=80.0)
    by_day = app.ok("GET", "/usage", alice, params={"by": "day"})
    assert [r["credits"] for r in by_day] == ["50.000", "30.000"]
    assert app.ok("GET", "/usage", alice, params={"by": "station"}) == [
        {"station": "s1", "cpu_hours": round(80 / 3600, 3), "memory_gib_hours": rows[0]["memory_gib_hours"],
         "gpu_hours": 0.0, "credits": "80.000", "credits_mc": 80_000}]
    assert app.ok("GET", "/usage", alice, params={"since": by_day[1]["day"], "by": "day"})[0]["credits"] == "30.000"
    shown = app.ok("GET", f"/jobs/{job['id']}", alice)
    assert shown["usage"]["credits"] == "80.000"
    # someone else's usage is not theirs to read; a hub admin reads it all
    bob = app.user("bob")
    assert app.ok("GET", "/usage", bob) == []
    root = app.user("root", admin=True)
    assert len(app.ok("GET", "/usage", root, params={"by": "user"})) == 1


def test_prices_follow_user_then_role_then_station_and_only_managers_set_them(app: HubApp) -> None:
    alice, bob = app.user("alice"), app.user("bob")
    app.station_with_zone(alice)
    app.ok("POST", "/stations/s1/invitations", alice, json={"user": "bob", "role": "contributor"})
    app.ok("POST", "/invitations/s1/accept", bob)
    app.ok("PUT", "/stations/s1/credits", alice, json={"cpu_hour": "1", "limit": "100"})
    app.ok("PUT", "/stations/s1/credits", alice, json={"scope": "role", "name": "contributor", "cpu_hour": "2"})
    got = app.ok("PUT", "/stations/s1/credits", alice, json={"scope": "user", "name": "bob", "limit": "5.5"})
    assert {(r["scope"], r["name"], r["cpu_hour"], r["limit"]) for r in got["rules"]} == {
        ("station", None, "1.000", "100.000"), ("role", "contributor", "2.000", None), ("user", "bob", None, "5.500")}
    refused = app.call("PUT", "/stations/s1/credits", bob, json={"cpu_hour": "0"})
    assert refused.status_code == 403 and "manage_members" in refused.json()["detail"]
    assert app.call("PUT", "/stations/s1/credits", alice, json={"cpu_hour": "0.0001"}).status_code == 422
    assert app.ok("GET", "/stations/s1/credits", bob)["spent"] == "0.000"

    def terms(user: str) -> credits.Terms:
        def _read(conn: Any) -> credits.Terms:
            from lz.hub.server.domain import accounts

            return credits.terms(conn, 1, accounts.user_id(conn, user))

        return app.hub.read(_read)  # type: ignore[no-any-return]

    assert terms("bob") == credits.Terms(Prices(2000, 0, 0), 5500, 100_000)
    assert terms("alice") == credits.Terms(Prices(1000, 0, 0), None, 100_000)  # the owner's role has no rule
    # clearing every field removes the rule
    app.ok("PUT", "/stations/s1/credits", alice, json={"scope": "user", "name": "bob", "limit": None})
    assert terms("bob").own_limit_mc is None


def test_a_job_waits_for_credit_and_a_running_one_is_warned_then_stopped(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    app.ok("POST", "/lz/register", alice, json={"name": "lz1", "cpus": 4, "max_running": 8})
    app.ok("PUT", "/stations/s1/credits", alice, json={"cpu_hour": "3600", "limit": "100"})
    job = _running(app, alice)
    start = app.clock()
    app.clock.advance(60)
    _report(app, alice, job, started_at=start, cpu_seconds=85.0)  # 85 of 100: warned, still running
    beat = app.ok("POST", "/lz/heartbeat", alice, json={"name": "lz1", "jobs": [{"id": job["id"], "attempt": 1}]})
    assert beat["controls"] == []
    notes = app.ok("GET", f"/jobs/{job['id']}/notifications", alice)["notifications"]
    assert [n["text"] for n in notes] == [
        f"credit warning: station s1 spent 85.000 of 100.000 credits; job job ({job['id']}) is "
        "stopped when the limit is reached"]
    # a job whose estimate (1 CPU for 20 s: 20 credits) would pass the limit waits, and says why
    waiting = app.submit(alice, time="00:00:20").json()["id"]
    assert app.claim(alice) == []
    status = app.ok("GET", f"/jobs/{waiting}", alice)
    assert status["pending_reason"] == ("waiting: credit limit: station s1 spent 85.000 of 100.000 "
                                        "credits and this job may cost up to 20.000")
    app.clock.advance(60)
    _report(app, alice, job, started_at=start, cpu_seconds=101.0)  # the limit is reached: a stop is asked
    beat = app.ok("POST", "/lz/heartbeat", alice, json={"name": "lz1", "jobs": [{"id": job["id"], "attempt": 1}]})
    assert [(c["action"], c["by"]) for c in beat["controls"]] == [("stop", usage.STOPPED_BY)]
    shown = app.ok("GET", f"/jobs/{job['id']}", alice)
    assert any(h["event"] == "stop" and "credit limit reached: station s1 spent 101.000 of 100.000"
               in (h["detail"] or "") for h in shown["history"])
    texts = [n["text"] for n in app.ok("GET", f"/jobs/{job['id']}/notifications", alice)["notifications"]]
    assert len(texts) == 2 and texts[1].startswith(f"job job ({job['id']}) stopped: credit limit reached")
    _report(app, alice, job, started_at=start, cpu_seconds=110.0)  # more reports ask nothing more
    beat = app.ok("POST", "/lz/heartbeat", alice, json={"name": "lz1", "jobs": [{"id": job["id"], "attempt": 1}]})
    assert [c["seq"] for c in beat["controls"]] == [1]
    # raising the limit lets the waiting job go
    app.ok("PUT", "/stations/s1/credits", alice, json={"limit": "1000"})
    assert [c["id"] for c in app.claim(alice)] == [waiting]


def test_a_report_for_an_attempt_the_zone_never_held_charges_nothing(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    job = _running(app, alice, body=job_tarball())

    def _charge(conn: Any) -> usage.Charged:
        return usage.charge(conn, 99, job["id"], 1, {"started_at": 0.0, "cpu_seconds": 5.0}, app.clock() + 50)

    assert app.hub.write(_charge).increments == {}
    assert app.ok("GET", "/usage", alice) == []


def test_jobs_of_a_user_out_of_credit_do_not_hide_others_jobs_from_the_claim(app: HubApp) -> None:
    alice, bob = app.user("alice"), app.user("bob")
    app.station_with_zone(alice)
    app.ok("POST", "/lz/register", alice, json={"name": "lz1", "cpus": 4, "max_running": 8})
    app.ok("POST", "/stations/s1/invitations", alice, json={"user": "bob", "role": "contributor"})
    app.ok("POST", "/invitations/s1/accept", bob)
    app.ok("PUT", "/stations/s1/credits", alice, json={"cpu_hour": "3600"})
    app.ok("PUT", "/stations/s1/credits", alice, json={"scope": "role", "name": "owner", "limit": "10"})
    job = _running(app, alice)
    app.clock.advance(30)
    _report(app, alice, job, started_at=job["lease_expires"] - 30, cpu_seconds=20.0)  # 20 of 10: out of credit

    def exhausted(conn: Any) -> list[tuple[int, int | None]]:
        return credits.exhausted(conn)

    assert app.hub.read(exhausted) == [(1, 1)]
    for _ in range(80):  # more than the claim's look-ahead
        assert app.submit(alice).status_code == 201
    app.clock.advance(1)
    theirs = app.submit(bob).json()["id"]
    assert [c["id"] for c in app.claim(alice)] == [theirs]


def test_each_attempt_is_charged_its_own_and_a_finish_charges_the_rest_once(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    app.ok("PUT", "/stations/s1/credits", alice, json={"cpu_hour": "3600", "gpu_hour": "0"})
    job = _running(app, alice)
    start = app.clock()
    app.clock.advance(40)
    _report(app, alice, job, started_at=start, cpu_seconds=10.0)
    # the first attempt is lost by its zone: what it used is charged, and stays charged
    lost = {"name": "lz1", "attempt": 1, "results": False,
            "facts": {"outcome": "lost", "started_at": start, "cpu_seconds": 12.0}}
    app.ok("POST", f"/lz/jobs/{job['id']}/finish", alice, json=lost)
    [again] = app.claim(alice)
    assert again["attempt"] == 2
    second = app.clock()
    app.clock.advance(60)
    done = {"name": "lz1", "attempt": 2, "results": False,
            "facts": {"outcome": "succeeded", "started_at": second, "ended_at": second + 50, "cpu_seconds": 45.0}}
    app.ok("POST", f"/lz/jobs/{job['id']}/finish", alice, json=done)
    app.clock.advance(600)
    app.ok("POST", f"/lz/jobs/{job['id']}/finish", alice, json=done)  # a resent finish: nothing more
    assert app.ok("GET", f"/jobs/{job['id']}", alice)["usage"]["credits"] == "57.000"  # 12 + 45 CPU-seconds

    def attempts(conn: Any) -> list[tuple[int, int, int]]:
        from sqlalchemy import select

        return [(r.attempt, r.wall_s, r.cpu_s) for r in conn.execute(
            select(usage.usage_t).where(usage.usage_t.c.job_id == job["id"]).order_by(usage.usage_t.c.attempt))]

    assert app.hub.read(attempts) == [(1, 40, 12), (2, 50, 45)]  # the second's wall time ends where it ended
