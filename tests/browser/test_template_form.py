"""A job template used from the web page (issue 26), in a real headless Chromium against a real
``lz hub serve`` and a real landing zone (``lz run --hub``) on loopback: the Station's owner adds
a template on the Station's page, picks it on the submit form (the picker fills CPUs, memory and
time with its defaults), uploads a folder, and the landing zone runs the job with those
resources; then "Submit again" on the finished job's page makes a new job with the same ones."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chromium import Browser, require_chromium
from tests.browser.test_web_end_to_end import sign_in, state_of
from tests.integration.hub_server import HubServer, hub_landing_zone

pytestmark = [pytest.mark.integration, pytest.mark.browser]
PASSWORD = "correct horse"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    require_chromium()
    server = HubServer(tmp_path / "hub", lease_s=10)
    server.start()
    subprocess.run([sys.executable, "-m", "lz.cli", "hub", "user", "add", "alice", "--password-stdin"],
                   input=PASSWORD + "\n", text=True, env=server.env, check=True, capture_output=True)
    yield server
    server.stop()


def _token_file(hub: HubServer, path: Path) -> Path:
    token = hub.cli("hub", "token", "create", "--user", "alice").stdout.strip().splitlines()[-1]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    return path


def test_a_template_from_the_web_form_gives_the_job_its_resources(hub: HubServer, tmp_path: Path) -> None:
    token = _token_file(hub, tmp_path / "token")
    hub.client(token, "station", "create", "lab")
    lz = hub_landing_zone(tmp_path / "X", hub, "X", token, max_running=2)
    lz.start()
    browser = Browser(tmp_path / "downloads")
    try:
        hub.client(token, "station", "add-lz", "lab", "X")
        folder = tmp_path / "calc"
        folder.mkdir()
        (folder / "lz.toml").write_text('command = ["sh", "-c", "echo done"]\n')
        sign_in(browser, hub, "alice", then="/stations/lab")

        # the Station's page: a template whose defaults are 2 CPUs, 1G, 5 minutes
        browser.go(f"{hub.url}/stations/lab")
        for field, value in (("#tpl-name", "small"), ("#tpl-description", "two CPUs"), ("#tpl-cpus", "2"),
                             ("#tpl-max-cpus", "2"), ("#tpl-memory", "1G"), ("#tpl-time", "5")):
            browser.fill(field, value)
        browser.click("input[name='runtime_command']")
        browser.click("#template-button")
        browser.wait("the template listed", lambda: "two CPUs" in browser.text("#templates"))

        # the submit form: picking the template fills the fields; the upload carries it
        browser.go(f"{hub.url}/jobs?station=lab")
        browser.choose("#submit-station", "lab")
        browser.choose("#submit-template", "small")
        assert [browser.find(f"#submit-{f}").get_attribute("value") for f in ("cpus", "memory", "gpus", "time")] == [
            "2", "1G", "", "00:05:00"]
        browser.find("#submit-folder").send_keys(str(folder))
        browser.click("#submit-button")
        browser.wait("the job's page", lambda: "/jobs/" in browser.url and "/jobs?" not in browser.url)
        job_id = browser.url.rsplit("/", 1)[-1]
        browser.wait("cleaned", lambda: state_of(browser) == "cleaned", timeout=120)
        assert browser.text("#job-outcome") == "succeeded"
        wanted = {"cpus": 2, "memory_mb": 1024, "gpus": 0, "time_s": 300, "partition": None}
        assert hub.client_json(token, "status", job_id)["resources"] == wanted
        [ran] = lz.status()  # the landing zone's own copy of the job
        assert ran["resources"] == wanted and ran["state"] == "cleaned"

        # Submit again: a new job with the same files and resources
        browser.click("#submit-again")
        browser.wait("the new job's page", lambda: not browser.url.endswith(job_id) and "/jobs/" in browser.url)
        again = browser.url.rsplit("/", 1)[-1]
        browser.wait("cleaned again", lambda: state_of(browser) == "cleaned", timeout=120)
        assert hub.client_json(token, "status", again)["resources"] == wanted
    finally:
        browser.close()
        lz.stop()
