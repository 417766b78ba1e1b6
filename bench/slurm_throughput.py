#!/usr/bin/env python3
"""End-to-end time for N trivial jobs on the real Slurm: the lz gateway next to a plain loop.

plain: `sbatch` N times (the same wrapper and `srun true` step lz submits), then one `squeue`
       every second until none of them is pending or running.
lz:    a gateway daemon (`lz run --container slurm --runtime none`), N jobs received through the
       intake service, until every job is cleaned (results stored, work directories removed).
Both run in this process's run, one after the other, on the same node. Goal: lz within 1.25x.

    scripts/slurm-dev-cluster up && python3 bench/slurm_throughput.py [--jobs 200] [--tick 1]
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gateway_daemon import gateway_daemon  # noqa: E402
from lz.executors.base import wrapper_script  # noqa: E402
from lz.intake.receive import receive  # noqa: E402


def plain(n: int, base: Path) -> float:
    work = base / "plain"
    work.mkdir()
    start = time.perf_counter()
    ids = []
    for i in range(n):
        meta = work / f"j{i}"
        meta.mkdir()
        out = subprocess.run(["sbatch", "--parsable", f"--job-name=plain-{i}", f"--chdir={meta}",
                              f"--output={meta}/slurm.out", "--ntasks=1", "--cpus-per-task=1",
                              str(wrapper_script()), str(meta), "srun", "--ntasks=1", "true"],
                             capture_output=True, text=True, check=True).stdout
        ids.append(out.strip().split(";")[0])
    wanted = set(ids)
    while True:
        out = subprocess.run(["squeue", "--noheader", "--states=PENDING,RUNNING,CONFIGURING,COMPLETING",
                              "-o", "%i"], capture_output=True, text=True).stdout
        if not wanted & set(out.split()):
            return time.perf_counter() - start
        time.sleep(1)


def gateway(n: int, base: Path, tick: float) -> float:
    job = base / "job"
    job.mkdir()
    (job / "lz.toml").write_text('command = ["true"]\n')
    with gateway_daemon(base, tick=tick) as lz:
        start = time.perf_counter()
        for i in range(n):
            receive(lz.store, lz.settings, job, name=f"t{i}")
            lz.wake()
        conn = sqlite3.connect(lz.settings.db)
        while conn.execute("select count(*) from jobs where state != 'cleaned'").fetchone()[0]:
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
        bad = conn.execute("select count(*) from jobs where outcome != 'succeeded'").fetchone()[0]
    assert bad == 0, f"{bad} jobs did not succeed"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--tick", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lz-bench-") as tmp:
        base = Path(tmp)
        t_plain = plain(args.jobs, base)
        print(f"plain sbatch loop + squeue polling: {args.jobs} jobs in {t_plain:.1f}s "
              f"({args.jobs / t_plain:.2f} jobs/s)", flush=True)
        t_lz = gateway(args.jobs, base, args.tick)
        print(f"lz gateway (tick {args.tick:g}s), received to cleaned: {args.jobs} jobs in {t_lz:.1f}s "
              f"({args.jobs / t_lz:.2f} jobs/s)")
        print(f"ratio lz / plain: {t_lz / t_plain:.2f}x (goal <= 1.25x)")


if __name__ == "__main__":
    main()
