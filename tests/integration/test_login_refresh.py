"""One token file shared by many processes (a job array's recipe): 3 s access tokens, rotating
refresh tokens, six processes calling the hub for 12 s each; every call succeeds, none has to log
in again, the file stays 0600 JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.hub_server import HubServer, printed_code

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKER = """
import sys, time
from pathlib import Path
from lz.hub.agent.client import HubClient
from lz.hub.agent.login_client import TokenSource, read_file
path = Path(sys.argv[2])
client = HubClient(sys.argv[1], TokenSource(path, read_file(path)), retries=0)
calls, end = 0, time.time() + float(sys.argv[3])
while time.time() < end:
    assert client.get("/api/v1/whoami")["user"] == "alice"
    calls += 1
    time.sleep(0.05)
print("calls", calls)
"""


def login(hub: HubServer, token_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "login.out"

    def _approve() -> None:
        hub.cli("hub", "approve", printed_code(out), "--user", "alice")

    thread = threading.Thread(target=_approve)
    thread.start()
    with open(out, "w") as handle:
        subprocess.run([sys.executable, "-m", "lz.cli", "login", "--hub", hub.url, "--token", str(token_file)],
                       env=hub.env, stdout=handle, stderr=subprocess.STDOUT, check=True, timeout=60)
    thread.join(30)


@pytest.fixture
def hub(tmp_path: Path) -> Any:
    config = tmp_path / "hub.toml"
    config.write_text("[login]\naccess_s = 3\ndevice_interval_s = 1\nrefresh_grace_s = 30\n")
    server = HubServer(tmp_path / "hub", config=config)
    server.start()
    server.cli("hub", "user", "add", "alice")
    yield server
    server.stop()


def test_six_processes_share_one_token_file(hub: HubServer, tmp_path: Path) -> None:
    token_file = tmp_path / "shared" / "token"
    login(hub, token_file, tmp_path)
    first = json.loads(token_file.read_text())
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, hub.url, str(token_file), "12"], env=hub.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(6)]
    outputs = [p.communicate(timeout=90)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert all("calls" in o and "log in again" not in o for o in outputs)
    last = json.loads(token_file.read_text())
    assert last["refresh_token"] != first["refresh_token"] and token_file.stat().st_mode & 0o777 == 0o600
    # the latest refresh token is still good (no process replayed an old one past the grace window)
    time.sleep(0.1)
    assert hub.client_json(token_file, "zones") == []
