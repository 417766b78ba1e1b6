"""A landing zone's own usage without a hub (``lz usage`` with no hub configured): each job's
CPU time and peak memory as its executor measured them (``sstat``, psutil), its GPUs over its run
time, summed per UTC day of its start (pure; no prices: credits are the hub's)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from lz.core.job import Job


def day_of(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%d")


def per_day(jobs: Iterable[Job], now: float, since: str | None = None) -> list[dict[str, Any]]:
    """Rows like the hub's (``day``, ``jobs``, ``cpu_hours``, ``memory_gib_hours``,
    ``gpu_hours``), oldest day first; jobs that never started count nothing."""
    sums: dict[str, list[float]] = {}
    for job in jobs:
        if job.started_at is None:
            continue
        day = day_of(job.started_at)
        if since is not None and day < since:
            continue
        run_s = max(0.0, (job.ended_at or now) - job.started_at)
        row = sums.setdefault(day, [0, 0.0, 0.0, 0.0])
        row[0] += 1
        row[1] += job.cpu_seconds or 0.0
        row[2] += (job.max_rss_bytes or 0) / (1 << 30) * run_s
        row[3] += job.spec.resources.gpus * run_s
    return [{"day": day, "jobs": int(n), "cpu_hours": round(cpu / 3600, 3), "memory_gib_hours": round(mem / 3600, 3),
             "gpu_hours": round(gpu / 3600, 3)} for day, (n, cpu, mem, gpu) in sorted(sums.items())]
