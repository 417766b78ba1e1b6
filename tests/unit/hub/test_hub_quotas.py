"""Quotas (issue 21): pending jobs, running jobs and bytes stored, per Station and per user;
refusals in one line before the upload is read, counted again under a lock when the job is made
(two concurrent submissions with room for one: exactly one gets in), the running quota holding
jobs pending at claim time, and a cancelled waiting job's bundle gone at once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lz.hub.server import uploads
from lz.hub.server.app import create_app
from lz.hub.server.config import HubConfig
from tests.unit.hub_helpers import HUB_EPOCH, HubApp, hub_app, job_tarball, results_tar

TARBALL = job_tarball()


def _bundles(app: HubApp) -> list[str]:
    return sorted(p.name for p in (app.hub.files.root / "bundles").iterdir())


def _roomy_station(app: HubApp, token: str) -> None:
    """Station s1 served by lz1, which runs up to 8 jobs at once (its own limit is not what binds)."""
    app.station_with_zone(token)
    app.ok("POST", "/lz/register", token, json={"name": "lz1", "cpus": 4, "max_running": 8})


def _submitted(app: HubApp, token: str) -> str:
    """A new job, a second younger than the one before (claims take the oldest first)."""
    app.clock.advance(1)
    response = app.submit(token)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _refused(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail
    return detail


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path, station_pending=2, user_pending=3) as a:
        yield a


def test_a_full_station_refuses_the_next_job_with_409_naming_limit_and_use(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    assert [app.submit(alice).status_code for _ in range(2)] == [201, 201]
    detail = _refused(app.submit(alice), 409)
    assert detail == "Station s1: 2 pending jobs is its limit and it has 2 (nothing was submitted)"
    assert len(_bundles(app)) == 2  # nothing of the refused upload was kept
    assert app.ok("GET", "/stations/s1/quota", alice)["pending"] == {"limit": 2, "used": 2, "own": False}


def test_a_user_is_bounded_across_stations(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    app.station_with_zone(alice, "s2", "lz2")
    assert [app.submit(alice, "s1").status_code for _ in range(2)] == [201, 201]
    assert app.submit(alice, "s2").status_code == 201
    detail = _refused(app.submit(alice, "s2"), 409)
    assert detail == "user alice: 3 pending jobs is the limit per user and they have 3 (nothing was submitted)"


def test_a_cancelled_waiting_job_frees_its_place_and_its_bundle_at_once(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    first = app.submit(alice).json()["id"]
    app.submit(alice)
    assert len(_bundles(app)) == 2
    app.ok("POST", f"/jobs/{first}/cancel", alice)
    assert f"{first}.tar.gz" not in _bundles(app) and len(_bundles(app)) == 1  # not left to housekeeping
    assert app.ok("GET", "/stations/s1/quota", alice)["bytes"]["used"] == len(TARBALL)
    assert app.submit(alice).status_code == 201


def test_a_stopped_waiting_job_drops_its_bundle_too(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    app.ok("POST", f"/jobs/{job_id}/control", alice, json={"action": "kill"})
    assert _bundles(app) == []


def test_bytes_are_refused_by_the_declared_length_before_anything_is_read(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with hub_app(tmp_path, station_bytes=len(TARBALL) + 10) as app:
        alice = app.user("alice")
        app.station_with_zone(alice)
        assert app.submit(alice, body=TARBALL).status_code == 201

        def _never(*_args: Any) -> Any:
            raise AssertionError("the upload was read")

        monkeypatch.setattr(app.hub.files, "receive", _never)
        detail = _refused(app.submit(alice, body=TARBALL), 413)
        assert detail.startswith("Station s1: ") and "stored is its limit and it has" in detail
        assert detail.endswith(f"this upload is {len(TARBALL)} bytes (nothing was submitted)")


def test_bytes_without_a_declared_length_are_counted_when_the_job_is_made(tmp_path: Path) -> None:
    with hub_app(tmp_path, user_bytes=len(TARBALL) + 10) as app:
        alice = app.user("alice")
        app.station_with_zone(alice)
        assert app.submit(alice, body=TARBALL).status_code == 201
        chunked = app.call("POST", "/stations/s1/jobs", alice, params={"key": "chunked-0001"},
                           content=iter([TARBALL]))  # no Content-Length: only the stored size tells
        assert "user alice: " in _refused(chunked, 413)
        assert len(_bundles(app)) == 1 and list((app.hub.files.root / "incoming").iterdir()) == []
        assert app.ok("GET", "/stations/s1/quota", alice)["pending"]["used"] == 1


def test_results_kept_count_toward_the_bytes(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    [claimed] = app.claim(alice)
    send = {"name": "lz1", "attempt": claimed["attempt"]}
    app.ok("PUT", f"/lz/jobs/{job_id}/results", alice, params=send, content=results_tar())
    app.ok("POST", f"/lz/jobs/{job_id}/finish", alice, json={**send, "results": True,
                                                             "facts": {"outcome": "succeeded", "exit_code": 0}})
    used = app.ok("GET", "/stations/s1/quota", alice)["bytes"]["used"]
    assert used > len(results_tar())  # its bundle is kept for "submit again" (resubmit_days, 7)
    app.clock.now += 8 * 86400
    app.hub.housekeeping()  # the finished job's bundle goes; its results stay
    used = app.ok("GET", "/stations/s1/quota", alice)["bytes"]["used"]
    assert used == len(results_tar())


def test_the_running_quota_holds_jobs_pending_never_refuses_them(app: HubApp) -> None:
    alice = app.user("alice")
    _roomy_station(app, alice)
    app.ok("PUT", "/stations/s1/quota", alice, json={"running": 1})
    first, second = (_submitted(app, alice) for _ in range(2))
    assert [j["id"] for j in app.claim(alice, max_jobs=4)] == [first]
    assert app.claim(alice, max_jobs=4) == []
    assert app.ok("GET", f"/jobs/{second}", alice)["phase"] == "pending"
    app.ok("POST", f"/lz/jobs/{first}/finish", alice, json={"name": "lz1", "attempt": 1, "results": False,
                                                            "facts": {"outcome": "succeeded", "exit_code": 0}})
    assert [j["id"] for j in app.claim(alice, max_jobs=4)] == [second]


def test_the_users_running_quota_spans_stations(tmp_path: Path) -> None:
    with hub_app(tmp_path, user_running=1) as app:
        alice, bob = app.user("alice"), app.user("bob")
        _roomy_station(app, alice)
        app.ok("POST", "/stations/s1/members", alice, json={"user": "bob"})
        mine = [_submitted(app, alice) for _ in range(2)]
        theirs = _submitted(app, bob)
        assert sorted(j["id"] for j in app.claim(alice, max_jobs=4)) == sorted([mine[0], theirs])


def test_who_reads_and_who_sets_a_station_quota(app: HubApp) -> None:
    owner, member, admin, stranger = (app.user(n, admin=n == "root") for n in ("alice", "bob", "root", "eve"))
    app.station_with_zone(owner)
    app.ok("POST", "/stations/s1/members", owner, json={"user": "bob"})
    assert app.ok("GET", "/stations/s1/quota", member)["running"] == {"limit": 1000, "used": 0, "own": False}
    assert app.call("GET", "/stations/s1/quota", stranger).status_code == 404
    assert app.call("PUT", "/stations/s1/quota", stranger, json={"pending": 1}).status_code == 404
    assert "only the owner" in _refused(app.call("PUT", "/stations/s1/quota", member, json={"pending": 1}), 403)
    above = _refused(app.call("PUT", "/stations/s1/quota", owner, json={"pending": 3}), 403)
    assert above == "a pending quota of 3 is above the hub's default (2): only a hub admin sets more"
    got = app.ok("PUT", "/stations/s1/quota", owner, json={"pending": 1, "bytes": 1 << 20})
    assert got["pending"] == {"limit": 1, "used": 0, "own": True} and got["bytes"]["limit"] == 1 << 20
    assert app.ok("PUT", "/stations/s1/quota", admin, json={"pending": 50})["pending"]["limit"] == 50
    back = app.ok("PUT", "/stations/s1/quota", owner, json={"pending": None})  # the hub's default again
    assert back["pending"] == {"limit": 2, "used": 0, "own": False} and back["bytes"]["own"] is True
    assert app.call("PUT", "/stations/s1/quota", owner, json={"pending": -1}).status_code == 422
    assert app.call("PUT", "/stations/s1/quota", owner, json={"disk": 1}).status_code == 422


@pytest.fixture
def both_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Submissions wait for each other inside the intake check (after the early quota check,
    before the locked one), so two of them reach the locked check together."""
    barrier = threading.Barrier(2, timeout=20)
    real_check = uploads.check_upload

    def _meet(*args: Any, **kwargs: Any) -> Any:
        barrier.wait()
        return real_check(*args, **kwargs)

    monkeypatch.setattr(uploads, "check_upload", _meet)


def _race(app: HubApp, token: str, limits: dict[str, int]) -> list[int]:
    """Two submissions at once, one through ``app``, one through a second app on its database
    and files (two hub processes' worth); the statuses they got."""
    other = create_app(HubConfig(db_url=app.hub.config.db_url, files_dir=app.hub.config.files_dir,
                                 clock=lambda: HUB_EPOCH, **limits), migrate=False)
    answers: list[Any] = []
    with TestClient(other) as second:

        def _submit(client: TestClient, key: str) -> None:
            answers.append(client.post("/api/v1/stations/s1/jobs", params={"key": key}, content=TARBALL,
                                       headers=app.auth(token)))

        threads = [threading.Thread(target=_submit, args=(c, f"race-key-{i}")) for i, c in
                   enumerate((app.client, second))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert len(answers) == 2, "a submission hung"
    return sorted(a.status_code for a in answers)


RACES = [({"station_pending": 1}, 409), ({"station_bytes": len(TARBALL) + 10}, 413)]


@pytest.mark.parametrize(("limits", "status"), RACES)
def test_two_concurrent_submissions_with_room_for_one_let_exactly_one_in(
        tmp_path: Path, both_checked: None, limits: dict[str, int], status: int) -> None:
    with hub_app(tmp_path, **limits) as app:
        alice = app.user("alice")
        app.station_with_zone(alice)
        assert _race(app, alice, limits) == [201, status]
        assert len(_bundles(app)) == 1
        assert app.ok("GET", "/stations/s1/quota", alice)["pending"]["used"] == 1


@pytest.mark.postgres
@pytest.mark.parametrize(("limits", "status"), RACES)
def test_quotas_on_postgresql(postgres_url: str, tmp_path: Path, both_checked: None, limits: dict[str, int],
                              status: int) -> None:
    """hub0010_quotas runs on PostgreSQL; the Station's row lock lets one of two racing
    submissions in; the running quota's locked count holds a job pending."""
    from tests.clock import Clock

    clock = Clock(HUB_EPOCH)
    app = create_app(HubConfig(db_url=postgres_url, files_dir=tmp_path / "files", clock=clock, **limits))
    with TestClient(app) as client:
        h = HubApp(client, clock)
        alice = h.user("alice")
        _roomy_station(h, alice)
        assert _race(h, alice, limits) == [201, status]
        assert len(_bundles(h)) == 1
        h.ok("PUT", "/stations/s1/quota", alice, json={"running": 0})
        assert h.claim(alice) == []
        h.ok("PUT", "/stations/s1/quota", alice, json={"running": None})
        assert len(h.claim(alice)) == 1

class _InProcess:
    """``lz station quota``'s client, talking to the in-process hub as ``token``."""

    def __init__(self, app: HubApp, token: str):
        self.app, self.token = app, token

    def _answer(self, method: str, path: str, **kwargs: Any) -> Any:
        from lz.hub.agent.client import HubRefused

        response = self.app.client.request(method, path, headers=self.app.auth(self.token), **kwargs)
        if response.status_code >= 400:
            raise HubRefused(response.status_code, response.json()["detail"])
        return response.json()

    def get(self, path: str) -> Any:
        return self._answer("GET", path)

    def put(self, path: str, json: Any) -> Any:
        return self._answer("PUT", path, json=json)


def test_lz_station_quota_shows_and_sets(app: HubApp, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from lz.cli import main, station

    alice = app.user("alice")
    app.station_with_zone(alice)
    app.submit(alice)
    monkeypatch.setattr(station, "client", lambda: _InProcess(app, alice))
    runner = CliRunner()
    shown = runner.invoke(main, ["station", "quota", "s1"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines() == [
        "station s1 quota", "  jobs waiting: 1 of 2 (the hub's default)", "  jobs running: 0 of 1000 (the hub's default)",
        f"  stored: {len(TARBALL)} bytes of 100.0 GiB (the hub's default)"]
    set_ = runner.invoke(main, ["station", "quota", "s1", "--running", "4", "--bytes", "1.5G"])
    assert set_.exit_code == 0, set_.output
    assert "jobs running: 0 of 4\n" in set_.output and "of 1.5 GiB\n" in set_.output
    back = runner.invoke(main, ["station", "quota", "s1", "--running", "default", "--json"])
    assert json.loads(back.output)["running"] == {"limit": 1000, "used": 0, "own": False}
    for bad, why in ((["--pending", "-3"], "--pending '-3': not a count"), (["--bytes", "lots"], "is not a size"),
                     (["--running", "1e3"], "--running '1e3': not a count")):
        refused = runner.invoke(main, ["station", "quota", "s1", *bad])
        assert refused.exit_code == 2 and why in refused.output and len(refused.output.splitlines()) == 1
    above = runner.invoke(main, ["station", "quota", "s1", "--pending", "3"])
    assert above.exit_code == 2 and "only a hub admin sets more" in above.output


def _quota_check_plan(conn: Any, explain: str) -> str:
    """The plan of a submission's quota statement (``quotas._use_of_both``) for Station 1, user 1."""
    from lz.hub.server.domain import quotas

    sql = str(quotas._use_of_both().params(station_id=1, user_id=1).compile(
        conn.engine, compile_kwargs={"literal_binds": True}))
    return "\n".join(" ".join(str(v) for v in row) for row in conn.exec_driver_sql(f"{explain} {sql}"))


def test_the_quota_check_reads_only_the_rows_it_counts_on_sqlite(tmp_path: Path) -> None:
    """A submission into a Station with a million finished jobs must not sum over them: each of
    the six counts searches an index of just its rows (hub0022), never scans ``hub_jobs``."""
    from sqlalchemy import create_engine

    from lz.hub.server.models import HubBase

    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    HubBase.metadata.create_all(engine)
    with engine.begin() as conn:
        plan = _quota_check_plan(conn, "EXPLAIN QUERY PLAN")
    assert "SCAN hub_jobs" not in plan, plan
    for index in ("ix_hub_jobs_claim", "ix_hub_jobs_submitter_phase", "ix_hub_jobs_kept_station",
                  "ix_hub_jobs_kept_submitter"):
        assert index in plan, plan


@pytest.mark.postgres
def test_the_quota_check_reads_only_the_rows_it_counts_on_postgresql(postgres_url: str) -> None:
    """The same on PostgreSQL, from the migrations: with sequential scans priced out, a plan that
    still scans ``hub_jobs`` would mean no index fits (a partial index whose predicate the query
    does not imply, say)."""
    from sqlalchemy import create_engine, text

    from lz.hub.server.db import upgrade

    engine = create_engine(postgres_url)
    upgrade(engine)  # the schema from the migrations, not the models
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = _quota_check_plan(conn, "EXPLAIN")
    engine.dispose()
    assert "Seq Scan on hub_jobs" not in plan, plan
    assert "ix_hub_jobs_kept_station" in plan and "ix_hub_jobs_kept_submitter" in plan, plan
