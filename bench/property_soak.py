"""The rules' property test at soak length (issue 8's promise: nothing lost, nothing run twice, no
leftovers): many more random interleavings of submissions, crashes, outages and requests than the
unit suite's 150 of 40 steps (``tests/unit/core/test_rules_property.py``, which CI runs, with the
hunts that show it finds two reverted fixes).

    python bench/property_soak.py [--examples 2000] [--steps 80]

Prints how many interleavings kept the promise and how long they took; a broken promise is the
falsifying example, shrunk, and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.stateful import run_state_machine_as_test  # noqa: E402

from tests.unit.core.test_rules_property import LandingZoneMachine  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=80)
    args = parser.parse_args()
    start = time.perf_counter()
    run_state_machine_as_test(LandingZoneMachine, settings=settings(
        max_examples=args.examples, stateful_step_count=args.steps, deadline=None, database=None,
        suppress_health_check=list(HealthCheck)))
    print(f"{args.examples} interleavings of up to {args.steps} steps kept the promise "
          f"(lost 0, duplicated 0, leftovers 0) in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
