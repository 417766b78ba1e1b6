#!/usr/bin/env python3
"""Controller calls per tick for 10, 100 and 1,000 active jobs.

A real engine tick (real SQLite store, real SlurmExecutor) runs against a stand-in runner that
answers squeue with one line per job and sstat with one line per job, and counts every call by
program. The goal: calls per tick do not grow with the number of jobs.

    python3 bench/controller_calls.py
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from lz.config import Settings
from lz.core.events import Listeners
from lz.core.job import JobSpec
from lz.engine import assembly
from lz.executors.slurm import SlurmExecutor
from lz.host.process import Completed, CountingRunner
from lz.runtimes.none import NoneRuntime
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import upgrade


class StandInSlurm:
    """Prints what squeue/sstat would for N running jobs named lz-<id>."""

    def __init__(self, ids: Mapping[str, str]):
        self.ids = ids  # lz job id -> slurm id

    def __call__(self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> Completed:
        program = argv[0]
        if program == "squeue":
            out = "".join(f"{sid}|RUNNING|None|0|lz-{jid}\n" for jid, sid in self.ids.items())
        elif program == "sstat":
            out = "".join(f"{sid}.0|1024K|00:00:01|1\n" for sid in self.ids.values())
        else:
            out = ""
        return Completed(tuple(argv), 0, out, "")


def measure(n: int, ticks: int = 5) -> tuple[dict[str, float], float]:
    with tempfile.TemporaryDirectory(prefix="lz-bench-") as tmp:
        db = make_engine(Path(tmp) / "lz.db")
        upgrade(db)
        store = JobStore(db)
        ids = {}
        for i in range(n):
            job = store.create(JobSpec(name=f"j{i}", command=("true",)))
            store.fire(job.id, "build", work_dir=f"{tmp}/lz-{job.id}")
            store.fire(job.id, "built", executor="slurm")
            store.record(job.id, executor_id=str(1000 + i), submit_attempted_at=time.time())
            store.fire(job.id, "started", started_at=time.time())
            ids[job.id] = str(1000 + i)
        runner = CountingRunner(StandInSlurm(ids))
        settings = Settings(db=Path(tmp) / "lz.db", workdir=Path(tmp), executor="slurm", runtime="none",
                            usage_interval_s=1e-9, observe_interval_s=1e-9, tick_s=1e-9)
        executor = SlurmExecutor(settings.slurm, runner=runner)
        executor.user = "bench"
        zone = assembly.landing_zone(settings, store, runtime_=NoneRuntime(), executor_=executor,
                                     listeners=Listeners(), wake=lambda: None)
        engine = zone.engine
        start = time.perf_counter()
        for _ in range(ticks):
            engine.tick()
        elapsed = (time.perf_counter() - start) / ticks
        engine.shutdown()
        assert all(j.state == "running" for j in store.active())
        return {k: v / ticks for k, v in sorted(runner.calls.items())}, elapsed


def main() -> None:
    print("active jobs | controller calls per tick (by program) | total | tick time")
    for n in (10, 100, 1000):
        calls, elapsed = measure(n)
        detail = ", ".join(f"{k} {v:g}" for k, v in calls.items())
        print(f"{n:>11} | {detail:<40} | {sum(calls.values()):g} | {elapsed * 1000:.0f} ms")


if __name__ == "__main__":
    main()
