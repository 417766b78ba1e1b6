#!/usr/bin/env python3
"""Build and run time of examples/wordcount for each container runtime, measured in the same run.

One landing zone per runtime (local executor, busybox base from scripts/make-busybox-rootfs), the
example submitted N times one after the other; the job's states are read straight from SQLite
every 10 ms: build = building -> queued, run = running -> collecting. Medians are printed.

    python3 bench/container_runtimes.py [--runs 3] [charliecloud apptainer singularity]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lz.runtimes.select import available  # noqa: E402
from tests.integration.landing_zone import LandingZone, job_states  # noqa: E402


def phases(lz: LandingZone, job_id: str, timeout: float = 300) -> dict[str, float]:
    """When the job was first seen in each state (monotonic seconds)."""
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = job_states(lz.db).get(job_id)
        seen.setdefault(state or "", time.monotonic())
        if state == "cleaned":
            return seen
        time.sleep(0.01)
    raise TimeoutError(f"job {job_id} did not finish")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("runtimes", nargs="*", default=["charliecloud", "apptainer"])
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="lz-bench-runtimes-"))
    try:
        subprocess.run([str(ROOT / "scripts" / "make-busybox-rootfs"), str(base / "busybox")], check=True,
                       capture_output=True)
        for runtime in args.runtimes:
            if not available(runtime):
                print(f"{runtime}: not installed, skipped")
                continue
            lz = LandingZone(base / runtime, container=runtime, tick=0.2,
                             config=f'[images]\nbusybox = "{base / "busybox"}"\n')
            builds, runs = [], []
            try:
                lz.start()
                for _ in range(args.runs):
                    job_id = lz.submit(ROOT / "examples" / "wordcount")
                    seen = phases(lz, job_id)
                    outcome = lz.status(job_id)["outcome"]
                    if outcome != "succeeded":
                        raise SystemExit(f"{runtime}: job {job_id} {outcome}")
                    built = min(seen[s] for s in ("queued", "running", "collecting") if s in seen)
                    builds.append(built - seen["building"])
                    runs.append(seen["collecting"] - seen.get("running", built))
            finally:
                lz.stop()
            print(f"{runtime}: build {statistics.median(builds):.2f} s, run {statistics.median(runs):.2f} s "
                  f"(median of {args.runs}; builds {', '.join(f'{b:.2f}' for b in builds)})")
    finally:
        shutil.rmtree(base)


if __name__ == "__main__":
    main()
