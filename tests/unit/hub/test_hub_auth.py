"""Authorization for every endpoint: no, unknown, revoked or expired token; a landing-zone token
used as a user; the wrong user; the wrong Station; a landing zone acting on what it does not hold."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lz.hub.server.domain import accounts
from tests.unit.hub_helpers import HubApp, hub_app, job_tarball, results_tar


class World:
    """alice: station s1, landing zone lz1 holding job J; bob: station s2 and lz2."""

    def __init__(self, app: HubApp):
        self.app = app
        self.alice = app.user("alice")
        self.alice_lz = app.user("alice", scope="landing-zone")
        self.bob = app.user("bob")
        self.expired = app.user("carol", expires_s=10)
        self.revoked = app.user("dave")
        app.hub.write(lambda c: accounts.revoke_token(c, 5, app.clock()))
        app.station_with_zone(self.alice, "s1", "lz1")
        app.station_with_zone(self.bob, "s2", "lz2")
        self.job = app.submit(self.alice, "s1").json()["id"]
        app.claim(self.alice, "lz1")
        app.clock.now += 11  # carol's token is now expired (leases last 30 s)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with hub_app(tmp_path) as app:
        yield World(app)


def _user_calls(w: World) -> list[tuple[str, str, dict[str, Any]]]:
    j = w.job
    return [
        ("GET", "/whoami", {}),
        ("GET", "/stations", {}),
        ("POST", "/stations", {"json": {"name": "s9"}}),
        ("GET", "/stations/s1", {}),
        ("POST", "/stations/s1/members", {"json": {"user": "bob"}}),
        ("PUT", "/stations/s1/zones/lz1", {}),
        ("DELETE", "/stations/s1/zones/lz1", {}),
        ("GET", "/zones", {}),
        ("POST", "/stations/s1/jobs", {"params": {"key": "abcdefgh"}, "content": job_tarball()}),
        ("GET", "/jobs", {}),
        ("GET", f"/jobs/{j}", {}),
        ("POST", f"/jobs/{j}/cancel", {}),
        ("POST", f"/jobs/{j}/control", {"json": {"action": "pause"}}),
        ("GET", f"/jobs/{j}/results", {}),
        ("GET", f"/jobs/{j}/logs/stdout", {}),
        ("POST", "/tokens", {"json": {"for_landing_zones": True, "expires": "7d"}}),
        ("GET", "/tokens", {}),
        ("DELETE", "/tokens/1", {}),  # alice's
        ("PUT", "/stations/s1", {"json": {"max_attempts": 5}}),
        ("GET", "/stations/s1/quota", {}),
        ("PUT", "/stations/s1/quota", {"json": {"pending": 5}}),
        ("POST", "/stations/s1/invitations", {"json": {"user": "bob"}}),
        ("GET", "/invitations", {}),
        ("POST", "/invitations/s1/accept", {}),
        ("POST", "/invitations/s1/decline", {}),
        ("GET", "/stations/s1/members", {}),
        ("DELETE", "/stations/s1/members/bob", {}),
        ("POST", "/stations/s1/leave", {}),
        ("GET", "/stations/s1/volumes", {}),
        ("PUT", "/stations/s1/volumes/ref", {"json": {"mount": "/data"}}),
        ("DELETE", "/stations/s1/volumes/ref", {}),
        ("PUT", "/stations/s1/volumes/ref/zones/lz1", {"json": {"host_path": "/srv"}}),
        # issue 26: roles, templates, submit again
        ("GET", "/stations/s1/roles", {}),
        ("PUT", "/stations/s1/roles/viewer", {"json": {"flags": ["others_jobs"]}}),
        ("DELETE", "/stations/s1/roles/viewer", {}),
        ("PUT", "/stations/s1/members/bob", {"json": {"role": "launcher"}}),
        ("GET", "/stations/s1/templates", {}),
        ("PUT", "/stations/s1/templates/small", {"json": {"cpus": {"max": 2}}}),
        ("DELETE", "/stations/s1/templates/small", {}),
        ("POST", f"/jobs/{j}/resubmit", {"params": {"key": "again-0001"}}),
        ("GET", f"/jobs/{j}/notifications", {}),
        ("GET", "/stations/s1/notifications", {}),
        ("POST", "/stations/s1/notifications", {"json": {"channel": "web"}}),
        ("DELETE", "/stations/s1/notifications/1", {}),
        ("GET", "/usage", {}),
        ("GET", "/stations/s1/credits", {}),
        ("PUT", "/stations/s1/credits", {"json": {"cpu_hour": "1.5"}}),
    ]


PUBLIC = {("GET", "/api/v1/meta")}  # what a client needs before it has a token (issue 11)


def _lz_calls(w: World) -> list[tuple[str, str, dict[str, Any]]]:
    j = w.job
    return [
        ("POST", "/lz/register", {"json": {"name": "lz1"}}),
        ("POST", "/lz/heartbeat", {"json": {"name": "lz1", "jobs": [{"id": j, "attempt": 1}]}}),
        ("POST", "/lz/claim", {"json": {"name": "lz1", "wait_s": 0}}),
        ("GET", f"/lz/jobs/{j}/bundle", {"params": {"name": "lz1", "attempt": 1}}),
        ("POST", f"/lz/jobs/{j}/events", {"json": {"name": "lz1", "attempt": 1, "events": []}}),
        ("PUT", f"/lz/jobs/{j}/results", {"params": {"name": "lz1", "attempt": 1}, "content": results_tar()}),
        ("POST", f"/lz/jobs/{j}/logs/stdout", {"params": {"name": "lz1", "attempt": 1, "offset": 0},
                                               "content": b"x"}),
        ("POST", f"/lz/jobs/{j}/finish", {"json": {"name": "lz1", "attempt": 1, "results": False}}),
        ("POST", "/lz/release", {"json": {"name": "lz1", "jobs": [{"id": j, "attempt": 1}]}}),
        ("POST", f"/lz/jobs/{j}/notifications", {"json": {"name": "lz1", "attempt": 1, "notifications": []}}),
        ("POST", "/lz/tunnels/wait", {"json": {"name": "lz1", "wait_s": 0}}),
    ]


def test_every_endpoint_is_listed_here(world: World) -> None:
    paths = world.app.client.get("/openapi.json").json()["paths"]
    operations = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    listed = {(m, p.replace(world.job, "{job_id}").replace("/s1", "/{station}").replace("/lz1", "/{lz}")
               .replace("/stdout", "/{which}").replace("/members/bob", "/members/{member}")
               .replace("/volumes/ref", "/volumes/{volume}").replace("/tokens/1", "/tokens/{token_id}")
               .replace("/roles/viewer", "/roles/{role}").replace("/templates/small", "/templates/{template}")
               .replace("/notifications/1", "/notifications/{sub_id}"))
              for m, p, _ in _user_calls(world) + _lz_calls(world)}
    assert operations - PUBLIC == {(m, "/api/v1" + p) for m, p in listed}


@pytest.mark.parametrize("who", ["none", "unknown", "revoked", "expired", "malformed"])
def test_no_valid_token_is_401_and_changes_nothing(world: World, who: str) -> None:
    token = {"none": None, "unknown": "lzh_" + "A" * 43, "revoked": world.revoked, "expired": world.expired,
             "malformed": "x" * 5000}[who]
    before = world.app.ok("GET", f"/jobs/{world.job}", world.alice)
    for method, path, kwargs in _user_calls(world) + _lz_calls(world):
        response = world.app.call(method, path, token, **kwargs)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
    after = world.app.ok("GET", f"/jobs/{world.job}", world.alice)
    assert before == after
    assert len(world.app.ok("GET", "/jobs", world.alice)) == 1


def test_a_landing_zone_token_cannot_act_as_a_user(world: World) -> None:
    for method, path, kwargs in _user_calls(world):
        if path == "/whoami":
            continue
        response = world.app.call(method, path, world.alice_lz, **kwargs)
        assert response.status_code == 403, (method, path, response.text)
    # but it does what a landing zone does
    beat = world.app.ok("POST", "/lz/heartbeat", world.alice_lz,
                        json={"name": "lz1", "jobs": [{"id": world.job, "attempt": 1}]})
    assert beat["gone"] == []


def test_the_wrong_user_sees_nothing_of_another_station(world: World) -> None:
    expected = {("POST", "/stations"): 201, ("GET", "/stations"): 200, ("GET", "/whoami"): 200,
                ("GET", "/zones"): 200, ("GET", "/jobs"): 200, ("POST", "/tokens"): 201, ("GET", "/tokens"): 200,  # his own tokens
                ("GET", "/invitations"): 200, ("GET", "/usage"): 200}  # his own usage: none
    for method, path, kwargs in _user_calls(world):
        response = world.app.call(method, path, world.bob, **kwargs)
        want = expected.get((method, path), 404)
        assert response.status_code == want, (method, path, response.text)
    assert world.app.ok("GET", "/jobs", world.bob) == []
    assert [s["name"] for s in world.app.ok("GET", "/stations", world.bob)] == ["s2", "s9"]
    assert [z["name"] for z in world.app.ok("GET", "/zones", world.bob)] == ["lz2"]
    assert world.app.ok("GET", f"/jobs/{world.job}", world.alice)["cancel_requested"] is False


def test_a_landing_zone_of_another_user_or_station(world: World) -> None:
    app, bob, job = world.app, world.bob, world.job
    # bob cannot act as alice's landing zone (a name is his own zone of that name, and he has no
    # lz1 yet), nor add it to his station
    for method, path, kwargs in _lz_calls(world)[1:]:
        response = app.call(method, path, bob, **kwargs)
        assert response.status_code == 404, (method, path, response.text)
    assert app.call("PUT", "/stations/s2/zones/lz1", bob).status_code == 403
    # nor may alice add her landing zone to bob's station
    assert app.call("PUT", "/stations/s2/zones/lz1", world.alice).status_code == 404
    # bob's lz2 is not in s1: it claims nothing of s1, and cannot report on or fetch alice's job
    alice_job = app.submit(world.alice, "s1").json()["id"]
    assert app.claim(bob, "lz2") == []
    assert app.call("GET", f"/lz/jobs/{job}/bundle", bob, params={"name": "lz2", "attempt": 1}).status_code == 409
    assert app.call("POST", f"/lz/jobs/{job}/events", bob,
                    json={"name": "lz2", "attempt": 1, "events": []}).status_code == 409
    assert app.call("PUT", f"/lz/jobs/{job}/results", bob, params={"name": "lz2", "attempt": 1},
                    content=results_tar()).status_code == 409
    assert app.call("POST", f"/lz/jobs/{job}/finish", bob,
                    json={"name": "lz2", "attempt": 1, "results": False}).status_code == 409
    assert app.call("POST", f"/lz/jobs/{job}/logs/stdout", bob, params={"name": "lz2", "attempt": 1, "offset": 0},
                    content=b"x").status_code == 409
    beat = app.ok("POST", "/lz/heartbeat", bob, json={"name": "lz2", "jobs": [{"id": job, "attempt": 1}]})
    assert beat["gone"] == [job]
    assert app.ok("POST", "/lz/release", bob, json={"name": "lz2", "jobs": [{"id": job, "attempt": 1}]}) == {
        "released": []}  # a job it does not hold is not its to hand back
    assert app.ok("GET", f"/jobs/{alice_job}", world.alice)["phase"] == "pending"
    # landing-zone names are per owner: bob's own lz1 is another zone, which holds nothing of alice's
    app.ok("POST", "/lz/register", bob, json={"name": "lz1"})
    beat = app.ok("POST", "/lz/heartbeat", bob, json={"name": "lz1", "jobs": [{"id": job, "attempt": 1}]})
    assert beat["gone"] == [job] and app.claim(bob, "lz1") == []
    assert app.ok("GET", f"/jobs/{job}", world.alice)["phase"] == "leased"  # still alice's lz1's


def test_an_admin_sees_every_station(world: World) -> None:
    root = world.app.user("root", admin=True)
    assert {s["name"] for s in world.app.ok("GET", "/stations", root)} == {"s1", "s2"}
    assert world.app.ok("GET", f"/jobs/{world.job}", root)["station"] == "s1"
