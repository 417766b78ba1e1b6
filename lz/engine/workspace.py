"""Every place a job's files live, from one object: its work directory (under the work root), its
spool entry (the copy intake made), its stored results. The engine, housekeeping and the CLI ask
here; nobody else joins paths for a job.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from lz.core.job import Job
from lz.core.layout import JobPaths
from lz.core.records import JobContext, Tracked

LOG_NAMES = ("stdout", "stderr", "build.log")


@functools.lru_cache(maxsize=1 << 16)
def _recorded(work_dir: str) -> JobPaths:
    """Paths of a recorded work directory (cached: a tick over 10,000 jobs asks for each twice)."""
    return JobPaths(Path(work_dir))
"""The logs a job has, by the names ``lz logs`` and the results store use."""


ATTEMPT_FILES = ("stdout", "stderr", "slurm.out", "exit", "pid", "stop-signalled", "time-limit-reached")
"""What one attempt leaves in the job's meta directory; moved to ``attempt-N/`` before the next."""


def attempt_dir(attempt: int) -> str:
    return f"attempt-{attempt}"


def archive_attempt(paths: JobPaths, attempt: int) -> None:
    """Move an ended attempt's logs and exit record aside (idempotent: what was moved is not
    there any more; run again after a crash it finishes the move). Before the next submission, so
    the new attempt never reads the old one's exit file."""
    target = paths.meta / attempt_dir(attempt)
    target.mkdir(mode=0o700, exist_ok=True)
    for name in ATTEMPT_FILES:
        try:
            os.replace(paths.meta / name, target / name)
        except FileNotFoundError:
            continue


def attempt_logs(paths: JobPaths, attempts: int) -> dict[str, Path]:
    """The earlier attempts' logs by their names in the results (``attempt-1/stdout``...)."""
    return {f"{attempt_dir(n)}/{name}": paths.meta / attempt_dir(n) / name
            for n in range(1, attempts) for name in ("stdout", "stderr")}


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
        return JobContext(job.id, job.spec, self.paths(job), job.attempt)

    def tracked(self, job: Job) -> Tracked:
        return Tracked(job.id, job.executor_id, self.paths(job), job.spec.resources.time_s,
                       paused_s=job.paused_s or 0.0, paused_since=job.paused_at, control_at=job.control_at,
                       array=job.spec.array, attempt=job.attempt)

    def spooled(self, job_id: str) -> Path:
        return self.spool_dir / job_id

    def results(self, job_id: str) -> Path:
        return self.results_dir / job_id

    def log(self, job: Job, name: str, attempt: int | None = None) -> Path | None:
        """Where a log is now: in the stored results once collected, else live in the work directory.
        ``attempt``: an earlier attempt's (``attempt-N/``, see ``attempt_logs``); the current one's
        is the plain name, and so is ``attempt-N/NAME``."""
        folder, _, base = name.rpartition("/")
        if folder.startswith("attempt-") and folder[8:].isdigit() and attempt is None:
            name, attempt = base, int(folder[8:])
        if name not in LOG_NAMES:
            raise ValueError(f"unknown log {name!r}")
        if attempt is not None and attempt != job.attempt:
            if not 1 <= attempt < job.attempt:
                raise ValueError(f"job {job.id} has no attempt {attempt} (it is on attempt {job.attempt})")
            name = f"{attempt_dir(attempt)}/{name}"
        stored = self.results(job.id) / name
        if job.state == "cleaned" or stored.exists():
            return stored
        if job.work_dir:
            return JobPaths(Path(job.work_dir)).meta / name
        return None
