"""The web page's side of issue 26 on a real SQLite hub: a Station's templates and roles (forms
that call the same rules as the API), the submit form's template picker, and "Submit again" on
a finished job's page."""

from __future__ import annotations

import html
import json
import re

from tests.unit.hub_helpers import HubApp, job_tarball
from tests.unit.web.test_web_pages import Browser, _finished, _flash, alice, app

__all__ = ["alice", "app"]  # the fixtures


def test_templates_from_the_station_page_to_the_submit_form(app: HubApp, alice: Browser) -> None:
    made = alice.post("/stations/s1/templates", name="small", description="up to 4 CPUs", cpus="2", max_cpus="4",
                      memory="1G", time="10:00", runtime_command="1")
    assert (made.status_code, made.headers["location"]) == (303, "/stations/s1#templates")
    [small] = app.ok("GET", "/stations/s1/templates", alice.token)
    assert (small["cpus"], small["memory_mb"]["default"], small["time_s"]["default"], small["runtimes"]) == (
        {"default": 2, "min": None, "max": 4}, 1024, 600, ["command"])
    assert "up to 4 CPUs" in alice.get("/stations/s1").text
    refused = alice.post("/stations/s1/templates", name="bad", max_memory="lots")
    assert refused.status_code == 422 and "--max-memory: memory" in _flash(refused)
    # the submit form offers it, with the fields its defaults fill
    form = alice.get("/jobs").text
    [fields] = re.findall(r'<option value="small" data-station="s1" data-fields="([^"]+)"', form)
    assert json.loads(html.unescape(fields)) == {"cpus": "2", "gpus": "", "memory": "1G", "time": "00:10:00"}
    sent = alice.client.post("/jobs/upload", params={"station": "s1", "key": "tpl-00001", "template": "small"},
                             content=job_tarball(), headers={"X-CSRF-Token": alice.csrf})
    assert sent.status_code == 201, sent.text
    assert app.ok("GET", f"/jobs/{sent.json()['id']}", alice.token)["resources"]["cpus"] == 2
    over = alice.client.post("/jobs/upload", params={"station": "s1", "key": "tpl-00002", "template": "small",
                                                     "cpus": "6"}, content=job_tarball(),
                             headers={"X-CSRF-Token": alice.csrf})
    assert (over.status_code, over.json()["detail"]) == (422, "template 'small': cpus 6 is more than its max 4")
    assert alice.post("/stations/s1/templates/small/remove").status_code == 303
    assert 'id="submit-template"' not in alice.get("/jobs").text


def test_roles_from_the_station_page(app: HubApp, alice: Browser) -> None:
    bob = Browser(app, "bob")
    app.ok("POST", "/stations/s1/members", alice.token, json={"user": "bob"})
    assert alice.post("/stations/s1/roles", name="watcher", others_jobs="1").status_code == 303
    assert {"name": "watcher", "flags": ["others_jobs"], "built_in": False} in app.ok(
        "GET", "/stations/s1/roles", alice.token)
    assert alice.post("/stations/s1/members/bob/role", role="watcher").status_code == 303
    assert {"user": "bob", "role": "watcher"} in app.ok("GET", "/stations/s1/members", alice.token)
    page = bob.get("/stations/s1").text  # bob may only look: no forms that change the Station
    for form in ('action="/stations/s1/invite"', 'action="/stations/s1/roles"', 'action="/stations/s1/templates"',
                 'action="/stations/s1/volumes"'):
        assert form not in page, form
    assert bob.post("/stations/s1/roles", name="mine", launch="1").status_code == 403
    held = alice.post("/stations/s1/roles/watcher/remove")
    assert held.status_code == 409 and "members hold role 'watcher'" in html.unescape(_flash(held))


def test_submit_again_from_a_finished_jobs_page(app: HubApp, alice: Browser) -> None:
    waiting = app.submit(alice.token, cpus="2").json()["id"]
    assert 'id="submit-again"' not in alice.get(f"/jobs/{waiting}").text  # not finished yet
    app.ok("POST", f"/jobs/{waiting}/cancel", alice.token)
    assert 'id="submit-again"' not in alice.get(f"/jobs/{waiting}").text  # cancelled waiting: files gone
    done = _finished(app, alice)
    page = alice.get(f"/jobs/{done}").text
    assert 'id="submit-again"' in page
    [key] = re.findall(r'name="key" value="([0-9a-f]{32})"', page)
    again = alice.post(f"/jobs/{done}/resubmit", key=key)
    assert again.status_code == 303
    new_id = again.headers["location"].removeprefix("/jobs/")
    assert new_id != done and app.ok("GET", f"/jobs/{new_id}", alice.token)["state"] == "received"
    assert alice.post(f"/jobs/{done}/resubmit", key=key).headers["location"] == f"/jobs/{new_id}"  # one click, one job
    assert alice.post(f"/jobs/{done}/resubmit", key=key, csrf="forged").status_code == 403
