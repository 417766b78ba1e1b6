"""What the daemon records and its adapters report of a job: a transition of its history, what an
executor observed (phase, usage, processes), and what an adapter needs to act on it (context).
Kept apart from ``lz.core.job`` (the spec and the snapshot): a
submission creates none of these dataclasses, and importing them is most of their cost (issue 23).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lz.core.dependencies import Dependency
    from lz.core.job import JobSpec, Phase
    from lz.core.layout import JobPaths


@dataclass(frozen=True)
class Transition:
    """One line of a job's append-only history."""

    from_state: str
    to_state: str
    event: str
    at: float
    detail: str | None
    job_id: str = ""
    seq: int = 0


@dataclass(frozen=True)
class JobContext:
    """Everything a runtime or executor needs to act on one job."""

    job_id: str
    spec: JobSpec
    paths: JobPaths
    attempt: int = 1
    after: tuple[tuple[Dependency, str], ...] = ()  # prerequisites the scheduler waits for, by its ids


@dataclass(frozen=True)
class Tracked:
    """A job an executor may know: its lz id, its executor id when recorded, and its paths."""

    job_id: str
    executor_id: str | None
    paths: JobPaths
    time_limit_s: int | None = None
    paused_s: float = 0.0  # finished pauses: suspended time does not count toward the time limit
    paused_since: float | None = None  # the current pause began then
    control_at: float | None = None  # when a stop was asked (its grace period runs from there)
    array: str | None = None  # a sweep's indices (JobSpec.array): the executor observes its tasks
    attempt: int = 1  # the executor names each attempt apart, so an older one's trace never counts


@dataclass(frozen=True)
class Observation:
    """What the executor can tell about one job right now.

    ``absent``: neither the scheduler nor the disk knows it (yet, or any more).
    ``native_state``: the scheduler's word (e.g. SLURM's TIMEOUT), or "EXITED" for an exit file.
    ``seen_before``: the executor found a trace that the job once started (a pid file, a SLURM
    job of its name), so an absent job must never be submitted again.
    """

    phase: Phase
    executor_id: str | None = None
    native_state: str | None = None
    reason: str | None = None
    exit_code: int | None = None
    seen_before: bool = False


@dataclass(frozen=True)
class ProcessInfo:
    """One process of a running job, as ``lz top`` shows it."""

    pid: int
    command: str
    cpu_percent: float | None
    rss_bytes: int | None
    state: str = ""


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float | None = None
    max_rss_bytes: int | None = None
