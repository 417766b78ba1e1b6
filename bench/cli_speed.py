"""How fast the command line answers: median wall time of ``lz --help``, ``lz status`` (empty
database and 10,000 jobs) and ``lz submit`` of a small folder, each next to
``python -c "import sqlalchemy, click"`` from the same environment in the same run.

    python bench/cli_speed.py [--runs 15] [--jobs 10000]

Targets (issue 7): status on 10,000 jobs <= 1.5x the baseline, --help <= 0.6x, submit <= 1.0x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"lz --help": 0.6, "lz status (empty)": None, "lz status (10,000 jobs)": 1.5, "lz submit (small folder)": 1.0}


def timed(argv: list[str], env: dict[str, str], runs: int, warmup: int = 0) -> float:
    """The median wall time of ``runs`` fresh processes, after ``warmup`` untimed ones (caches)."""
    for _ in range(warmup):
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def fill(db: Path, count: int) -> None:
    """``count`` jobs as a long-running landing zone has them: nearly all cleaned, a few active."""
    from lz.core.job import JobSpec
    from lz.store.db import make_engine
    from lz.store.jobs import JobStore
    from lz.store.migrate import upgrade

    engine = make_engine(db)
    upgrade(engine)
    store = JobStore(engine)
    spec = JobSpec(name="bench", command=("true",))
    rows = []
    now = time.time()
    for i in range(count):
        state = "cleaned" if i < count - 20 else "queued"
        rows.append({"id": f"{i:010x}", "name": f"job{i}", "state": state, "source": "cli",
                     "spec": json.dumps(spec.to_dict()), "created_at": now - count + i, "updated_at": now,
                     "outcome": "succeeded" if state == "cleaned" else None})
    from sqlalchemy import insert

    from lz.store.models import jobs

    with engine.begin() as conn:
        conn.execute(insert(jobs), rows)
    del store


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="lz-cli-bench-") as tmp:
        base = Path(tmp)
        job = base / "job"
        job.mkdir()
        (job / "run.sh").write_text("echo hi\n")
        (job / "lz.toml").write_text('command = ["sh", "run.sh"]\n')
        env = {**os.environ, "LZ_WORKDIR": str(base / "work"), "LZ_CONTAINER": "none", "HOME": str(base),
               "XDG_CONFIG_HOME": str(base / "config")}
        empty = {**env, "LZ_DB": str(base / "empty" / "lz.db")}
        full = {**env, "LZ_DB": str(base / "full" / "lz.db")}
        submits = {**env, "LZ_DB": str(base / "submits" / "lz.db")}
        fill(base / "full" / "lz.db", args.jobs)
        subprocess.run([python, "-m", "lz", "status"], env=empty, stdout=subprocess.DEVNULL, check=True)
        subprocess.run([python, "-m", "lz", "status"], env=submits, stdout=subprocess.DEVNULL, check=True)
        baseline = timed([python, "-c", "import sqlalchemy, click"], env, args.runs)
        results = {
            "lz --help": timed([python, "-m", "lz", "--help"], env, args.runs),
            "lz status (empty)": timed([python, "-m", "lz", "status"], empty, args.runs),
            "lz status (10,000 jobs)": timed([python, "-m", "lz", "status"], full, args.runs),
            "lz submit (small folder)": timed([python, "-m", "lz", "submit", str(job)], submits, args.runs),
        }
    print(f"baseline: python -c 'import sqlalchemy, click': {baseline * 1000:.0f} ms (median of {args.runs})")
    print(f"{'command':<26} {'median':>8} {'ratio':>6}  target")
    for name, seconds in results.items():
        target = TARGETS[name]
        verdict = "" if target is None else f"<= {target}x {'met' if seconds / baseline <= target else 'MISSED'}"
        print(f"{name:<26} {seconds * 1000:>6.0f} ms {seconds / baseline:>5.2f}x  {verdict}")


if __name__ == "__main__":
    main()
