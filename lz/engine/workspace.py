"""Every place a job's files live, from one object: its work directory (under the work root), its
spool entry (the copy intake made), its stored results. The engine, housekeeping and the CLI ask
here; nobody else joins paths for a job.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from lz.core.job import Job, JobContext, Tracked
from lz.core.layout import JobPaths

LOG_NAMES = ("stdout", "stderr", "build.log")


@functools.lru_cache(maxsize=1 << 16)
def _recorded(work_dir: str) -> JobPaths:
    """Paths of a recorded work directory (cached: a tick over 10,000 jobs asks for each twice)."""
    return JobPaths(Path(work_dir))
"""The logs a job has, by the names ``lz logs`` and the results store use."""


@dataclass(frozen=True)
class Workspace:
    work_root: Path
    spool_dir: Path
    results_dir: Path
    prefix: str = "lz-"

    def paths(self, job: Job) -> JobPaths:
        """The job's directory: the one recorded when its build started, else where it will be."""
        if job.work_dir:
            return _recorded(job.work_dir)
        return self.fresh_paths(job.id)

    def fresh_paths(self, job_id: str) -> JobPaths:
        return JobPaths.under(self.work_root, job_id, self.prefix)

    def context(self, job: Job) -> JobContext:
        return JobContext(job.id, job.spec, self.paths(job))

    def tracked(self, job: Job) -> Tracked:
        return Tracked(job.id, job.executor_id, self.paths(job), job.spec.resources.time_s,
                       paused_s=job.paused_s or 0.0, paused_since=job.paused_at, control_at=job.control_at,
                       array=job.spec.array)

    def spooled(self, job_id: str) -> Path:
        return self.spool_dir / job_id

    def results(self, job_id: str) -> Path:
        return self.results_dir / job_id

    def log(self, job: Job, name: str) -> Path | None:
        """Where a log is now: in the stored results once collected, else live in the work directory."""
        if name not in LOG_NAMES:
            raise ValueError(f"unknown log {name!r}")
        stored = self.results(job.id) / name
        if job.state == "cleaned" or stored.exists():
            return stored
        if job.work_dir:
            return JobPaths(Path(job.work_dir)).meta / name
        return None
