"""People with accounts, against Stations (issue 21, items 2 and 9): an outsider learns nothing of
a Station (every Station and job route answers 404, the same as for a Station that does not
exist), and only a zone's owner says what a volume binds on it, never a Station's owner or admin."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.security.world import World
from tests.unit.hub_helpers import job_tarball

pytestmark = [pytest.mark.integration, pytest.mark.security]

BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/api/v1/stations/{station}"): {"json": {"max_attempts": 5}},
    ("PUT", "/api/v1/stations/{station}/credits"): {"json": {"cpu_hour": "1.5"}},
    ("POST", "/api/v1/stations/{station}/members"): {"json": {"user": "zed"}},
    ("POST", "/api/v1/stations/{station}/invitations"): {"json": {"user": "zed"}},
    ("POST", "/api/v1/stations/{station}/jobs"): {"params": {"key": "abcdefgh"}, "data": job_tarball()},
    ("PUT", "/api/v1/stations/{station}/volumes/{volume}"): {"json": {"mount": "/data/x", "access": "ro"}},
    ("PUT", "/api/v1/stations/{station}/volumes/{volume}/zones/{lz}"): {"json": {"host_path": "/srv/x"}},
    ("POST", "/api/v1/jobs/{job_id}/control"): {"json": {"action": "stop"}},
    ("PUT", "/api/v1/stations/{station}/quota"): {"json": {"pending": 5}},
    ("POST", "/api/v1/stations/{station}/notifications"): {"json": {"channel": "web"}},
    ("PUT", "/api/v1/stations/{station}/members/{member}"): {"json": {"role": "launcher"}},
    ("PUT", "/api/v1/stations/{station}/roles/{role}"): {"json": {"flags": ["launch"]}},
    ("PUT", "/api/v1/stations/{station}/templates/{template}"): {"json": {"cpus": {"max": 2}}},
    ("POST", "/api/v1/jobs/{job_id}/resubmit"): {"params": {"key": "again-0001"}},
}


def _station_and_job_routes(world: World) -> list[tuple[str, str]]:
    paths = requests.get(world.url + "/openapi.json", timeout=30).json()["paths"]
    return [(method.upper(), path) for path, operations in paths.items() for method in operations
            if path.startswith(("/api/v1/stations/{station}", "/api/v1/jobs/{job_id}", "/api/v1/invitations/{"))]


def test_an_outsider_gets_404_on_every_station_and_job_route_as_for_nothing_at_all(world: World) -> None:
    routes = _station_and_job_routes(world)
    assert len(routes) >= 20, routes
    for method, template in routes:
        kwargs = BODIES.get((method, template), {})
        answers = []
        for station, job in (("s1", world.job), ("nothing-here", "0" * 32)):
            path = (template.replace("{station}", station).replace("{job_id}", job).replace("{lz}", "lzb")
                    .replace("{member}", "mel").replace("{volume}", "ref").replace("{which}", "stdout")
                    .replace("{sub_id}", "1").replace("{role}", "viewer").replace("{template}", "small"))
            answer = world.call("outsider", method, path, **kwargs)
            answers.append((answer.status_code, answer.text.replace(station, "S").replace(job, "J")))
        assert answers[0][0] == 404, (method, template, answers[0])
        assert answers[0] == answers[1], (method, template, answers)  # no existence oracle


def test_the_zone_list_names_no_station_the_caller_is_not_in(world: World) -> None:
    zones = world.ok("outsider", "GET", "/api/v1/zones")
    assert all("s1" not in zone.get("stations", []) for zone in zones), zones


@pytest.mark.parametrize("actor, zone", [("admin", "lz1"), ("member", "lz1"), ("owner", "lzm"), ("admin", "lzm"),
                                         ("outsider", "lzb")])
def test_only_a_zones_owner_maps_a_host_path_on_it(world: World, actor: str, zone: str) -> None:
    """Issue 21 (2): a Station's owner or admin bound ~/.config of someone else's zone, rw."""
    answer = world.call(actor, "PUT", f"/api/v1/stations/s1/volumes/ref/zones/{zone}",
                        json={"host_path": "/root/.config/lz"})
    assert answer.status_code in (403, 404), (actor, zone, answer.status_code)
    mapped = world.ok("owner", "GET", "/api/v1/stations/s1/volumes")
    assert all(zone not in v["landing_zones"] or v["landing_zones"][zone] != "/root/.config/lz" for v in mapped)


def test_a_landing_zone_token_is_refused_on_every_user_route(world: World) -> None:
    for method, path in (("GET", "/api/v1/stations/s1"), ("POST", "/api/v1/stations/s1/members"),
                         ("GET", f"/api/v1/jobs/{world.job}"), ("POST", f"/api/v1/jobs/{world.job}/cancel"),
                         ("GET", f"/api/v1/jobs/{world.job}/results")):
        assert world.call("zone", method, path, json={"user": "zed"}).status_code == 403, (method, path)
