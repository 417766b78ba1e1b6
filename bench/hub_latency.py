#!/usr/bin/env python3
"""Submit-to-claim latency for an idle landing zone: a real hub process (SQLite), a real idle
landing zone (`lz run --container none --hub …`) long-polling it, jobs submitted one at a time.

claim:    hub's claim event time - the moment the submit request was sent
received: the landing zone's local job created (bundle fetched, intake done) - the same moment
Goal: claim under 1 s.

    python3 bench/hub_latency.py [--jobs 20]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lz.hub.agent.client import HubClient, read_token  # noqa: E402
from tests.integration.hub_fleet import trivial_job  # noqa: E402
from tests.integration.hub_server import HubServer, hub_landing_zone  # noqa: E402
from tests.integration.landing_zone import wait_until  # noqa: E402


def _claimed_at(hub_db: Path, job_id: str) -> float | None:
    with sqlite3.connect(hub_db) as conn:
        row = conn.execute("SELECT at FROM hub_events WHERE job_id = ? AND event = 'claim'", (job_id,)).fetchone()
    return row[0] if row else None


def _received_at(lz_db: Path, job_id: str) -> float | None:
    with sqlite3.connect(lz_db) as conn:
        row = conn.execute("SELECT created_at FROM jobs WHERE source = ?", (f"hub:{job_id}:1",)).fetchone()
    return row[0] if row else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lz-bench-latency-") as tmp:
        run(Path(tmp), args.jobs)


def run(base: Path, n_jobs: int) -> None:
    hub = HubServer(base / "hub")
    hub.start()
    token = hub.user("alice")
    lz = hub_landing_zone(base / "lz", hub, "idle", token, max_running=4)
    lz.start()
    try:
        client = HubClient(hub.url, read_token(token))
        client.post("/api/v1/stations", {"name": "bench"})
        wait_until(lambda: len(client.get("/api/v1/zones")) == 1, 30, "landing zone registered")
        client.put("/api/v1/stations/bench/zones/idle")
        bundle = base / "job.tar.gz"
        bundle.write_bytes(trivial_job())
        claims, received = [], []
        for i in range(n_jobs):
            time.sleep(1.5)  # idle: the landing zone is in its long poll again
            sent = time.time()
            job = client.upload("POST", "/api/v1/stations/bench/jobs", bundle, "application/gzip",
                                params={"key": f"latency-{i:08d}"})
            job_id = job["id"]
            wait_until(lambda: _received_at(lz.db, job_id) is not None, 30, "the job at the landing zone")  # noqa: B023
            claims.append(_claimed_at(Path(hub.db), job["id"]) - sent)  # type: ignore[operator]
            received.append(_received_at(lz.db, job["id"]) - sent)  # type: ignore[operator]
        for label, values in (("claim", claims), ("received", received)):
            values.sort()
            print(f"{label:9s} median {statistics.median(values) * 1000:6.0f} ms   "
                  f"p90 {values[int(len(values) * 0.9) - 1] * 1000:6.0f} ms   max {values[-1] * 1000:6.0f} ms")
        print(f"goal: claim under 1000 ms -> {'met' if max(claims) < 1.0 else 'NOT met'} ({n_jobs} jobs)")
    finally:
        lz.stop()
        hub.stop()


if __name__ == "__main__":
    main()
