"""Every permission flag (issue 26), exercised through the API: a member whose custom role holds
just that flag may do the thing; one whose role holds every flag but that one is refused (403;
404 for ``others_jobs``, since a job one may not see does not exist for one). Plus the built-in
roles' defaults, custom roles' rules, and the migration of old ``member`` rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lz.hub.server.domain.roles import BUILT_IN, FLAGS
from tests.unit.hub_helpers import HubApp, hub_app, job_tarball


class Station:
    """s1: alice owns it (and lz1, with a job of hers); una is a member with the role under test
    and owns lzu (not yet in s1); templates ``basic`` and ``jupyter`` (which opens a port)."""

    def __init__(self, app: HubApp, flags: set[str]):
        self.app = app
        self.alice = app.user("alice")
        self.una = app.user("una")
        app.station_with_zone(self.alice)
        app.ok("POST", "/lz/register", self.una, json={"name": "lzu", "cpus": 2})
        app.ok("PUT", "/stations/s1/roles/tested", self.alice, json={"flags": sorted(flags)})
        app.ok("POST", "/stations/s1/invitations", self.alice, json={"user": "una", "role": "tested"})
        app.ok("POST", "/invitations/s1/accept", self.una)
        app.ok("PUT", "/stations/s1/templates/basic", self.alice, json={"cpus": {"max": 4}})
        app.ok("PUT", "/stations/s1/templates/jupyter", self.alice, json={"ports": [8888]})
        self.job = app.submit(self.alice).json()["id"]


def _submit(template: str | None) -> tuple[str, str, dict[str, Any]]:
    params = {"key": "una-00000001", **({"template": template} if template else {})}
    return "POST", "/stations/s1/jobs", {"params": params, "content": job_tarball()}


# flag -> (what it takes besides, method, path, kwargs, status when allowed, status when refused)
ACTIONS: dict[str, tuple[set[str], tuple[str, str, dict[str, Any]], int, int]] = {
    "launch": (set(), _submit(None), 201, 403),
    "templates": (set(), _submit("basic"), 201, 403),
    "ports": ({"templates"}, _submit("jupyter"), 201, 403),
    "add_zones": (set(), ("PUT", "/stations/s1/zones/lzu", {}), 200, 403),
    "remove_zones": (set(), ("DELETE", "/stations/s1/zones/lz1", {}), 200, 403),
    "others_jobs": (set(), ("POST", "/jobs/{job}/cancel", {}), 200, 404),
    "volumes": (set(), ("PUT", "/stations/s1/volumes/out", {"json": {"mount": "/data/out"}}), 200, 403),
    "manage_templates": (set(), ("PUT", "/stations/s1/templates/big", {"json": {"gpus": {"max": 8}}}), 200, 403),
    "manage_members": (set(), ("POST", "/stations/s1/invitations", {"json": {"user": "zed"}}), 201, 403),
}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path) as a:
        a.user("zed")
        yield a


def test_every_flag_has_an_action_here() -> None:
    assert set(ACTIONS) == set(FLAGS)


@pytest.mark.parametrize("holds", [True, False], ids=["with", "without"])
@pytest.mark.parametrize("flag", sorted(FLAGS))
def test_each_flag_allows_its_action_and_nothing_else_does(app: HubApp, flag: str, holds: bool) -> None:
    also, (method, path, kwargs), allowed, refused = ACTIONS[flag]
    flags = {flag} | also if holds else set(FLAGS) - {flag}
    station = Station(app, flags)
    response = app.call(method, path.format(job=station.job), station.una, **kwargs)
    assert response.status_code == (allowed if holds else refused), response.text
    if not holds and refused == 403:
        assert f"({flag}:" in response.json()["detail"]  # the refusal names what is missing


def test_the_built_in_roles(app: HubApp) -> None:
    station = Station(app, set())
    roles = {r["name"]: r for r in app.ok("GET", "/stations/s1/roles", station.una)}
    assert roles["admin"]["flags"] == sorted(FLAGS) and roles["owner"]["built_in"]
    assert roles["launcher"]["flags"] == ["templates"]
    assert set(roles["contributor"]["flags"]) == BUILT_IN["contributor"]
    assert roles["tested"] == {"name": "tested", "flags": [], "built_in": False}
    # a launcher submits only from templates, and sees only its own jobs
    app.ok("PUT", "/stations/s1/members/una", station.alice, json={"role": "launcher"})
    assert app.submit(station.una).status_code == 403
    mine = app.submit(station.una, template="basic").json()["id"]
    assert [j["id"] for j in app.ok("GET", "/jobs", station.una)] == [mine]
    assert {j["id"] for j in app.ok("GET", "/jobs", station.alice)} == {mine, station.job}


def test_custom_roles_rules(app: HubApp) -> None:
    station = Station(app, {"manage_members"})
    alice, una = station.alice, station.una

    def status(method: str, path: str, token: str, **kwargs: Any) -> int:
        return int(app.call(method, path, token, **kwargs).status_code)

    assert status("PUT", "/stations/s1/roles/admin", alice, json={"flags": []}) == 409  # built in
    assert status("PUT", "/stations/s1/roles/x", alice, json={"flags": ["fly"]}) == 422
    assert status("PUT", "/stations/s1/roles/Bad", alice, json={"flags": []}) == 422
    assert status("DELETE", "/stations/s1/roles/tested", alice) == 409  # una holds it
    assert status("DELETE", "/stations/s1/roles/nope", alice) == 404
    assert status("POST", "/stations/s1/invitations", alice, json={"user": "zed", "role": "nope"}) == 422
    # una may manage members, yet neither make an admin nor change the owner
    assert status("PUT", "/stations/s1/members/una", una, json={"role": "admin"}) == 403
    assert status("PUT", "/stations/s1/members/alice", una, json={"role": "launcher"}) == 403
    app.ok("PUT", "/stations/s1/members/una", alice, json={"role": "member"})  # the old name: a contributor
    assert {"user": "una", "role": "contributor"} in app.ok("GET", "/stations/s1/members", una)
    app.ok("DELETE", "/stations/s1/roles/tested", alice)


def _member_rows_migrated(url: str) -> None:
    """A member and an invitation saying ``member`` at hub0011, then hub0015: both contributors."""
    from sqlalchemy import text

    from lz.hub.server import db
    from tests.unit.hub.test_zone_names import _at

    _at(url, "hub0011_tokens")
    engine = db.make_hub_engine(url)
    with db.write(engine) as conn:
        for statement in (
            "INSERT INTO users (id, name, admin, created_at) VALUES (1, 'a', false, 1), (2, 'b', false, 1),"
            " (3, 'c', false, 1)",
            "INSERT INTO stations (id, name, created_by, created_at) VALUES (1, 's1', 1, 1)",
            "INSERT INTO station_members (station_id, user_id, role, added_at) VALUES (1, 1, 'owner', 1),"
            " (1, 2, 'member', 1)",
            "INSERT INTO station_invitations (station_id, user_id, role, invited_by, created_at)"
            " VALUES (1, 3, 'member', 1, 1)",
        ):
            conn.execute(text(statement))
    db.upgrade(engine)
    with db.write(engine) as conn:
        assert dict(conn.execute(text("SELECT user_id, role FROM station_members")).all()) == {
            1: "owner", 2: "contributor"}
        assert conn.execute(text("SELECT role FROM station_invitations")).scalar_one() == "contributor"
    engine.dispose()


def test_old_member_rows_become_contributors(tmp_path: Path) -> None:
    _member_rows_migrated(f"sqlite:///{tmp_path / 'hub.db'}")


@pytest.mark.postgres
def test_old_member_rows_become_contributors_on_postgresql(postgres_url: str) -> None:
    _member_rows_migrated(postgres_url)


@pytest.mark.postgres
def test_custom_roles_and_templates_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """The job list's query of a custom role's flags (``roles.stations_with``), and templates, on
    PostgreSQL: a custom role with ``others_jobs`` sees alice's job, one without sees only its own."""
    from fastapi.testclient import TestClient

    from lz.hub.server.app import create_app
    from lz.hub.server.config import HubConfig
    from tests.clock import Clock
    from tests.unit.hub_helpers import HUB_EPOCH

    clock = Clock(HUB_EPOCH)
    app = create_app(HubConfig(db_url=postgres_url, files_dir=tmp_path / "files", clock=clock))
    with TestClient(app) as client:
        h = HubApp(client, clock)
        station = Station(h, {"others_jobs", "templates"})
        mine = h.submit(station.una, template="basic").json()["id"]
        assert {j["id"] for j in h.ok("GET", "/jobs", station.una)} == {mine, station.job}
        h.ok("PUT", "/stations/s1/roles/tested", station.alice, json={"flags": ["templates"]})
        assert [j["id"] for j in h.ok("GET", "/jobs", station.una)] == [mine]
        assert h.call("GET", f"/jobs/{station.job}", station.una).status_code == 404
