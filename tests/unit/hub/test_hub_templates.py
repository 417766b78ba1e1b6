"""Job templates (issue 26): their bounds (pure), their defaults and bounds held by the hub on
submission, and "submit again" of a finished job (its bundle streamed back through the store)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lz.hub.protocol.schemas import Bounds, TemplateIn
from lz.hub.server.domain.templates import check_job, check_template, defaults
from lz.hub.server.errors import Invalid
from tests.unit.hub_helpers import HubApp, hub_app, job_tarball, results_tar

GPU = TemplateIn(cpus=Bounds(default=4, min=2, max=8), memory_mb=Bounds(default=8192, max=16384),
                 gpus=Bounds(default=1, min=1, max=2), time_s=Bounds(default=3600, max=86400),
                 runtimes=["dockerfile", "singularity"], ports=[8888], distributed=True)


def _asks(**changes: Any) -> dict[str, Any]:
    return {"cpus": 4, "memory_mb": 8192, "gpus": 1, "time_s": 3600, "partition": None, **changes}


def test_defaults_are_the_templates_own() -> None:
    got = defaults(GPU)
    assert (got.cpus, got.memory_mb, got.gpus, got.time_s) == (4, 8192, 1, 3600)
    assert defaults(TemplateIn()).cpus == 1  # no default: the landing zone's own


@pytest.mark.parametrize(("asks", "refusal"), [
    (_asks(cpus=1), "cpus 1 is less than its min 2"),
    (_asks(cpus=9), "cpus 9 is more than its max 8"),
    (_asks(gpus=0), "gpus 0 is less than its min 1"),
    (_asks(memory_mb=32768), "memory_mb 32G is more than its max 16G"),
    (_asks(time_s=2 * 86400), "time_s 2-00:00:00 is more than its max 1-00:00:00"),
    (_asks(time_s=None), "give time (at most 1-00:00:00)"),
])
def test_a_job_outside_the_bounds_is_refused_in_one_line(asks: dict[str, Any], refusal: str) -> None:
    with pytest.raises(Invalid) as caught:
        check_job("gpu", GPU, asks, "dockerfile")
    assert str(caught.value) == f"template 'gpu': {refusal}"


@pytest.mark.parametrize(("asks", "shown"), [
    ({"tasks": 4}, "4 tasks on 1 node(s)"),
    ({"nodes": 2}, "2 tasks on 2 node(s)"),
    ({"nodes": 2, "tasks_per_node": 3}, "6 tasks on 2 node(s)"),
    ({"distributed": True, "cpus": 4}, "4 tasks on 1 node(s)"),
])
def test_a_template_that_is_not_distributed_refuses_several_tasks_or_nodes(asks: dict[str, Any], shown: str) -> None:
    single = TemplateIn(cpus=Bounds(max=8))
    with pytest.raises(Invalid) as caught:
        check_job("single", single, _asks(**asks), None)
    assert str(caught.value) == f"template 'single' is not distributed: one task on one node (this job asks for {shown})"
    check_job("gpu", GPU.model_copy(update={"runtimes": []}), _asks(**asks), None)  # a distributed one takes it
    check_job("single", single, _asks(tasks=1, nodes=1, distributed=True, cpus=1), None)  # one task is one task


def test_ports_outside_the_templates_are_refused() -> None:
    """The job spec's ``ports`` (h-ports); none asked, nothing to check."""
    check_job("gpu", GPU, _asks(), "dockerfile", (8888,))
    with pytest.raises(Invalid) as caught:
        check_job("gpu", GPU, _asks(), "dockerfile", (8888, 22, 6006))
    assert str(caught.value) == "template 'gpu' opens ports 8888 only, not 22, 6006"
    with pytest.raises(Invalid, match=r"^template 'any' opens no ports, not 80$"):
        check_job("any", TemplateIn(), _asks(), None, [80])


def test_bounds_are_inclusive_and_runtimes_held() -> None:
    check_job("gpu", GPU, _asks(cpus=2, gpus=2, memory_mb=16384, time_s=86400), "singularity")
    check_job("any", TemplateIn(), _asks(cpus=512, time_s=None), None)
    with pytest.raises(Invalid, match="runtime command is not allowed .allowed: dockerfile, singularity."):
        check_job("gpu", GPU, _asks(), None)


@pytest.mark.parametrize(("body", "refusal"), [
    (TemplateIn(cpus=Bounds(min=4, max=2)), "cpus: min 4 is more than max 2"),
    (TemplateIn(gpus=Bounds(default=3, max=2)), "gpus: default 3 is outside min..max"),
    (TemplateIn(time_s=Bounds(default=10, min=60)), "time_s: default 10 is outside min..max"),
    (TemplateIn(ports=[0]), "ports: each a TCP port, 1 to 65535"),
])
def test_a_template_that_contradicts_itself_is_refused(body: TemplateIn, refusal: str) -> None:
    with pytest.raises(Invalid, match=refusal.replace(".", r"\.")):
        check_template(body)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path) as a:
        yield a


def test_the_hub_applies_and_holds_a_template_on_submission(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    body = {"cpus": {"default": 2, "max": 4}, "memory_mb": {"default": 2048, "max": 4096}, "runtimes": ["command"]}
    [listed] = app.ok("PUT", "/stations/s1/templates/small", alice, json=body)
    assert listed["name"] == "small" and listed["cpus"] == {"default": 2, "min": None, "max": 4}
    job = app.submit(alice, template="small").json()
    assert (job["resources"]["cpus"], job["resources"]["memory_mb"]) == (2, 2048)
    assert job["history"][0]["detail"] == "submitted by alice, template small"
    job = app.submit(alice, template="small", cpus="3").json()  # a flag wins within the bounds
    assert job["resources"]["cpus"] == 3
    toml = b'command = ["true"]\n[resources]\nmemory = "3G"\n'
    job = app.submit(alice, template="small", body=job_tarball(files={"lz.toml": toml})).json()
    assert (job["resources"]["cpus"], job["resources"]["memory_mb"]) == (2, 3072)  # lz.toml over the default
    refused = app.submit(alice, template="small", cpus="8")
    assert refused.status_code == 422
    assert refused.json()["detail"] == "template 'small': cpus 8 is more than its max 4"
    with_recipe = job_tarball(files={"Dockerfile": b"FROM busybox\n"})
    assert "runtime dockerfile is not allowed" in app.submit(alice, template="small", body=with_recipe).text
    assert app.submit(alice, template="nope").status_code == 404
    two_nodes = job_tarball(files={"lz.toml": b'command = ["true"]\n[resources]\nnodes = 2\n'})
    refused = app.submit(alice, template="small", body=two_nodes)
    assert (refused.status_code, refused.json()["detail"]) == (
        422, "template 'small' is not distributed: one task on one node (this job asks for 2 tasks on 2 node(s))")
    app.ok("PUT", "/stations/s1/templates/small", alice, json={**body, "distributed": True})
    assert app.submit(alice, template="small", body=two_nodes).json()["resources"]["nodes"] == 2
    assert list((app.hub.files.root / "incoming").iterdir()) == []  # refused uploads leave nothing
    app.ok("DELETE", "/stations/s1/templates/small", alice)
    assert app.ok("GET", "/stations/s1/templates", alice) == []


def _finish(app: HubApp, token: str, job_id: str) -> None:
    [claimed] = app.claim(token)
    send = {"name": "lz1", "attempt": claimed["attempt"]}
    app.ok("PUT", f"/lz/jobs/{job_id}/results", token, params=send, content=results_tar())
    app.ok("POST", f"/lz/jobs/{job_id}/finish", token, json={**send, "results": True,
                                                            "facts": {"outcome": "succeeded", "exit_code": 0}})


def test_submit_again_copies_the_bundle_and_resources(app: HubApp) -> None:
    alice, bob = app.user("alice"), app.user("bob")
    app.station_with_zone(alice)
    tarball = job_tarball(files={"data.txt": b"x" * 100_000})
    first = app.submit(alice, body=tarball, cpus="3", memory="1G").json()
    _finish(app, alice, first["id"])
    app.hub.housekeeping()  # within resubmit_days: the bundle stays
    again = app.call("POST", f"/jobs/{first['id']}/resubmit", alice, params={"key": "again-001"})
    assert again.status_code == 201, again.text
    second = again.json()
    assert second["id"] != first["id"] and second["state"] == "received"
    assert second["resources"] == first["resources"] and second["name"] == first["name"]
    assert second["history"][0]["detail"] == f"submitted by alice, again from job {first['id']}"
    files = app.hub.files
    assert files.path(files.bundle_name(second["id"])).read_bytes() == tarball
    retry = app.ok("POST", f"/jobs/{first['id']}/resubmit", alice, params={"key": "again-001"})
    assert retry["id"] == second["id"]  # the same key: the same job
    assert app.call("POST", f"/jobs/{first['id']}/resubmit", bob, params={"key": "again-002"}).status_code == 404
    app.clock.now += 8 * 86400
    app.hub.housekeeping()
    gone = app.call("POST", f"/jobs/{first['id']}/resubmit", alice, params={"key": "again-003"})
    assert gone.status_code == 409 and "no longer kept" in gone.json()["detail"]
