"""squeue calls caused by a burst of ``lz submit`` calls against the real Slurm (issue 7).

    python bench/wakeups.py [--jobs 20]

Prints the calls, the wall time and the bound wall / interval + 2 (interval: 2 s by default).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.test_slurm_wakeups import INTERVAL_S, run_burst  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lz-wake-") as tmp:
        count, wall, succeeded = run_burst(Path(tmp), args.jobs)
    print(f"{args.jobs} submissions at --tick 1: {succeeded} succeeded; {count} squeue calls in {wall:.1f} s "
          f"({count / wall:.2f}/s); bound wall/{INTERVAL_S:g}+2 = {wall / INTERVAL_S + 2:.1f}")


if __name__ == "__main__":
    main()
