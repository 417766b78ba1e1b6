#!/usr/bin/env python3
"""Jobs per second through the hub to 4 `none`-runtime landing zones, SQLite and PostgreSQL.

Each run: hub process(es) (`lz hub serve`), 4 landing zones (`lz run --container none --hub …`,
--max-running 4), N trivial jobs submitted over HTTP, timed until every job is cleaned on the hub
(results uploaded); jobs are submitted by --submitters clients at once. PostgreSQL runs use a throwaway Debian postgresql-15 cluster and two hub
processes sharing it. Also checks every job succeeded and ran once per attempt.

    python3 bench/hub_throughput.py [--jobs 1000] [--only sqlite|postgres]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.hub_fleet import check_fleet, run_fleet, summary  # noqa: E402
from tests.postgres_cluster import PostgresCluster, available  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--only", choices=["sqlite", "postgres"], default=None)
    parser.add_argument("--submitters", type=int, default=4, help="clients submitting at once")
    args = parser.parse_args()
    if args.only != "postgres":
        with tempfile.TemporaryDirectory(prefix="lz-bench-sqlite-") as tmp:
            result = run_fleet(Path(tmp), hubs=1, zones=4, jobs=args.jobs, timeout_s=3600,
                               submitters=args.submitters)
        check_fleet(result)
        print("sqlite, 1 hub:    ", summary(result))
    if args.only != "sqlite" and available():
        cluster = PostgresCluster()
        try:
            cluster.start()
            with tempfile.TemporaryDirectory(prefix="lz-bench-pg-") as tmp:
                result = run_fleet(Path(tmp), db_url=cluster.url, hubs=2, zones=4, jobs=args.jobs,
                                   timeout_s=3600, submitters=args.submitters)
            check_fleet(result)
            print("postgresql, 2 hubs:", summary(result))
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
