#!/usr/bin/env python3
"""Trivial jobs through 2 pilots versus through the SLURM gateway, in the same run.

One hub process. Pilots: `lz pilots submit --count 2 --no-image --cpus 1` (one sbatch for the
array), then N trivial jobs (`--time 1:00`) submitted to their Station. Gateway: a landing zone
`lz run --container slurm --runtime none --hub …`, the same N jobs to its own Station (one sbatch
each). Both timed from the first submission until every job is cleaned on the hub (results
uploaded). `sbatch` and `squeue` calls are counted by a PATH shim that both sides use.

    python3 bench/pilots.py [--jobs 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lz.hub.agent.client import HubClient, read_token  # noqa: E402
from tests.integration.hub_fleet import trivial_job  # noqa: E402
from tests.integration.hub_server import HubServer, hub_landing_zone  # noqa: E402
from tests.integration.landing_zone import wait_until  # noqa: E402


def shims(base: Path, log: Path) -> str:
    bin_dir = base / "bin"
    bin_dir.mkdir()
    for name in ("sbatch", "squeue"):
        real = shutil.which(name)
        (bin_dir / name).write_text(f'#!/bin/sh\necho {name} >> "{log}"\nexec "{real}" "$@"\n')
        (bin_dir / name).chmod(0o755)
    return f"{bin_dir}:{os.environ['PATH']}"


def calls(log: Path) -> dict[str, int]:
    lines = log.read_text().split() if log.exists() else []
    return {name: lines.count(name) for name in ("sbatch", "squeue")}


def run_jobs(client: HubClient, station: str, bundle: Path, jobs: int, timeout_s: float) -> float:
    start = time.perf_counter()
    for i in range(jobs):
        client.upload("POST", f"/api/v1/stations/{station}/jobs", bundle, "application/gzip",
                      params={"key": f"{station}-{i:08d}", "name": f"t{i}", "time": "1:00"})
    deadline = time.time() + timeout_s
    while True:
        listing = client.get("/api/v1/jobs", params={"station": station})
        if len(listing) == jobs and all(j["state"] == "cleaned" for j in listing):
            break
        if time.time() > deadline:
            raise SystemExit(f"{station}: {sum(j['state'] == 'cleaned' for j in listing)}/{jobs} after {timeout_s}s")
        time.sleep(0.5)
    elapsed = time.perf_counter() - start
    outcomes = {j["outcome"] for j in listing}
    assert outcomes == {"succeeded"}, outcomes
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lz-bench-pilots-") as tmp:
        base = Path(tmp)
        log = base / "calls.log"
        path = shims(base, log)
        hub = HubServer(base / "hub", lease_s=30)
        hub.start()
        prefix = f"bp{uuid.uuid4().hex[:6]}"
        gateway = None
        try:
            token = hub.user("alice")
            client = HubClient(hub.url, read_token(token), timeout_s=60)
            bundle = base / "job.tar.gz"
            bundle.write_bytes(trivial_job())
            work = base / "work"
            work.mkdir()
            env = {"PATH": path, "TMPDIR": str(work)}
            hub.cli("pilots", "submit", "--count", "2", "--no-image", "--cpus", "1", "--time", "60:00",
                    "--name-pattern", prefix + "_{index}", "--output-dir", str(base), "--hub", hub.url,
                    "--token", str(token), env=env)
            names = [f"{prefix}_1", f"{prefix}_2"]
            wait_until(lambda: set(names) <= {z["name"] for z in client.get("/api/v1/zones")}, 1800, "pilots up")
            client.post("/api/v1/stations", {"name": "pilots"})
            for name in names:
                client.put(f"/api/v1/stations/pilots/zones/{name}")
            before = calls(log)
            pilot_s = run_jobs(client, "pilots", bundle, args.jobs, args.timeout)
            pilot_calls = {k: v - before[k] for k, v in calls(log).items()}
            pilot_calls["sbatch"] += before["sbatch"]  # the array's one sbatch
            subprocess.run(["scancel", "--name", prefix], check=False)

            gateway = hub_landing_zone(base / "gw", hub, "gateway", token, max_running=64, container="slurm",
                                       extra_args=("--runtime", "none"))
            gateway.env["PATH"] = path
            gateway.start()
            wait_until(lambda: "gateway" in {z["name"] for z in client.get("/api/v1/zones")}, 60, "gateway up")
            client.post("/api/v1/stations", {"name": "gateway"})
            client.put("/api/v1/stations/gateway/zones/gateway")
            before = calls(log)
            gateway_s = run_jobs(client, "gateway", bundle, args.jobs, args.timeout)
            gateway_calls = {k: v - before[k] for k, v in calls(log).items()}
        finally:
            subprocess.run(["scancel", "--name", prefix], check=False)
            if gateway is not None:
                gateway.stop()
            hub.stop()
    for label, seconds, counted in (("2 pilots", pilot_s, pilot_calls), ("SLURM gateway", gateway_s, gateway_calls)):
        print(f"{label:14s} {args.jobs} jobs in {seconds:7.1f} s = {args.jobs / seconds * 60:7.1f} jobs/min; "
              f"sbatch {counted['sbatch']}, squeue {counted['squeue']}")
    print(f"pilots / gateway: {gateway_s / pilot_s:.1f}x the throughput")


if __name__ == "__main__":
    main()
