"""A long-poll claim whose client went away claims nothing (issue 20 (b)): a real ``lz hub serve``
(uvicorn), a landing zone that closes its connection in the middle of its long poll, then a
submission that wakes the poll; another landing zone gets the job at once, not after a lease."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.hub_server import HubServer
from tests.unit.hub_helpers import job_tarball

pytestmark = pytest.mark.integration


def _open_long_poll(port: int, token: str, lz: str, wait_s: float) -> socket.socket:
    """A claim request sent over a raw socket, so the test decides when the connection closes."""
    body = json.dumps({"name": lz, "wait_s": wait_s, "max_jobs": 1}).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"POST /api/v1/lz/claim HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    return sock


def test_a_claimer_that_went_away_mid_poll_claims_nothing(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"  # the poll wakes only when notified: the submission decides when it claims
    config.write_text("[hub]\nrecheck_s = 60\n")
    hub = HubServer(tmp_path / "hub", lease_s=120, config=config)
    hub.start()
    try:
        token = hub.user("alice").read_text().strip()
        with httpx.Client(base_url=hub.url + "/api/v1", headers={"Authorization": f"Bearer {token}"},
                          timeout=30) as api:
            assert api.post("/stations", json={"name": "s1"}).status_code == 201
            for lz in ("lz1", "lz2"):
                api.post("/lz/register", json={"name": lz, "cpus": 4}).raise_for_status()
                api.put(f"/stations/s1/zones/{lz}").raise_for_status()
            gone = _open_long_poll(hub.port, token, "lz1", wait_s=30)
            time.sleep(1.0)  # the poll is waiting in the hub
            gone.shutdown(socket.SHUT_RDWR)
            gone.close()
            time.sleep(0.5)
            submitted = api.post("/stations/s1/jobs", params={"key": "disconnect-1"}, content=job_tarball())
            assert submitted.status_code == 201, submitted.text
            job_id = submitted.json()["id"]
            time.sleep(1.0)  # the dead poll has woken (notified at once, rechecking 4 times a second)
            started = time.monotonic()
            got = api.post("/lz/claim", json={"name": "lz2", "wait_s": 5, "max_jobs": 1}).json()["jobs"]
            assert [j["id"] for j in got] == [job_id], (
                f"the job went to the claimer that went away: {api.get(f'/jobs/{job_id}').json()}")
            assert time.monotonic() - started < 4  # at once, not after its lease
            job = api.get(f"/jobs/{job_id}").json()
            assert job["landing_zone"] == "lz2" and job["failed_attempts"] == 0
    finally:
        hub.stop()
