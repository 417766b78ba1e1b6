"""A job stopped by an exhausted credit (issue 26), end to end: a real hub, a real landing zone
(local executor, ``none`` runtime) measuring the job with psutil, a Station whose CPU-second costs
one credit and whose members may spend two. The job burns a CPU; the hub warns its owner, then
records a stop; the landing zone stops the job and still collects its partial results; the stop's
reason is on the job; a next job waits for credit and says so; ``lz usage`` shows the spending."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.hub_server import HubServer, hub_landing_zone
from tests.integration.test_hub_end_to_end import wait_jobs

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    server = HubServer(tmp_path / "hub", lease_s=6)
    server.start()
    yield server
    server.stop()


def burner(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "lz.toml").write_text('name = "burner"\ncommand = ["sh", "run.sh"]\n')
    (folder / "run.sh").write_text(f"echo partial > partial.txt\nexec {sys.executable} -c 'while True: pass'\n")
    return folder


def test_a_job_is_stopped_when_its_owners_credit_runs_out(hub: HubServer, tmp_path: Path) -> None:
    alice = hub.user("alice")
    lz = hub_landing_zone(tmp_path / "lz1", hub, "lz1", alice, config="usage_interval_s = 0.5\n")
    lz.start()
    try:
        hub.station_with_zones(alice, "s", "lz1")
        hub.client(alice, "station", "credits", "s", "--cpu-hour", "3600", "--limit", "2")  # 1 credit a CPU-second
        job_id = hub.client(alice, "submit", str(burner(tmp_path / "burner")), "--station", "s").stdout.split()[-1]
        started = time.time()
        job = wait_jobs(hub, alice, [job_id], timeout=90)[job_id]
        took = time.time() - started
        assert (job["outcome"], job["results"]) == ("cancelled", True), job
        assert "the credit limit" in job["reason"], job
        shown = hub.client_json(alice, "status", job_id)
        stop = [h for h in shown["history"] if h["event"] == "stop"]
        assert stop and "credit limit reached: station s spent" in stop[0]["detail"], shown["history"]
        out = tmp_path / "results"
        hub.client(alice, "results", job_id, "-o", str(out))
        assert (out / "partial.txt").read_text() == "partial\n"
        notes = hub.client(alice, "logs", job_id, "--notifications").stdout
        assert notes.index("credit warning: station s spent") < notes.index(f"job burner ({job_id}) stopped: credit")
        # the spending: at least the limit, and the next job waits for credit with that reason
        [row] = hub.client_json(alice, "usage", "--by", "station")
        assert row["station"] == "s" and row["credits_mc"] >= 2000 and row["cpu_hours"] > 0
        assert "station,cpu_hours" in hub.client(alice, "usage", "--csv", "--by", "station").stdout
        waiting = hub.client(alice, "submit", str(burner(tmp_path / "next")), "--station", "s").stdout.split()[-1]
        time.sleep(1)
        status = hub.client_json(alice, "status", waiting)
        assert status["state"] == "received" and status["pending_reason"].startswith(
            "waiting: credit limit: station s spent"), status
        hub.client(alice, "cancel", waiting)
        print(f"stopped by credit after {took:.1f} s; charged {row['credits']} credits")
    finally:
        lz.stop()
