"""Interactive ports end to end (issue 26): a real ``lz hub serve``, a real landing zone
(``lz run --hub``) and a job running ``examples/web-server`` (a page and a WebSocket echo). The
hub serves the job's declared port at ``/jobs/ID/port/N/`` to the Station's members with the
``ports`` flag, over a tunnel the landing zone opens; the tunnel closes when the job ends."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from tests.integration.hub_server import HubServer, free_port, hub_landing_zone
from tests.integration.slurm_cluster import requires_slurm

pytestmark = [pytest.mark.integration, pytest.mark.slow]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "web-server"


def port_job(folder: Path, port: int) -> Path:
    """``examples/web-server`` on a free port (the machine is shared: 8888 may be taken), serving
    two minutes at most (a job left behind by a failed test ends by itself)."""
    shutil.copytree(EXAMPLE, folder)
    toml = (folder / "lz.toml").read_text().replace('"8888"]', f'"{port}", "120"]').replace("8888", str(port))
    assert f'"{port}", "120"]' in toml
    (folder / "lz.toml").write_text(toml)
    return folder


def api(hub: HubServer, token: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{hub.url}/api/v1{path}", headers={"Authorization": f"Bearer {token}"},
                            timeout=30, **kwargs)


def token_of(path: Path) -> str:
    return path.read_text().strip()


def lab_with_a_port_job(tmp_path: Path, hub: HubServer, started: list[Any], files: dict[str, Path] | None = None,
                        **zone_args: Any) -> tuple[dict[str, str], str, int]:
    """alice's Station ``lab`` with her landing zone X (added to ``started``, for the test to
    stop), carol in it as a launcher (no ``ports``), bob outside it; alice's web-server job
    running. ``files``: the users' token files, when the test made the users itself. Returns
    (tokens, job id, port)."""
    files = files or {name: hub.user(name) for name in ("alice", "bob", "carol")}
    tokens = {name: token_of(path) for name, path in files.items()}
    zone = hub_landing_zone(tmp_path / "X", hub, "X", files["alice"], **zone_args)
    started.append(zone)
    zone.start()
    assert api(hub, tokens["alice"], "POST", "/stations", json={"name": "lab"}).status_code == 201
    deadline = time.time() + 30
    while api(hub, tokens["alice"], "PUT", "/stations/lab/zones/X").status_code != 200:
        assert time.time() < deadline, "the landing zone never registered"
        time.sleep(0.2)
    invited = api(hub, tokens["alice"], "POST", "/stations/lab/invitations", json={"user": "carol", "role": "launcher"})
    assert invited.status_code == 201, invited.text
    assert api(hub, tokens["carol"], "POST", "/invitations/lab/accept").status_code == 200
    port = free_port()
    job_id = hub.client(files["alice"], "submit", str(port_job(tmp_path / "web", port)), "--station", "lab"
                        ).stdout.strip().splitlines()[-1]
    deadline = time.time() + 90
    while api(hub, tokens["alice"], "GET", f"/jobs/{job_id}").json()["state"] != "running":
        assert time.time() < deadline, "the job never ran"
        time.sleep(0.2)
    return tokens, job_id, port


def stopped(hub: HubServer, zones: list[Any], token: str | None = None, job_id: str | None = None) -> None:
    """The test's end: its job cancelled and ended (its server with it), then the zone and hub."""
    try:
        if token and job_id:
            api(hub, token, "POST", f"/jobs/{job_id}/cancel")
            deadline = time.time() + 30
            while api(hub, token, "GET", f"/jobs/{job_id}").json()["state"] != "cleaned" and time.time() < deadline:
                time.sleep(0.3)
    finally:
        for zone in zones:
            zone.stop()
        hub.stop()


def opened(hub: HubServer, token: str, job_id: str, port: int, path: str = "/") -> requests.Response:
    """The port's page, once the job's server listens (it starts a moment after the job runs)."""
    deadline = time.time() + 20
    while True:
        answer = requests.get(f"{hub.url}/jobs/{job_id}/port/{port}{path}", timeout=30,
                              headers={"Authorization": f"Bearer {token}"}, allow_redirects=False)
        if answer.status_code != 502 or time.time() > deadline:
            return answer
        time.sleep(0.3)


def test_a_running_jobs_port_over_http_and_websocket_to_members_only(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text("[ports]\nconnect_s = 10\n")
    hub = HubServer(tmp_path / "hub", lease_s=10, config=config)
    hub.start()
    zones: list[Any] = []
    tokens: dict[str, str] = {}
    job_id = None
    try:
        tokens, job_id, port = lab_with_a_port_job(tmp_path, hub, zones)
        page = opened(hub, tokens["alice"], job_id, port)
        assert page.status_code == 200, page.text
        assert "Hello from inside the job" in page.text
        assert opened(hub, tokens["alice"], job_id, port, "/missing").status_code == 404  # the job's own 404
        bare = requests.get(f"{hub.url}/jobs/{job_id}/port/{port}", allow_redirects=False, timeout=30)
        assert bare.status_code == 307 and bare.headers["location"] == f"/jobs/{job_id}/port/{port}/"

        assert opened(hub, tokens["bob"], job_id, port).status_code == 404  # not a member: nothing to see
        assert opened(hub, tokens["carol"], job_id, port).status_code == 404  # a launcher: not her job
        assert opened(hub, tokens["alice"], job_id, port + 1 if port < 65535 else port - 1).status_code == 404
        anonymous = requests.get(f"{hub.url}/jobs/{job_id}/port/{port}/", allow_redirects=False, timeout=30)
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")

        started = time.monotonic()
        ws = websocket.create_connection(f"ws://127.0.0.1:{hub.port}/jobs/{job_id}/port/{port}/echo",
                                         header=[f"Authorization: Bearer {tokens['alice']}"], timeout=20)
        ws.send("hello through the tunnel")
        assert ws.recv() == "echo: hello through the tunnel"
        ws.send_binary(b"\x00\x01" * 40_000)  # larger than one frame of the tunnel's reads
        assert ws.recv() == b"echo: " + b"\x00\x01" * 40_000
        round_trip_s = time.monotonic() - started
        with pytest.raises(websocket.WebSocketBadStatusException):
            websocket.create_connection(f"ws://127.0.0.1:{hub.port}/jobs/{job_id}/port/{port}/echo",
                                        header=[f"Authorization: Bearer {tokens['bob']}"], timeout=20)

        assert api(hub, tokens["alice"], "POST", f"/jobs/{job_id}/cancel").status_code == 200
        ended = time.monotonic()
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            while True:  # the tunnel closes when the job ends: the hub closes the user's WebSocket
                ws.settimeout(15)
                ws.recv()
                assert time.monotonic() - ended < 15
        print(f"websocket open + 2 round trips {round_trip_s:.2f}s; closed {time.monotonic() - ended:.2f}s after the cancel")
        deadline = time.time() + 30
        while opened(hub, tokens["alice"], job_id, port).status_code != 409:
            assert time.time() < deadline
            time.sleep(0.2)
    finally:
        stopped(hub, zones, tokens.get("alice"), job_id)


@pytest.mark.slurm
@requires_slurm
def test_a_slurm_jobs_port_is_reached_on_the_node_it_runs_on(tmp_path: Path) -> None:
    """The agent asks squeue for the job's batch host and connects there (one node here)."""
    hub = HubServer(tmp_path / "hub", lease_s=10)
    hub.start()
    zones: list[Any] = []
    tokens: dict[str, str] = {}
    job_id = None
    try:
        tokens, job_id, port = lab_with_a_port_job(
            tmp_path, hub, zones, container="slurm", extra_args=("--runtime", "none"),
            config="[slurm]\nsstat_interval_s = 2\n")
        page = opened(hub, tokens["alice"], job_id, port)
        assert page.status_code == 200 and "Hello from inside the job" in page.text, page.text
        assert api(hub, tokens["alice"], "POST", f"/jobs/{job_id}/cancel").status_code == 200
        deadline = time.time() + 60
        while api(hub, tokens["alice"], "GET", f"/jobs/{job_id}").json()["state"] != "cleaned":
            assert time.time() < deadline
            time.sleep(0.5)
    finally:
        stopped(hub, zones, tokens.get("alice"), job_id)


@pytest.mark.postgres
def test_tunnel_wishes_are_handed_out_once_on_postgresql(postgres_url: str) -> None:
    """hub0018 and the wishes' statements on PostgreSQL: two hub processes (two engines) taking
    the same wish, one gets it; a killed process's wish goes with housekeeping."""
    from lz.hub.server import db
    from lz.hub.server.domain import accounts, ports, zones
    from lz.hub.server.domain.ports import Target

    alice = accounts.Principal(1, "alice", False, "user", 0)
    one, two = db.make_hub_engine(postgres_url), db.make_hub_engine(postgres_url)
    db.upgrade(one)
    now = time.time()
    try:
        with db.write(one) as conn:
            accounts.add_user(conn, "alice", False, now)
            zones.register(conn, alice, "lz1", {"max_running": 1}, now)
            lz_id = zones.owned(conn, alice, "lz1")
            ports.want(conn, "t" * 32, Target("ab12", 1, lz_id, 8888), now)
            ports.want(conn, "old" + "t" * 29, Target("ab12", 1, lz_id, 8888), now - 2 * ports.STALE_S)
        with db.read(two) as conn:
            assert ports.waiting(conn, [lz_id]) == ["old" + "t" * 29, "t" * 32]
        with db.write(one) as first:
            taken_first = ports.take(first, ["t" * 32], now)
        with db.write(two) as second:
            taken_second = ports.take(second, ["t" * 32], now)
        assert taken_first == {lz_id: [{"id": "t" * 32, "job_id": "ab12", "attempt": 1, "port": 8888}]}
        assert taken_second == {}
        with db.write(two) as conn:
            assert ports.purge(conn, now) == 1
            ports.forget(conn, "t" * 32)
        with db.read(one) as conn:
            assert ports.waiting(conn, [lz_id]) == []
    finally:
        one.dispose()
        two.dispose()
