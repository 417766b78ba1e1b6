"""Issue 24, "Slurm habits" against a hub: `lz status --hub` and `lz cancel --hub` take the same
filters as locally (-t with squeue's forms, -n, --since, --outcome, -N, --format), plus --station
and --zone; the hub's list API filters by name pattern, landing zone and time. A real hub app on a
real SQLite file, served by uvicorn on a loopback port in this process."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from click.testing import CliRunner, Result

from lz.cli import main
from lz.hub.server.app import create_app
from lz.hub.server.config import HubConfig
from lz.hub.server.domain import accounts
from tests.clock import Clock
from tests.unit.hub_helpers import job_tarball, migrated_hub_db


class Hub:
    def __init__(self, url: str, app: Any, clock: Clock, tmp_path: Path):
        self.url, self.clock = url, clock
        self.hub = app.state.hub
        self.token = self.hub.write(lambda conn: (accounts.add_user(conn, "alice", False, clock()),
                                                  accounts.create_token(conn, "alice", clock(), None, "user")[1])[1])
        self.token_file = tmp_path / "token"
        self.token_file.write_text(self.token + "\n")
        self.token_file.chmod(0o600)
        self.keys = 0

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = requests.request(method, self.url + "/api/v1" + path, timeout=30,
                                  headers={"Authorization": f"Bearer {self.token}"}, **kwargs)
        assert answer.status_code < 300, answer.text
        return answer.json()

    def submit(self, name: str, station: str = "s1") -> str:
        self.keys += 1
        return str(self.call("POST", f"/stations/{station}/jobs", data=job_tarball(),
                             params={"key": f"key-{self.keys:08d}", "name": name})["id"])


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    clock = Clock(time.time() - 5 * 3600)
    migrated_hub_db(tmp_path / "hub" / "hub.db")
    app = create_app(HubConfig(db_url=f"sqlite:///{tmp_path / 'hub' / 'hub.db'}", files_dir=tmp_path / "hub" / "files",
                               clock=clock), migrate=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield Hub(f"http://127.0.0.1:{port}", app, clock, tmp_path)
    finally:
        server.should_exit = True
        thread.join(30)


def lz(hub: Hub, tmp_path: Path, *args: str) -> Result:
    env = {"LZ_HUB": hub.url, "LZ_TOKEN_FILE": str(hub.token_file), "LZ_CONFIG": "", "HOME": str(tmp_path),
           "LZ_DB": str(tmp_path / "state" / "lz.db"), "XDG_CONFIG_HOME": str(tmp_path / "c")}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def fill(hub: Hub) -> dict[str, str]:
    """Stations s1 (landing zone lz1) and s2; train-1 (5 h old, claimed by lz1), train-2 (3 h),
    eval (2 h, on s2, cancelled), prep (30 min)."""
    hub.call("POST", "/stations", json={"name": "s1"})
    hub.call("POST", "/stations", json={"name": "s2"})
    hub.call("POST", "/lz/register", json={"name": "lz1", "cpus": 4})
    hub.call("PUT", "/stations/s1/zones/lz1")
    ids = {"train-1": hub.submit("train-1")}
    hub.call("POST", "/lz/claim", json={"name": "lz1", "wait_s": 0, "max_jobs": 1})
    for name, at_hours, station in (("train-2", 3, "s1"), ("eval", 2, "s2"), ("prep", 0.5, "s1")):
        hub.clock.now = time.time() - at_hours * 3600
        ids[name] = hub.submit(name, station)
    hub.call("POST", f"/jobs/{ids['eval']}/cancel")
    return ids


def names(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [j["name"] for j in json.loads(result.stdout)]


def test_hub_status_filters_as_locally(hub: Hub, tmp_path: Path) -> None:
    fill(hub)
    assert names(lz(hub, tmp_path, "status", "-t", "PD", "--json")) == ["prep", "train-2", "train-1"]
    assert names(lz(hub, tmp_path, "status", "--outcome", "CA", "--json")) == ["eval"]
    assert names(lz(hub, tmp_path, "status", "-n", "TRAIN-*", "--json")) == ["train-2", "train-1"]
    assert names(lz(hub, tmp_path, "status", "--since", "2h30m", "--json")) == ["prep", "eval"]
    assert names(lz(hub, tmp_path, "status", "--station", "s2", "--json")) == ["eval"]
    assert names(lz(hub, tmp_path, "status", "--zone", "lz1", "--json")) == ["train-1"]
    assert names(lz(hub, tmp_path, "status", "-N", "1", "--json")) == ["prep"]
    shown = lz(hub, tmp_path, "status", "-n", "train-1", "-o", "%j %t %a %N")
    assert shown.stdout.splitlines() == ["NAME    ST STATION LANDING_ZONE", "train-1 PD s1      lz1"]
    bad = lz(hub, tmp_path, "status", "-t", "done")
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "unknown state 'done'" in bad.stderr


def test_the_hub_list_refuses_a_pattern_too_long(hub: Hub) -> None:
    answer = requests.get(hub.url + "/api/v1/jobs", params={"name": "x" * 200}, timeout=30,
                          headers={"Authorization": f"Bearer {hub.token}"})
    assert answer.status_code == 422 and "longer than 128" in answer.text
    answer = requests.get(hub.url + "/api/v1/jobs", params={"since": "soon"}, timeout=30,
                          headers={"Authorization": f"Bearer {hub.token}"})
    assert answer.status_code == 422


def test_hub_cancel_several_ids_and_by_name(hub: Hub, tmp_path: Path) -> None:
    ids = fill(hub)
    done = lz(hub, tmp_path, "cancel", ids["prep"], "0000000000", ids["train-2"])
    assert done.exit_code == 2
    assert done.stdout.splitlines() == [f"job {ids['prep']} cleaned", f"job {ids['train-2']} cleaned"]
    assert done.stderr.strip() == "lz: error: no job '0000000000' in your stations"
    by_name = lz(hub, tmp_path, "cancel", "-n", "train-*", "--station", "s1")
    assert by_name.exit_code == 0, by_name.output
    assert by_name.stdout.splitlines() == [f"job {ids['train-1']} received (cancel requested)"]
    nothing = lz(hub, tmp_path, "cancel", "-n", "nomatch")
    assert nothing.exit_code == 0 and "no active job matches" in nothing.stderr


def test_filters_only_narrow_what_a_user_may_see(hub: Hub, tmp_path: Path) -> None:
    """--zone names a landing zone, not a way round Station membership: bob, in no Station,
    sees none of the jobs that ran on lz1, whatever he filters by."""
    fill(hub)
    bob = hub.hub.write(lambda conn: (accounts.add_user(conn, "bob", False, hub.clock()),
                                      accounts.create_token(conn, "bob", hub.clock(), None, "user")[1])[1])
    for params in ({"zone": "lz1"}, {"name": "*"}, {"since": "0"}, {"name": "%"}):
        answer = requests.get(hub.url + "/api/v1/jobs", params=params, timeout=30,
                              headers={"Authorization": f"Bearer {bob}"})
        assert answer.status_code == 200 and answer.json() == [] and answer.headers["X-Lz-Total"] == "0", params


def test_hub_stop_kill_pause_resume_take_ids_and_filters(hub: Hub, tmp_path: Path) -> None:
    """The hub has all four requests (POST .../control): several ids with an unknown one among
    them (its line, exit status 2, the others recorded), and a pattern, as `lz cancel --hub`."""
    ids = fill(hub)
    paused = lz(hub, tmp_path, "pause", ids["train-1"], "0000000000", ids["prep"])
    assert paused.exit_code == 2
    assert paused.stdout.splitlines() == [f"job {ids['train-1']} received (pause requested on the hub)",
                                          f"job {ids['prep']} received (pause requested on the hub)"]
    assert paused.stderr.strip() == "lz: error: no job '0000000000' in your stations"
    resumed = lz(hub, tmp_path, "resume", ids["prep"])
    assert resumed.exit_code == 0 and resumed.stdout.strip() == f"job {ids['prep']} received (resume requested on the hub)"
    stopped = lz(hub, tmp_path, "stop", "-n", "TRAIN-*", "--station", "s1")
    assert stopped.exit_code == 0, stopped.output
    assert stopped.stdout.splitlines() == [f"job {ids['train-1']} received (stop requested on the hub)",
                                           f"job {ids['train-2']} cleaned (stop requested on the hub)"]
    killed = lz(hub, tmp_path, "kill", "--zone", "lz1")
    assert killed.exit_code == 0 and killed.stdout.splitlines() == [
        f"job {ids['train-1']} received (kill requested on the hub)"]
    nothing = lz(hub, tmp_path, "resume", "-n", "*")  # no hub job is paused on a landing zone
    assert nothing.exit_code == 0 and nothing.stdout == "" and "no paused job matches" in nothing.stderr
