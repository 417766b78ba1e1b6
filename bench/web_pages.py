#!/usr/bin/env python3
"""What the web page's polled fragments cost the hub: median time of each page a browser polls
(every 2-3 s) on a hub holding N jobs in one Station, next to an authenticated API call that does
almost nothing (``GET /api/v1/whoami``) in the same run. In-process (FastAPI TestClient), SQLite.

    python3 bench/web_pages.py [--jobs 10000] [--runs 30]

Goal: every polled fragment under 10x the baseline at 10,000 jobs (a page shows the newest 100).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.hub_helpers import hub_app  # noqa: E402


def _median_ms(call: Any, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        response = call()
        samples.append(time.perf_counter() - start)
        assert response.status_code in (200, 286), response.status_code
    return statistics.median(samples) * 1000


def _fill(hub: Any, token_user: str, count: int) -> str:
    from lz.hub.server.domain import accounts, jobs, stations

    def _insert(conn: Any) -> str:
        who = accounts.authenticate(conn, token_user, hub.now())
        sid = stations.visible(conn, who, "lab")
        spec = {"name": "bench", "command": ["true"], "resources": {"cpus": 1}}
        last = ""
        for index in range(count):
            last = jobs.new_job_id()
            jobs.submit(conn, who, sid, last, f"key-{index:08d}", spec, "", 0, hub.now() + index)
        return last

    return str(hub.write(_insert))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lz-bench-web-") as tmp, hub_app(Path(tmp)) as app:
        from lz.hub.server.domain import login

        token = app.user("alice")
        app.hub.write(login.set_password, "alice", "correct horse")
        app.station_with_zone(token, "lab", "lz1")
        started = time.perf_counter()
        last = _fill(app.hub, token, args.jobs)
        fill_s = time.perf_counter() - started
        client = app.client
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        assert csrf, "the sign-in form carries a CSRF token"
        client.post("/login", data={"name": "alice", "password": "correct horse", "next": "/zones", "csrf": csrf.group(1)})
        assert re.search(r"csrf-token", client.get("/zones").text)
        pages = {"GET /zones/table": "/zones/table", "GET /jobs/table": "/jobs/table",
                 "GET /stations/lab": "/stations/lab", "GET /jobs/{id}/live": f"/jobs/{last}/live",
                 "GET /jobs/{id}/tail/stdout": f"/jobs/{last}/tail/stdout"}
        baseline = _median_ms(lambda: client.get("/api/v1/whoami", headers=app.auth(token)), args.runs)
        figures: dict[str, Any] = {"jobs": args.jobs, "fill_s": round(fill_s, 1),
                                   "baseline GET /api/v1/whoami ms": round(baseline, 2)}
        for label, path in pages.items():
            took = _median_ms(lambda p=path: client.get(p), args.runs)
            figures[label] = {"ms": round(took, 2), "ratio": round(took / baseline, 2)}
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
