"""The full Slurm load figure: 1,000 trivial jobs through the gateway on the real single-node Slurm
(each runs once and succeeds, the daemon stays under 150 MB, ``lz status`` answers within a second).
CI runs the same test with ``LZ_LOAD_JOBS=60``; this runs the full size (about 25 minutes).

    python bench/slurm_load.py [--jobs 1000]

Prints the test's figure line (jobs, wall time, jobs/s, peak RSS, slowest ``lz status``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1000)
    args = parser.parse_args()
    env = {**os.environ, "LZ_LOAD_JOBS": str(args.jobs)}
    test = "tests/integration/test_load.py::test_a_thousand_trivial_jobs_through_the_slurm_gateway"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", test],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    figures = [line for line in run.stdout.splitlines() if line.startswith("load:")]
    print("\n".join(figures) if figures else run.stdout[-4000:])
    sys.exit(run.returncode)


if __name__ == "__main__":
    main()
