"""Interactive ports in a real headless Chromium (issue 26): alice opens her running job's port
from the job's page; the job's own page (``examples/web-server``) loads through the hub and its
script's WebSocket makes a round trip through the tunnel. bob, who is not in the Station, gets
the hub's 404 page for the same address."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import Browser, require_chromium
from tests.browser.test_web_end_to_end import PASSWORD, sign_in
from tests.integration.hub_server import HubServer
from tests.integration.test_hub_ports import lab_with_a_port_job, stopped

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def user_with_password(hub: HubServer, name: str) -> Path:
    subprocess.run([sys.executable, "-m", "lz.cli", "hub", "user", "add", name, "--password-stdin"],
                   input=PASSWORD + "\n", text=True, env=hub.env, check=True, capture_output=True)
    token = hub.cli("hub", "token", "create", "--user", name).stdout.strip().splitlines()[-1]
    path = hub.base / f"{name}.token"
    path.write_text(token + "\n")
    os.chmod(path, 0o600)
    return path


def test_a_jobs_port_opens_in_the_browser_and_is_refused_to_a_non_member(tmp_path: Path) -> None:
    require_chromium()
    hub = HubServer(tmp_path / "hub", lease_s=10)
    hub.start()
    browser = Browser(tmp_path / "downloads")
    zones: list[Any] = []
    tokens: dict[str, str] = {}
    job_id = None
    try:
        files = {name: user_with_password(hub, name) for name in ("alice", "bob", "carol")}
        tokens, job_id, port = lab_with_a_port_job(tmp_path, hub, zones, files)
        sign_in(browser, hub, "alice", then=f"/jobs/{job_id}")
        browser.wait("the port's link", lambda: browser.all(f"#port-{port}"), timeout=30)
        browser.click(f"#port-{port}")
        browser.wait("the job's own page", lambda: "Hello from inside the job" in browser.text("body"), timeout=30)
        if browser.all("#echo") and "echo:" not in browser.text("#echo"):
            browser.go(browser.url)  # the job's server may have come up just as the page first loaded
        browser.wait("a WebSocket round trip", lambda: browser.text("#echo") == "echo: ping through the tunnel",
                     timeout=30)
        assert browser.url.startswith(f"{hub.url}/jobs/{job_id}/port/{port}/")

        browser.driver.delete_all_cookies()  # alice's session gone: bob signs in on the same browser
        sign_in(browser, hub, "bob", then="/zones")
        browser.go(f"{hub.url}/jobs/{job_id}/port/{port}/")
        browser.wait("the hub's 404 page", lambda: f"no job {job_id!r} in your stations" in browser.text("main"))
        assert "Not found" in browser.text("main") and "Hello from inside the job" not in browser.text("body")
    finally:
        browser.close()
        stopped(hub, zones, tokens.get("alice"), job_id)
