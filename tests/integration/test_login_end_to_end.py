"""The embedded device flow end to end: ``lz run --name X --hub URL`` without a token prints the
original five lines, ``lz hub approve CODE --user alice`` approves, X comes online owned by alice
and runs a job of alice's Station; the token never shows in logs or in a job's argv/environment.
Also ``lz login`` approved through the /activate page with an HTTP client."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.hub_server import HubServer, hub_landing_zone, printed_code

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIVE = [r"Pulling updates…", r"Already up to date!",
        r"Please visit the following url in your browser and enter the code below",
        r"URL: http://127\.0\.0\.1:\d+/activate", r"Code: [B-Z]{4}-[B-Z]{4}"]


@pytest.fixture
def hub(tmp_path: Path) -> Any:
    config = tmp_path / "hub.toml"
    config.write_text("[login]\naccess_s = 20\ndevice_interval_s = 1\n")
    server = HubServer(tmp_path / "hub", lease_s=6, config=config)
    server.start()
    subprocess.run([sys.executable, "-m", "lz.cli", "hub", "user", "add", "alice", "--password-stdin"],
                   input="correct horse\n", text=True, env=server.env, check=True, capture_output=True)
    yield server
    server.stop()


def _all_proc(field: str) -> list[bytes]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                out.append((entry / field).read_bytes())
            except OSError:
                pass
    return out


def test_lz_run_without_token_logs_in_and_runs_alices_job(hub: HubServer, tmp_path: Path) -> None:
    token_file = tmp_path / "lz-token"
    lz = hub_landing_zone(tmp_path / "X", hub, "X", token_file)
    approved: list[str] = []

    def _approve() -> None:
        code = printed_code(tmp_path / "X" / "daemon-1.log")
        approved.append(hub.cli("hub", "approve", code, "--user", "alice").stdout)

    thread = threading.Thread(target=_approve)
    thread.start()
    lz.start()  # returns once the daemon runs: after the login
    thread.join(60)
    try:
        out = (tmp_path / "X" / "daemon-1.log").read_text()
        lines = [line for line in out.splitlines() if line and not re.match(r"^\d{4}-|^\{", line)][:5]
        for pattern, line in zip(FIVE, lines, strict=True):
            assert re.fullmatch(pattern, line), (pattern, line, out)
        assert "approved for alice" in approved[0]
        saved = json.loads(token_file.read_text())
        assert token_file.stat().st_mode & 0o777 == 0o600 and saved["refresh_token"]
        alice = tmp_path / "alice-static"
        alice.write_text(hub.cli("hub", "token", "create", "--user", "alice").stdout.strip().splitlines()[-1])
        alice.chmod(0o600)
        deadline = time.time() + 30
        while time.time() < deadline:
            zones = hub.client_json(alice, "zones")
            if zones and zones[0]["online"]:
                break
            time.sleep(0.3)
        assert [z["name"] for z in zones] == ["X"] and zones[0]["online"]
        hub.client(alice, "station", "create", "S")
        hub.client(alice, "station", "add-lz", "S", "X")
        job = tmp_path / "job"
        job.mkdir()
        (job / "lz.toml").write_text('command = ["sh", "-c", "sleep 6; echo done"]\n')
        job_id = hub.client(alice, "submit", str(job), "--station", "S").stdout.strip().splitlines()[-1]
        secrets = [saved["access_token"].encode(), saved["refresh_token"].encode()]
        seen_running = False
        deadline = time.time() + 120
        while time.time() < deadline:
            state = {j["id"]: j for j in hub.client_json(alice, "status")}[job_id]["state"]
            if state == "running" and not seen_running:
                seen_running = True
                for blob in _all_proc("cmdline") + _all_proc("environ"):
                    assert not any(s in blob for s in secrets)
            if state == "cleaned":
                break
            time.sleep(0.3)
        assert state == "cleaned" and seen_running
        logs = (tmp_path / "X" / "daemon-1.log").read_bytes() + hub.log().encode()
        assert not any(s in logs for s in secrets)
    finally:
        lz.stop()


def test_lz_login_approved_on_the_activate_page(hub: HubServer, tmp_path: Path) -> None:
    token_file = tmp_path / "tok"
    proc = subprocess.Popen([sys.executable, "-m", "lz.cli", "login", "--hub", hub.url, "--token", str(token_file)],
                            env=hub.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines = [proc.stdout.readline().rstrip("\n") for _ in range(5)]
    for pattern, line in zip(FIVE, lines, strict=True):
        assert re.fullmatch(pattern, line), (pattern, line)
    code = lines[4].split()[-1]
    browser = requests.Session()
    target = f"/activate?user_code={code}"
    page = browser.get(hub.url + target)  # no session yet: redirected to sign in
    assert page.url.startswith(hub.url + "/login?next=") and 'name="password"' in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, "the sign-in form carries a CSRF token"
    signed_in = browser.post(hub.url + "/login", data={"name": "alice", "password": "correct horse", "next": target,
                                                       "csrf": csrf.group(1)})
    cookie = signed_in.headers["set-cookie"]
    assert signed_in.status_code == 200 and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    page = browser.get(hub.url + target)
    assert "asks to act as you" in page.text and "127.0.0.1" in page.text  # who asked, from where
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf
    forged = browser.post(hub.url + "/activate", data={"csrf": "forged", "user_code": code, "decision": "approve"})
    assert forged.status_code == 403
    done = browser.post(hub.url + "/activate", data={"csrf": csrf.group(1), "user_code": code,
                                                     "decision": "approve"})
    assert done.status_code == 200 and "approved" in done.text
    assert proc.wait(30) == 0, proc.stdout.read()
    assert hub.client_json(token_file, "zones") == []  # the saved token works for client commands
    made = hub.client(token_file, "token", "create", "--for-landing-zones", "--expires", "7d").stdout
    assert made.strip().startswith("lzh_")
