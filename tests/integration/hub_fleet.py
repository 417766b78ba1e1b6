"""Several hub processes on one database, several landing zones, many trivial jobs: the shared
driver of the scale-out test and of ``bench/hub_throughput.py``."""

from __future__ import annotations

import io
import sqlite3
import tarfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lz.hub.agent.client import HubClient, read_token
from tests.integration.hub_server import HubServer, hub_landing_zone
from tests.integration.landing_zone import LandingZone, wait_until


def trivial_job() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in {"job/lz.toml": b'command = ["sh", "-c", "echo ok > out.txt"]\n'}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class FleetResult:
    jobs: int
    submit_s: float
    total_s: float
    outcomes: Counter[str]
    attempts: Counter[int]
    copies: Counter[str] = field(default_factory=Counter)  # hub job id -> local copies over all zones
    per_zone: Counter[str] = field(default_factory=Counter)

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.total_s


def run_fleet(base: Path, *, db_url: str | None = None, hubs: int = 1, zones: int = 4, jobs: int = 100,
              max_running: int = 4, tick: float = 0.3, lease_s: float = 30.0, timeout_s: float = 900,
              submitters: int = 4) -> FleetResult:
    files = base / "files"
    servers = [HubServer(base / f"hub{i}", db=db_url or str(base / "hub.db"), files=files, lease_s=lease_s)
               for i in range(hubs)]
    landing_zones: list[LandingZone] = []
    try:
        for server in servers:  # one after the other: the first one migrates the database
            server.start()
        token_file = servers[0].user("alice")
        clients = [HubClient(s.url, read_token(token_file), timeout_s=60) for s in servers]
        clients[0].post("/api/v1/stations", {"name": "fleet"})
        for i in range(zones):
            lz = hub_landing_zone(base / f"lz{i}", servers[i % hubs], f"lz{i}", token_file, max_running, tick)
            lz.start()
            landing_zones.append(lz)
        wait_until(lambda: len(clients[0].get("/api/v1/zones")) == zones, 60, "landing zones registered")
        for i in range(zones):
            clients[0].put(f"/api/v1/stations/fleet/zones/lz{i}")
        bundle = base / "job.tar.gz"  # submitted by several clients at once, spread over the hubs
        bundle.write_bytes(trivial_job())
        start = time.perf_counter()

        def submit(first: int) -> None:
            client = HubClient(servers[first % hubs].url, read_token(token_file), timeout_s=60)
            for i in range(first, jobs, submitters):
                client.upload("POST", "/api/v1/stations/fleet/jobs", bundle, "application/gzip",
                              params={"key": f"fleet-{i:08d}", "name": f"t{i}"})

        threads = [threading.Thread(target=submit, args=(k,)) for k in range(submitters)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        submitted = time.perf_counter()
        deadline = time.time() + timeout_s
        while True:
            listing = clients[0].get("/api/v1/jobs", params={"station": "fleet"})
            if len(listing) == jobs and all(j["state"] == "cleaned" for j in listing):
                break
            if time.time() > deadline:
                done = sum(j["state"] == "cleaned" for j in listing)
                raise AssertionError(f"{done}/{jobs} cleaned after {timeout_s}s")
            time.sleep(0.2)
        end = time.perf_counter()
        result = FleetResult(jobs, submitted - start, end - start, Counter(j["outcome"] for j in listing),
                             Counter(j["attempts"] for j in listing))
        result.per_zone.update(j["landing_zone"] for j in listing)
        for lz in landing_zones:
            result.copies.update(_local_copies(lz.db))
        return result
    finally:
        for lz in landing_zones:
            lz.stop()
        for server in servers:
            server.stop()


def _local_copies(db: Path) -> Counter[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT source FROM jobs WHERE source LIKE 'hub:%'").fetchall()
    return Counter(source.split(":")[1] for (source,) in rows)


def check_fleet(result: FleetResult) -> None:
    """Every job succeeded, ran as many times as it had attempts (one live lease at a time), none lost."""
    assert result.outcomes == Counter({"succeeded": result.jobs}), result.outcomes
    assert sum(result.copies.values()) == sum(a * n for a, n in result.attempts.items()), (result.copies,
                                                                                          result.attempts)
    assert len(result.copies) == result.jobs


def summary(result: FleetResult) -> dict[str, Any]:
    return {"jobs": result.jobs, "submit_s": round(result.submit_s, 2), "total_s": round(result.total_s, 2),
            "jobs_per_s": round(result.jobs_per_s, 2), "attempts": dict(result.attempts),
            "per_zone": dict(result.per_zone)}
