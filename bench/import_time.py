"""What importing lz costs a user: the median wall time of fresh processes running
``python -c "import lz.client"`` (the Python API), ``python -m lz.cli --help`` and the ``lz``
console script's ``--help``, each against ``python -c "import click"`` (the baseline: any click
program pays it) from the same environment in the same run, after a warm-up.

    python bench/import_time.py [--runs 15] [--warmup 2]

The process time of ``python -c pass`` is shown too: what no command can go below.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cli_speed import timed  # noqa: E402


def console_script() -> str | None:
    """The ``lz`` script beside this interpreter (a venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "lz"
    return str(beside) if beside.is_file() else shutil.which("lz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed fresh processes per command")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (disk and page caches)")
    args, python, env = parser.parse_args(), sys.executable, dict(os.environ)
    commands = {
        "python -c pass": [python, "-c", "pass"],
        "import lz.client": [python, "-c", "import lz.client"],
        "python -m lz.cli --help": [python, "-m", "lz.cli", "--help"],
    }
    script = console_script()
    if script is not None:
        commands["lz --help (console script)"] = [script, "--help"]
    baseline = timed([python, "-c", "import click"], env, args.runs, args.warmup)
    results = {name: timed(argv, env, args.runs, args.warmup) for name, argv in commands.items()}
    print(f"{sys.executable} (Python {sys.version.split()[0]}); lz console script: {script or 'not found'}")
    print(f"baseline: python -c 'import click': {baseline * 1000:.0f} ms (median of {args.runs}, "
          f"after {args.warmup} warm-up runs)")
    print(f"{'command':<28} {'median':>8} {'ratio':>6}")
    for name, seconds in results.items():
        print(f"{name:<28} {seconds * 1000:>6.0f} ms {seconds / baseline:>5.2f}x")


if __name__ == "__main__":
    main()
