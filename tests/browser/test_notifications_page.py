"""Notifications end to end (issue 26), in a real headless Chromium against a real ``lz hub
serve`` and a real landing zone (``lz run --hub``): a running job sends a notification with
``lz-notify``; it appears on the job's page (with a badge) while the job still runs; the hub's
delivery loop posts it, and the job's end, to a real webhook receiver with a signature that
verifies; ``lz logs --hub JOB --notifications`` lists what the job sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from lz.hub.server.deliver import signature_ok
from tests.browser.chromium import Browser, require_chromium
from tests.browser.test_web_end_to_end import PASSWORD, sign_in, state_of
from tests.integration.hub_server import HubServer, hub_landing_zone
from tests.notify_receivers import webhook_server

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.browser]


def waiting_job(folder: Path, go: Path) -> Path:
    """Notifies, then waits for the test to say go (so it is surely running when the page shows
    the notification), notifies again and ends."""
    folder.mkdir(parents=True)
    (folder / "lz.toml").write_text('name = "notifier"\ncommand = ["sh", "run.sh"]\n')
    (folder / "run.sh").write_text(
        '"$(dirname "$LZ_NOTIFY")/lz-notify" "half way there: loss 0.12"\n'
        f'i=0; while [ ! -e {go} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n'
        'echo "all done" > "$LZ_NOTIFY"\n')
    return folder


def test_a_notification_from_a_running_job_appears_on_its_page(tmp_path: Path) -> None:
    require_chromium()
    with webhook_server() as hooks:
        config = tmp_path / "hub.toml"
        config.write_text("[hub]\ndeliver_s = 0.5\nwebhook_allow_private = true\n")  # the receiver is on 127.0.0.1
        hub = HubServer(tmp_path / "hub", lease_s=10, config=config)
        hub.start()
        browser = Browser(tmp_path / "downloads")
        lz = None
        try:
            subprocess.run([sys.executable, "-m", "lz.cli", "hub", "user", "add", "alice", "--password-stdin"],
                           input=PASSWORD + "\n", text=True, env=hub.env, check=True, capture_output=True)
            token = hub.cli("hub", "token", "create", "--user", "alice").stdout.strip().splitlines()[-1]
            token_file = tmp_path / "alice.token"
            token_file.write_text(token + "\n")
            os.chmod(token_file, 0o600)
            lz = hub_landing_zone(tmp_path / "X", hub, "X", token_file)
            lz.start()
            hub.station_with_zones(token_file, "lab", "X")
            made = requests.post(f"{hub.url}/api/v1/stations/lab/notifications", timeout=30,
                                 headers={"Authorization": f"Bearer {token}"},
                                 json={"channel": "webhook", "target": hooks.url})
            assert made.status_code == 201, made.text
            secret = made.json()["secret"]
            web = requests.post(f"{hub.url}/api/v1/stations/lab/notifications", timeout=30,  # and the page's badge
                                headers={"Authorization": f"Bearer {token}"}, json={"channel": "web"})
            assert web.status_code == 201, web.text

            go = tmp_path / "go"
            job_id = hub.client(token_file, "submit", str(waiting_job(tmp_path / "job", go)), "--station", "lab"
                                ).stdout.strip().splitlines()[-1]
            sign_in(browser, hub, "alice", then=f"/jobs/{job_id}")
            browser.wait("the notification", lambda: "half way there: loss 0.12" in browser.text("#notifications"),
                         timeout=60)
            assert state_of(browser) == "running"  # it came from the running job, without a reload
            assert browser.text("#notifications-new") == "1 new"
            go.touch()
            browser.wait("cleaned", lambda: state_of(browser) == "cleaned", timeout=60)
            browser.wait("the second", lambda: "all done" in browser.text("#notifications"), timeout=30)
            browser.click("#notifications-seen")
            browser.wait("seen", lambda: not browser.all("#notifications-new"))
            assert [e for e in browser.console_errors() if "favicon.ico" not in e] == []  # no script error

            listed = hub.client(token_file, "logs", job_id, "--notifications").stdout.splitlines()
            assert [line.split("  ", 1)[1] for line in listed] == ["half way there: loss 0.12", "all done"]

            deadline = time.time() + 30
            while len(hooks.received) < 3 and time.time() < deadline:
                time.sleep(0.2)
            sent = []
            for headers, body in hooks.received:
                assert signature_ok(secret, body, headers.get("x-lz-signature")), headers
                sent.append(json.loads(body))
            [end] = [s for s in sent if s["event"] == "job_end"]
            assert end["text"].startswith(f"job notifier ({job_id}) ended: succeeded") and end["job"]["id"] == job_id
            assert {s["text"] for s in sent if s["event"] == "notification"} == {"half way there: loss 0.12", "all done"}
        finally:
            browser.close()
            if lz is not None:
                lz.stop()
            hub.stop()
