#!/usr/bin/env python3
"""The hub soak at full size (issue 20): jobs through landing zones while zones, zones with their
jobs' processes (a machine dying) and hubs are SIGKILLed at random; prints the columns (goal: 0
lost, duplicated, stuck, wrong, leftovers). CI runs the small one (tests/integration/test_hub_soak.py).

    python3 bench/hub_soak.py [--jobs 1000] [--zones 8] [--max-running 2] [--only sqlite|postgres] [--seed N]

PostgreSQL runs use a throwaway Debian postgresql-15 cluster and two hub processes sharing it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.hub_soak import run_soak  # noqa: E402
from tests.postgres_cluster import PostgresCluster, available  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--zones", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=["sqlite", "postgres"], default=None)
    parser.add_argument("--timeout", type=float, default=7200)
    parser.add_argument("--max-running", type=int, default=2, help="jobs each landing zone runs at once")
    args = parser.parse_args()
    failed = False
    if args.only != "postgres":
        with tempfile.TemporaryDirectory(prefix="lz-soak-sqlite-") as tmp:
            result = run_soak(Path(tmp), jobs=args.jobs, zones=args.zones, seed=args.seed, timeout_s=args.timeout,
                              max_running=args.max_running)
        print("sqlite, 1 hub:     ", json.dumps(result.columns()))
        failed |= _failed(result)
    if args.only != "sqlite" and available():
        cluster = PostgresCluster()
        try:
            cluster.start()
            with tempfile.TemporaryDirectory(prefix="lz-soak-pg-") as tmp:
                result = run_soak(Path(tmp), jobs=args.jobs, zones=args.zones, hubs=2, db_url=cluster.url,
                                  seed=args.seed, timeout_s=args.timeout, max_running=args.max_running)
            print("postgresql, 2 hubs:", json.dumps(result.columns()))
            failed |= _failed(result)
        finally:
            cluster.stop()
    sys.exit(1 if failed else 0)


def _failed(result: object) -> bool:
    try:
        result.check()  # type: ignore[attr-defined]
    except AssertionError as exc:
        print(exc)
        return True
    return False


if __name__ == "__main__":
    main()
