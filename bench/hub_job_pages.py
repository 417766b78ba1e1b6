#!/usr/bin/env python3
"""One page of a job list at a million jobs (issue 22): a real hub process (`lz hub serve`) on a
throwaway PostgreSQL 15 cluster (and, with --sqlite, on a SQLite file), one Station filled with
--jobs rows straight in SQL (a few states, outcomes, names and two landing zones, one row per
job as a submission would write it), then timed over HTTP as `lz status --hub` and the web page
ask: the first page (newest first), the page after a cursor deep in the list, the oldest first,
filtered by state, by name pattern and by landing zone; and one job submitted into that Station
(its quota check counts the Station's and the submitter's waiting jobs and stored bytes: it
must not read a million rows). Each request --repeat times after one warm-up; prints median and
p95 ms per request and the hub's own share (the `X-Lz-Total` count is part of every answer).
Of the filled jobs, the first 1,000 received ones wait (phase pending) and the rest are done,
as in a Station that has run a million jobs.

    python3 bench/hub_job_pages.py [--jobs 1000000] [--limit 50] [--repeat 20] [--sqlite]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lz.hub.agent.client import HubClient, read_token  # noqa: E402
from tests.integration.hub_server import HubServer  # noqa: E402
from tests.postgres_cluster import PostgresCluster, available  # noqa: E402

STATION = "big"
_STATES = ("cleaned", "cleaned", "cleaned", "cleaned", "running", "queued", "received", "cleaned")
_OUTCOMES = ("succeeded", "succeeded", "failed", "succeeded", None, None, None, "cancelled")
_WAITING = 1_000  # filled jobs still pending (the quota check counts them)


def _fill(url: str, station_id: int, submitter_id: int, zone_ids: list[int], jobs: int) -> float:
    """``jobs`` rows in one statement per 100,000 (PostgreSQL: generate_series; SQLite: a
    recursive CTE); seconds taken."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    start = time.perf_counter()
    chunk = 100_000
    pg = url.startswith("postgresql")
    states = "ARRAY" + json.dumps(list(_STATES)).replace('"', "'") if pg else None
    with engine.begin() as conn:
        for first in range(0, jobs, chunk):
            last = min(jobs, first + chunk) - 1
            n = "g"
            if pg:
                series = f"generate_series({first}, {last}) AS g"
                state = f"({states})[({n} % 8) + 1]"
                outcome = ("(ARRAY['succeeded','succeeded','failed','succeeded',NULL,NULL,NULL,'cancelled'])"
                           f"[({n} % 8) + 1]")
                job_id = f"lpad(to_hex({n}), 32, '0')"
                name = f"'sweep-' || ({n} % 1000)"
            else:
                series = (f"(WITH RECURSIVE s(g) AS (SELECT {first} UNION ALL SELECT g + 1 FROM s WHERE g < {last}) "
                          "SELECT g FROM s)")
                state = "CASE g % 8 " + " ".join(f"WHEN {i} THEN '{s}'" for i, s in enumerate(_STATES)) + " END"
                outcome = "CASE g % 8 " + " ".join(
                    f"WHEN {i} THEN {repr(o) if o else 'NULL'}" for i, o in enumerate(_OUTCOMES)) + " END"
                job_id = "printf('%032x', g)"
                name = "'sweep-' || (g % 1000)"
            zone = f"CASE WHEN {n} % 2 = 0 THEN {zone_ids[0]} ELSE {zone_ids[1]} END"
            conn.execute(text(
                "INSERT INTO hub_jobs (id, station_id, submitter_id, submit_key, name, spec, bundle, bundle_bytes, "
                "phase, attempt, cancel_requested, state, outcome, created_at, updated_at, failures, max_attempts, "
                f"ran_on) SELECT {job_id}, {station_id}, {submitter_id}, 'k' || {n}, {name}, '{{}}', '', 0, "
                f"CASE WHEN {state} = 'received' AND {n} < {8 * _WAITING} THEN 'pending' ELSE 'done' END, 1, false, "
                f"{state}, {outcome}, "
                f"1.7e9 + {n}, 1.7e9 + {n}, 0, 1, {zone} FROM {series}"))
        conn.execute(text("ANALYZE"))
    engine.dispose()
    return time.perf_counter() - start


def _sorted_cursor(value: str, jobs: int) -> str:
    """A cursor of the name (or state) order at ``value``, half-way through its run."""
    import base64

    middle = jobs // 2
    return f"{base64.urlsafe_b64encode(value.encode()).decode().rstrip('=')}~{1.7e9 + middle!r}_{middle:032x}"


def _timed(client: HubClient, params: dict[str, Any], repeat: int) -> tuple[float, float, int]:
    client.request("GET", "/api/v1/jobs", params=params)  # warm-up
    times = []
    answer: Any = None
    for _ in range(repeat):
        start = time.perf_counter()
        answer = client.request("GET", "/api/v1/jobs", params=params)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))], len(answer.json())


def _timed_submits(client: HubClient, tmp: Path, repeat: int) -> tuple[float, float]:
    """One small job submitted ``repeat`` times (after one warm-up) into the full Station."""
    from lz.client.remote import pack_folder

    folder = tmp / "probe"
    folder.mkdir()
    (folder / "lz.toml").write_text('command = ["true"]\n')
    bundle = tmp / "probe.tar.gz"
    pack_folder(folder, bundle)
    times = []
    for i in range(repeat + 1):
        start = time.perf_counter()
        client.upload("POST", f"/api/v1/stations/{STATION}/jobs", bundle, "application/gzip",
                      params={"key": f"probe-key-{i}", "name": "probe", "folder": "probe"})
        times.append((time.perf_counter() - start) * 1000)
    times = sorted(times[1:])
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


def run(label: str, db: str, jobs: int, limit: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lz-bench-pages-") as tmp:
        hub = HubServer(Path(tmp) / "hub", db=db)
        hub.start()
        try:
            token = read_token(hub.user("alice"))
            client = HubClient(hub.url, token, timeout_s=120)
            client.post("/api/v1/stations", {"name": STATION})
            from sqlalchemy import create_engine, text

            url = db if "://" in db else f"sqlite:///{db}"
            engine = create_engine(url)
            with engine.begin() as conn:
                station_id = conn.execute(text("SELECT id FROM stations WHERE name = :n"), {"n": STATION}).scalar_one()
                user_id = conn.execute(text("SELECT id FROM users WHERE name = 'alice'")).scalar_one()
                zone_ids = []
                for zone in ("zone-a", "zone-b"):
                    conn.execute(text("INSERT INTO landing_zones (name, owner_id, registered_at, running, max_running, queue_length) "
                                      "VALUES (:n, :u, 0, 0, 1, 0)"),
                                 {"n": zone, "u": user_id})
                    zone_ids.append(conn.execute(text("SELECT id FROM landing_zones WHERE name = :n"), {"n": zone}).scalar_one())
            engine.dispose()
            fill_s = _fill(url, station_id, user_id, zone_ids, jobs)
            deep = f"{1.7e9 + jobs // 2!r}_{jobs // 2:032x}"
            cases = {
                "first page, newest": {"station": STATION, "limit": limit},
                "a page deep in the list (cursor)": {"station": STATION, "limit": limit, "before": deep},
                "oldest first": {"station": STATION, "limit": limit, "order": "oldest"},
                "state=running": {"station": STATION, "limit": limit, "state": "running"},
                "name=sweep-7*": {"station": STATION, "limit": limit, "name": "sweep-7*"},
                "landing zone zone-b": {"station": STATION, "limit": limit, "zone": "zone-b"},
                "by name": {"station": STATION, "limit": limit, "order": "name"},
                "by name, a page deep (cursor)": {"station": STATION, "limit": limit, "order": "name",
                                                  "before": _sorted_cursor("sweep-500", jobs)},
                "by state": {"station": STATION, "limit": limit, "order": "state"},
            }
            row: dict[str, Any] = {"db": label, "jobs": jobs, "fill_s": round(fill_s, 1)}
            for what, params in cases.items():
                p50, p95, got = _timed(client, params, repeat)
                row[what] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1), "rows": got}
                print(f"{label}: {what}: p50 {p50:.1f} ms, p95 {p95:.1f} ms ({got} rows)", flush=True)
            p50, p95 = _timed_submits(client, Path(tmp), repeat)
            row["submit one job"] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}
            print(f"{label}: submit one job (quota checked): p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
            return row
        finally:
            hub.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--limit", type=int, default=50, help="jobs on a page (the web page's size)")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--sqlite", action="store_true", help="also on SQLite")
    args = parser.parse_args()
    rows = []
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="lz-bench-pages-db-") as tmp:
            rows.append(run("sqlite", str(Path(tmp) / "hub.db"), args.jobs, args.limit, args.repeat))
    if not available():
        print("postgresql: not available here (Debian postgresql-15)")
    else:
        cluster = PostgresCluster()
        try:
            cluster.start()
            rows.append(run("postgresql", cluster.url, args.jobs, args.limit, args.repeat))
        finally:
            cluster.stop()
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
