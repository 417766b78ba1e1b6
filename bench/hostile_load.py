#!/usr/bin/env python3
"""The hostile-client load (tests/security/test_load_of_abuse.py) for longer and with more
threads: a real hub process (SQLite, loopback), big, chunked and slow bodies, many long polls,
password guessing and anonymous floods, while a member polls their job list. Prints attacks
tried and refused, 5xx, the hub's RSS peak and growth, and the member's p99 latency.
Goal: RSS growth < 100 MiB, no 5xx, p99 < 1 s.

    python3 bench/hostile_load.py [--seconds 120] [--threads 4] [--slow 200] [--long-polls 100]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.security.abuse import Abuse, check  # noqa: E402
from tests.security.world import World  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--threads", type=int, default=4, help="threads per kind of attack")
    parser.add_argument("--slow", type=int, default=200, help="slow-body connections held open")
    parser.add_argument("--long-polls", type=int, default=100, help="long polls at once, one token")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lz-hostile-") as base:
        world = World(Path(base) / "hub")
        try:
            for _ in range(20):
                world.call("member", "GET", "/api/v1/jobs")
            figures = Abuse(world, args.seconds, threads=args.threads, slow_sockets=args.slow,
                            long_polls=args.long_polls).run()
        finally:
            errors = world.server_errors()
            world.stop()
    print("\n".join(figures.lines()))
    problems = check(figures) + [f"hub log: {line}" for line in errors[:5]]
    for problem in problems:
        print(f"FAIL: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
