"""Roles per Station (owner, admin, contributor: what ``member`` was before hub0015), enforced by the hub on every Station endpoint, for
every kind of caller: owner, admin, member, outsider and a landing-zone token; invitations end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.unit.hub_helpers import HubApp, hub_app, job_tarball

ROLES = ("owner", "admin", "member", "outsider", "lz")


class World:
    """Station s1: alice owns it (and lz1), ann is an admin (owns lza), mel a member (owns lzm,
    which a hub admin added to s1), bob an outsider (owns lzo); alice's landing-zone token."""

    def __init__(self, app: HubApp):
        self.app = app
        self.tokens = {"owner": app.user("alice"), "admin": app.user("ann"), "member": app.user("mel"),
                       "outsider": app.user("bob"), "lz": app.user("alice", scope="landing-zone")}
        root = app.user("root", admin=True)
        app.user("zed")
        app.station_with_zone(self.tokens["owner"], "s1", "lz1")
        for role, lz in (("admin", "lza"), ("member", "lzm"), ("outsider", "lzo")):
            app.ok("POST", "/lz/register", self.tokens[role], json={"name": lz, "cpus": 2})
        owner = self.tokens["owner"]
        app.ok("POST", "/stations/s1/invitations", owner, json={"user": "ann", "role": "admin"})
        app.ok("POST", "/invitations/s1/accept", self.tokens["admin"])
        app.ok("POST", "/stations/s1/invitations", owner, json={"user": "mel"})
        app.ok("POST", "/invitations/s1/accept", self.tokens["member"])
        app.ok("PUT", "/stations/s1/zones/lzm", root)
        app.ok("PUT", "/stations/s1/volumes/ref", owner, json={"mount": "/data/ref", "access": "ro"})
        app.ok("PUT", "/stations/s1/roles/guest", owner, json={"flags": []})
        app.ok("PUT", "/stations/s1/templates/basic", owner, json={"cpus": {"max": 2}})
        self.job = app.submit(owner, "s1").json()["id"]

    def call(self, role: str, method: str, path: str, **kwargs: Any) -> int:
        return int(self.app.call(method, path, self.tokens[role], **kwargs).status_code)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with hub_app(tmp_path) as app:
        yield World(app)


OWN_ZONE = {"owner": "lz1", "admin": "lza", "member": "lzm", "outsider": "lzo", "lz": "lz1"}

# endpoint -> (method, path, kwargs, expected status for owner, admin, member, outsider, lz token)
MATRIX: dict[str, tuple[str, str, dict[str, Any], tuple[int, ...]]] = {
    "show station": ("GET", "/stations/s1", {}, (200, 200, 200, 404, 403)),
    "change station settings": ("PUT", "/stations/s1", {"json": {"max_attempts": 5}}, (200, 200, 403, 404, 403)),
    # quotas (issue 21): any member reads; only the owner (or a hub admin) sets, up to the hub's defaults
    "show quota": ("GET", "/stations/s1/quota", {}, (200, 200, 200, 404, 403)),
    "set quota": ("PUT", "/stations/s1/quota", {"json": {"pending": 5}}, (200, 403, 403, 404, 403)),
    "add member": ("POST", "/stations/s1/members", {"json": {"user": "zed"}}, (200, 200, 403, 404, 403)),
    # issue 26: a contributor (the old member) adds landing zones it owns
    "add own landing zone": ("PUT", "/stations/s1/zones/{own}", {}, (200, 200, 200, 404, 403)),
    "remove alice's landing zone": ("DELETE", "/stations/s1/zones/lz1", {}, (200, 200, 403, 404, 403)),
    "remove mel's landing zone": ("DELETE", "/stations/s1/zones/lzm", {}, (200, 200, 200, 404, 403)),
    "submit": ("POST", "/stations/s1/jobs", {"params": {"key": "abcdefgh"}, "content": job_tarball()},
               (201, 201, 201, 404, 403)),
    "see a job": ("GET", "/jobs/{job}", {}, (200, 200, 200, 404, 403)),
    "cancel a job": ("POST", "/jobs/{job}/cancel", {}, (200, 200, 200, 404, 403)),
    "members": ("GET", "/stations/s1/members", {}, (200, 200, 200, 404, 403)),
    "invite": ("POST", "/stations/s1/invitations", {"json": {"user": "zed"}}, (201, 201, 403, 404, 403)),
    "remove a member": ("DELETE", "/stations/s1/members/mel", {}, (200, 200, 403, 404, 403)),
    "remove the admin": ("DELETE", "/stations/s1/members/ann", {}, (200, 403, 403, 404, 403)),
    "remove the owner": ("DELETE", "/stations/s1/members/alice", {}, (403, 403, 403, 404, 403)),
    "leave": ("POST", "/stations/s1/leave", {}, (409, 200, 200, 404, 403)),
    "my invitations": ("GET", "/invitations", {}, (200, 200, 200, 200, 403)),
    "list volumes": ("GET", "/stations/s1/volumes", {}, (200, 200, 200, 404, 403)),
    "add a volume": ("PUT", "/stations/s1/volumes/out", {"json": {"mount": "/data/out", "access": "rw"}},
                     (200, 200, 403, 404, 403)),
    "remove a volume": ("DELETE", "/stations/s1/volumes/ref", {}, (200, 200, 403, 404, 403)),
    # only a zone's owner says what it binds (issue 21, item 2): not the Station's owner or admin
    "map a volume on alice's zone": ("PUT", "/stations/s1/volumes/ref/zones/lz1", {"json": {"host_path": "/srv/ref"}},
                                     (200, 403, 403, 404, 403)),
    "map a volume on mel's zone": ("PUT", "/stations/s1/volumes/ref/zones/lzm", {"json": {"host_path": "/srv/ref"}},
                                   (403, 403, 200, 404, 403)),
    # roles and templates (issue 26): any member reads them; manage_members / manage_templates change them
    "list roles": ("GET", "/stations/s1/roles", {}, (200, 200, 200, 404, 403)),
    "define a role": ("PUT", "/stations/s1/roles/viewer", {"json": {"flags": ["launch"]}}, (200, 200, 403, 404, 403)),
    "remove a role": ("DELETE", "/stations/s1/roles/guest", {}, (200, 200, 403, 404, 403)),
    "give mel a role": ("PUT", "/stations/s1/members/mel", {"json": {"role": "launcher"}}, (200, 200, 403, 404, 403)),
    "list templates": ("GET", "/stations/s1/templates", {}, (200, 200, 200, 404, 403)),
    "add a template": ("PUT", "/stations/s1/templates/small", {"json": {"cpus": {"default": 1}}},
                       (200, 200, 403, 404, 403)),
    "remove a template": ("DELETE", "/stations/s1/templates/basic", {}, (200, 200, 403, 404, 403)),
    "accept without an invitation": ("POST", "/invitations/s1/accept", {}, (404, 404, 404, 404, 403)),
    "decline without an invitation": ("POST", "/invitations/s1/decline", {}, (404, 404, 404, 404, 403)),
    # notifications (issue 26): each member chooses how they get their own jobs' (none to remove here)
    "list own notification ways": ("GET", "/stations/s1/notifications", {}, (200, 200, 200, 404, 403)),
    "add a notification way": ("POST", "/stations/s1/notifications", {"json": {"channel": "web"}},
                               (201, 201, 201, 404, 403)),
    "remove a notification way": ("DELETE", "/stations/s1/notifications/999", {}, (404, 404, 404, 404, 403)),
    # credits (issue 26): any member reads the prices and limits; manage_members sets them
    "show credits": ("GET", "/stations/s1/credits", {}, (200, 200, 200, 404, 403)),
    "set credits": ("PUT", "/stations/s1/credits", {"json": {"cpu_hour": "1.5"}}, (200, 200, 403, 404, 403)),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_every_station_endpoint_for_every_role(world: World, endpoint: str, role: str) -> None:
    method, path, kwargs, expected = MATRIX[endpoint]
    path = path.format(own=OWN_ZONE[role], job=world.job)
    got = world.call(role, method, path, **kwargs)
    assert got == expected[ROLES.index(role)], (endpoint, role, got)


def test_the_matrix_covers_every_station_and_membership_endpoint(world: World) -> None:
    paths = world.app.client.get("/openapi.json").json()["paths"]
    wanted = {(m.upper(), p) for p, ops in paths.items() for m in ops
              if p.startswith(("/api/v1/stations/{station}", "/api/v1/invitations"))}
    covered = {(m, "/api/v1" + p.replace("/s1", "/{station}").replace("/{own}", "/{lz}").replace("/lz1", "/{lz}")
                .replace("/lzm", "/{lz}").replace("/mel", "/{member}").replace("/ann", "/{member}")
                .replace("/alice", "/{member}").replace("/volumes/ref", "/volumes/{volume}")
                .replace("/volumes/out", "/volumes/{volume}").replace("/roles/viewer", "/roles/{role}")
                .replace("/roles/guest", "/roles/{role}").replace("/templates/small", "/templates/{template}")
                .replace("/templates/basic", "/templates/{template}").replace("/notifications/999", "/notifications/{sub_id}"))
               for m, p, _, _ in MATRIX.values()}
    assert wanted <= covered, wanted - covered


def test_invitations_end_to_end(world: World) -> None:
    app, owner, zed = world.app, world.tokens["owner"], app_token(world, "zed")
    assert app.ok("GET", "/invitations", zed) == []
    app.ok("POST", "/stations/s1/invitations", world.tokens["admin"], json={"user": "zed", "role": "admin"})
    [invitation] = app.ok("GET", "/invitations", zed)
    assert (invitation["station"], invitation["role"], invitation["invited_by"]) == ("s1", "admin", "ann")
    assert app.call("GET", "/stations/s1", zed).status_code == 404  # not a member before accepting
    members = app.ok("POST", "/invitations/s1/accept", zed)
    assert {"user": "zed", "role": "admin"} in members
    assert app.ok("GET", "/invitations", zed) == []
    assert app.call("POST", "/stations/s1/invitations", owner, json={"user": "zed"}).status_code == 409
    # zed, now an admin, invites yan, who declines
    yan = app_token(world, "yan")
    app.ok("POST", "/stations/s1/invitations", zed, json={"user": "yan"})
    assert app.ok("POST", "/invitations/s1/decline", yan) == []
    assert app.call("POST", "/invitations/s1/accept", yan).status_code == 404
    assert app.call("GET", "/jobs", yan).json() == []
    # a member sees the Station's jobs, and stops seeing them after leaving
    assert [j["id"] for j in app.ok("GET", "/jobs", world.tokens["member"])] == [world.job]
    app.ok("POST", "/stations/s1/leave", world.tokens["member"])
    assert app.ok("GET", "/jobs", world.tokens["member"]) == []
    assert app.call("POST", "/stations/s1/invitations", owner, json={"user": "nobody"}).status_code == 404
    assert app.call("POST", "/stations/s1/invitations", owner,
                    json={"user": "yan", "role": "owner"}).status_code == 422


def app_token(world: World, name: str) -> str:
    return world.app.user(name)


def test_a_claimed_job_carries_the_volumes_mapped_on_its_landing_zone(world: World) -> None:
    app, owner = world.app, world.tokens["owner"]
    assert app.call("PUT", "/stations/s1/volumes/bad", owner, json={"mount": "/lz/work/x"}).status_code == 422
    assert app.call("PUT", "/stations/s1/volumes/ref/zones/lz1", owner,
                    json={"host_path": "relative"}).status_code == 422
    assert app.call("PUT", "/stations/s1/volumes/ref/zones/lzo", owner,
                    json={"host_path": "/srv/x"}).status_code == 404  # lzo does not serve s1
    app.ok("PUT", "/stations/s1/volumes/ref/zones/lz1", owner, json={"host_path": "/srv/ref"})
    [job] = app.claim(owner, "lz1")
    assert job["spec"]["volumes"] == [{"name": "ref", "host_path": "/srv/ref", "mount": "/data/ref", "access": "ro"}]
    listed = app.ok("GET", "/stations/s1/volumes", world.tokens["member"])
    assert listed == [{"name": "ref", "mount": "/data/ref", "access": "ro", "landing_zones": {"lz1": "/srv/ref"}}]


def test_the_zone_list_names_only_stations_the_caller_may_know(world: World) -> None:
    """Issue 21 (9): a landing zone shared through one Station showed the names of every Station it
    serves, also to members of none of them. A zone's owner sees all of its Stations."""
    app = world.app
    alice, member = world.tokens["owner"], world.tokens["member"]
    app.ok("POST", "/stations", alice, json={"name": "secret-project"})
    app.ok("PUT", "/stations/secret-project/zones/lz1", alice)
    seen = {z["name"]: z["stations"] for z in app.ok("GET", "/zones", member)}
    assert seen["lz1"] == ["s1"]
    assert "secret-project" in {z["name"]: z["stations"] for z in app.ok("GET", "/zones", alice)}["lz1"]
