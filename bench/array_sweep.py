#!/usr/bin/env python3
"""A sweep of N trivial tasks on the real Slurm: the lz gateway next to a plain ``sbatch --array``.

plain: one ``sbatch --array=0-(N-1)`` (the same task wrapper and ``srun true`` step lz submits),
       then one ``squeue`` every second until none of its tasks is pending or running.
lz:    a gateway daemon (``lz run --container slurm --runtime none``) with ``sbatch`` and ``squeue``
       counted by PATH shims (tests/integration/squeue_shim.py); one job with ``array = "0-(N-1)"``
       received through intake, until it is cleaned; every task's ``task-<i>/`` checked in the
       stored results.
Printed: wall ratio, sbatch calls and squeue calls of each. Goal (issue 25): 1 sbatch, squeue
calls per interval unchanged, lz within 1.05x.

    scripts/slurm-dev-cluster up && flock -o /root/heavy.lock python3 bench/array_sweep.py [--tasks 100]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gateway_daemon import gateway_daemon  # noqa: E402
from lz.executors.array_tasks import task_wrapper  # noqa: E402
from lz.executors.base import wrapper_script  # noqa: E402
from lz.intake.receive import receive  # noqa: E402
from tests.integration.squeue_shim import install  # noqa: E402

ACTIVE_STATES = "--states=PENDING,RUNNING,CONFIGURING,COMPLETING"


def plain(n: int, base: Path, export_none: bool = False) -> tuple[float, int]:
    """(wall seconds, squeue calls). ``export_none``: with lz's ``--export=NONE`` (Slurm then loads
    the user's login environment for each task, which costs each task time of its own)."""
    meta = base / ("plain-export-none" if export_none else "plain")
    meta.mkdir()
    start = time.perf_counter()
    out = subprocess.run(["sbatch", "--parsable", "--job-name=plain-array", f"--chdir={meta}",
                          *(["--export=NONE"] if export_none else []),
                          f"--output={meta}/slurm-%a.out", f"--array=0-{n - 1}", "--ntasks=1", "--cpus-per-task=1",
                          str(task_wrapper()), str(wrapper_script()), str(meta), "srun", "--ntasks=1", "true"],
                         capture_output=True, text=True, check=True).stdout
    array_id = out.strip().split(";")[0]
    polls = 0
    while True:
        polls += 1
        listed = subprocess.run(["squeue", "--noheader", ACTIVE_STATES, "-j", array_id, "-o", "%i"],
                                capture_output=True, text=True).stdout
        if not listed.split():
            return time.perf_counter() - start, polls
        time.sleep(1)


def gateway(n: int, base: Path, tick: float, interval: float) -> tuple[float, int, int, int, str]:
    """(wall seconds, sbatch calls, squeue calls, tasks whose folder came back, seconds per state)."""
    shim, squeue_calls = install(base / "shim")
    _, sbatch_calls = install(base / "shim", "sbatch")
    job = base / "job"
    job.mkdir()
    (job / "lz.toml").write_text(f'command = ["true"]\narray = "0-{n - 1}"\n')
    with gateway_daemon(base, tick=tick, config=f'job_prefix = "lzsweep-"\nobserve_interval_s = {interval}\n',
                        env={"PATH": f"{shim}:{os.environ['PATH']}"}) as lz:
        settings = lz.settings
        time.sleep(1)
        squeue_calls.write_text("")
        start = time.perf_counter()
        job_id = receive(lz.store, settings, job, name="sweep").id
        lz.wake()
        conn = sqlite3.connect(settings.db)
        while conn.execute("select state from jobs where id = ?", (job_id,)).fetchone()[0] != "cleaned":
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
        outcome = conn.execute("select outcome, reason from jobs where id = ?", (job_id,)).fetchone()
        steps = conn.execute("select to_state, at from transitions where job_id = ? order by id", (job_id,)).fetchall()
        phases = ", ".join(f"{a} {t2 - t1:.1f}s" for (a, t1), (_, t2) in zip(steps, steps[1:], strict=False))
    assert outcome[0] == "succeeded", outcome
    with tarfile.open(settings.results_dir / job_id / "results.tar.gz") as tar:
        folders = {m.name.split("/")[0] for m in tar if m.name.startswith("task-")}
    return (elapsed, len(sbatch_calls.read_text().splitlines()), len(squeue_calls.read_text().splitlines()),
            len(folders), phases)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--tick", type=float, default=1.0)
    parser.add_argument("--export-none", action="store_true",
                        help="also time the plain array with lz's --export=NONE")
    parser.add_argument("--interval", type=float, default=5.0, help="lz's observe_interval_s (default: the shipped 5 s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lz-bench-") as tmp:
        base = Path(tmp)
        t_plain, plain_polls = plain(args.tasks, base)
        print(f"plain sbatch --array=0-{args.tasks - 1} + squeue polling (1 s): {t_plain:.1f}s, "
              f"1 sbatch, {plain_polls} squeue", flush=True)
        if args.export_none:
            t_none, _ = plain(args.tasks, base, export_none=True)
            print(f"the same with --export=NONE (as lz submits): {t_none:.1f}s ({t_none / t_plain:.2f}x)", flush=True)
        t_lz, sbatches, squeues, folders, phases = gateway(args.tasks, base, args.tick, args.interval)
        print(f"lz gateway (tick {args.tick:g}s, observe interval {args.interval:g}s), received to cleaned: "
              f"{t_lz:.1f}s, {sbatches} sbatch, {squeues} squeue ({squeues / t_lz:.2f}/s), task folders back: "
              f"{folders}/{args.tasks}")
        print(f"lz time per state: {phases}")
        print(f"ratio lz / plain: {t_lz / t_plain:.2f}x (goal <= 1.05x)")
        if args.export_none:
            print(f"ratio lz / plain with --export=NONE: {t_lz / t_none:.2f}x")


if __name__ == "__main__":
    main()
