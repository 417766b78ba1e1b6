#!/usr/bin/env python3
"""The hub with many landing zones (issue 22): one real hub process (`lz hub serve`, SQLite; with
--postgres a throwaway Debian postgresql-15 cluster) and N protocol-level landing zones
(tests/integration/protocol_zones.py: asyncio over httpx, each zone its own landing-zone token,
long-polling `claim`, heartbeating, reporting a trivial job's transitions, uploading results,
finishing). Per N, on a fresh hub:

  baseline   the hub before any zone joined (--baseline seconds): CPU seconds per minute
  idle       all N zones long-polling, nothing to do: hub CPU seconds per minute, RSS
  claim      --latency-jobs submitted one at a time (each finished before the next):
             submit sent -> claim answer at the zone, p50/p95/p99
  burst      --jobs submitted at once by --submitters clients: jobs/s to finished, hub CPU ms per job
             (and net of the idle rate: less what heartbeats and polls cost over the same time)

Prints one row per N and the ratios of the largest N against the smallest. On PostgreSQL,
--hubs 1,2 runs each N with one hub process and again with two on the same database: the
submitters talk to the first, every zone long-polls the second, so each claim waits on a wake-up
from another process (LISTEN/NOTIFY).

    python3 bench/hub_scale.py [--zones 10,100,1000] [--jobs 200] [--idle 30] [--postgres | --only DB] [--hubs 1,2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.protocol_zones import ScaleResult, run_scale  # noqa: E402
from tests.postgres_cluster import PostgresCluster, available  # noqa: E402

RATIOS = ("idle_cpu_s_per_min", "idle_rss_mib", "claim_ms_p50", "claim_ms_p99", "jobs_per_s", "cpu_ms_per_job",
          "statements_per_job",
          "net_cpu_ms_per_job")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--zones", default="10,100,1000", help="comma-separated numbers of landing zones")
    parser.add_argument("--jobs", type=int, default=200, help="jobs of the burst")
    parser.add_argument("--latency-jobs", type=int, default=50, help="jobs submitted one at a time")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle measured")
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds of the hub alone measured")
    parser.add_argument("--submitters", type=int, default=4)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL (one hub process)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None, help="on this database alone")
    parser.add_argument("--hubs", default="1", help="PostgreSQL: hub processes, comma-separated (1, 2 or 1,2)")
    args = parser.parse_args()
    try:
        args.hubs = [int(n) for n in args.hubs.split(",")]
    except ValueError:
        parser.error(f"--hubs {args.hubs!r}: 1, 2 or 1,2")
    if not args.hubs or not set(args.hubs) <= {1, 2}:
        parser.error(f"--hubs {args.hubs!r}: 1, 2 or 1,2")
    try:
        sizes = [int(n) for n in args.zones.split(",")]
    except ValueError:
        parser.error(f"--zones {args.zones!r}: comma-separated whole numbers")
    if not sizes or min(sizes) < 1:
        parser.error("--zones: at least one landing zone")
    failed = _series("sqlite", sizes, args, None) if args.only in (None, "sqlite") else False
    if args.postgres or args.only == "postgresql":
        if not available():
            print("postgresql: not available here (Debian postgresql-15)")
        else:
            cluster = PostgresCluster()
            try:
                cluster.start()
                for hubs in args.hubs:
                    label = "postgresql" if hubs == 1 else f"postgresql, {hubs} hubs"
                    failed |= _series(label, sizes, args, cluster.new_database, hubs)
            finally:
                cluster.stop()
    sys.exit(1 if failed else 0)


def _series(label: str, sizes: list[int], args: argparse.Namespace, new_database: Callable[[], str] | None,
            hubs: int = 1) -> bool:
    rows, failed = [], False
    for n in sizes:
        db_url = new_database() if new_database else None  # each size on a fresh, empty database
        with tempfile.TemporaryDirectory(prefix=f"lz-bench-scale-{n}-") as tmp:
            result: ScaleResult = run_scale(Path(tmp), zones=n, jobs=args.jobs, latency_jobs=args.latency_jobs,
                                            idle_s=args.idle, baseline_s=args.baseline, submitters=args.submitters, db_url=db_url,
                                            hubs=hubs)
        row = result.row()
        try:
            result.check()
        except AssertionError as exc:
            print(f"{label} N={n}: FAILED {exc}")
            failed = True
        print(f"{label}:", json.dumps(row), flush=True)
        rows.append(row)
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        ratios = {k: round(last[k] / first[k], 2) if first[k] else None for k in RATIOS}
        print(f"{label}: N={last['zones']} / N={first['zones']}:", json.dumps(ratios), flush=True)
    return failed


if __name__ == "__main__":
    main()
