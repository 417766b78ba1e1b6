"""The hub killed at each of its fault points (``LZ_CRASH_AT``, as SIGKILL would: no cleanup):
restarted, every job ends once, with the right result, and nothing is left on the hub or the
landing zone. The points sit between a commit and its answer, so each tests that a caller who
never heard the answer (a submitter, a claiming zone, an uploading or finishing zone) gets the
same outcome by retrying or by the lease running out."""

from __future__ import annotations

from pathlib import Path

import pytest

from lz.hub.agent.client import HubClient, read_token
from tests.integration.hub_server import HubServer, hub_landing_zone
from tests.integration.hub_soak import _square, soak_job
from tests.integration.landing_zone import wait_until

pytestmark = [pytest.mark.integration]

HUB_POINTS = ("hub.submit.stored", "hub.claim.committed", "hub.upload.stored", "hub.finish.recorded")


@pytest.mark.parametrize("point", HUB_POINTS)
def test_the_hub_killed_at_each_point(tmp_path: Path, point: str) -> None:
    hub = HubServer(tmp_path / "hub", lease_s=3)
    hub.server.env["LZ_CRASH_AT"] = point  # the hub process's own environment
    hub.start()
    token = hub.user("alice")
    zone = hub_landing_zone(tmp_path / "lz1", hub, "lz1", token, max_running=1)
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    try:
        client = HubClient(hub.url, read_token(token), timeout_s=30, retries=0)
        client.post("/api/v1/stations", {"name": "s"})
        zone.start()
        wait_until(lambda: len(client.get("/api/v1/zones")) == 1, 30, "lz1 registered")
        client.put("/api/v1/stations/s/zones/lz1")
        bundle = tmp_path / "job.tar.gz"
        bundle.write_bytes(soak_job("j", 7, 0.5, ledger))
        try:
            client.upload("POST", "/api/v1/stations/s/jobs", bundle, "application/gzip", params={"key": "key-job-j"})
        except Exception:
            assert point == "hub.submit.stored"  # the answer never came: the submitter tries again
        assert hub.proc is not None
        hub.proc.wait(60)
        assert hub.proc.returncode == 137, hub.log()[-3000:]
        assert f"crash point {point} reached" in hub.log()
        hub.server.env.pop("LZ_CRASH_AT")
        hub.start()
        again = HubClient(hub.url, read_token(token), timeout_s=30)
        job_id = again.upload("POST", "/api/v1/stations/s/jobs", bundle, "application/gzip",
                              params={"key": "key-job-j"})["id"]  # the same key: the same job, never two
        wait_until(lambda: again.get(f"/api/v1/jobs/{job_id}")["state"] == "cleaned", 90, "the job to end")
        job = again.get(f"/api/v1/jobs/{job_id}")
        assert job["outcome"] == "succeeded", job
        assert [j["id"] for j in again.get("/api/v1/jobs")] == [job_id]
        runs = (ledger / "j").read_text().splitlines()
        assert 1 <= len(runs) <= job["attempts"], (runs, job["attempts"])
        assert _square(again, job_id, tmp_path / "out") == "49"
        wait_until(lambda: not zone.leftovers(), 30, "the zone to clean up")
        zone.stop()
        incoming = hub.files / "incoming"
        assert not incoming.exists() or not list(incoming.iterdir()), list(incoming.iterdir())
    finally:
        zone.stop()
        hub.stop()
