"""What a SLURM allocation gives the process running inside it, read from the environment Slurm
sets for the batch step (pure: the caller passes the environment and, where Slurm did not set
the end time, the output of ``squeue``).

A pilot uses this to run several jobs at once on its node without oversubscribing it, and to
claim only jobs that end before its allocation does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lz.slurm.parse import duration_s

_MEMORY = re.compile(r"^\s*(\d+)\s*([KMGT]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


@dataclass(frozen=True)
class Allocation:
    """The part of a SLURM allocation this process may use; ``None`` means Slurm did not say."""

    job_id: str
    cpus: int | None
    memory_mb: int | None
    gpus: tuple[str, ...]
    end_time: float | None  # epoch seconds, when Slurm set SLURM_JOB_END_TIME
    node_tmp: Path | None  # node-local scratch ($SLURM_TMPDIR), if the site provides one

    def time_left_s(self, now: float) -> float | None:
        return None if self.end_time is None else max(0.0, self.end_time - now)


def from_environment(environ: Mapping[str, str]) -> Allocation | None:
    """The allocation this process runs in, or ``None`` outside SLURM."""
    job_id = environ.get("SLURM_JOB_ID") or environ.get("SLURM_JOBID")
    if not job_id:
        return None
    cpus = cpus_given(environ)
    memory = _memory_mb(environ.get("SLURM_MEM_PER_NODE"))
    if memory is None:
        per_cpu = _memory_mb(environ.get("SLURM_MEM_PER_CPU"))
        memory = per_cpu * cpus if per_cpu is not None and cpus is not None else None
    end = _int(environ.get("SLURM_JOB_END_TIME"))
    tmp = environ.get("SLURM_TMPDIR")
    return Allocation(job_id=job_id, cpus=cpus, memory_mb=memory, gpus=gpu_ids(environ),
                      end_time=float(end) if end else None, node_tmp=Path(tmp) if tmp else None)


def cpus_given(environ: Mapping[str, str]) -> int | None:
    """The CPUs the batch step was given on this node: what the job asked (``--cpus-per-task``
    times its tasks here, else ``--ntasks``: one CPU a task), never more than the node holds for
    it (``SLURM_CPUS_ON_NODE``, else the first of ``SLURM_JOB_CPUS_PER_NODE``; Slurm may round that
    up to whole cores, so it can exceed what was asked); with neither asked, that count."""
    on_node = _int(environ.get("SLURM_CPUS_ON_NODE")) or _int(environ.get("SLURM_JOB_CPUS_PER_NODE"))
    tasks = (_int(environ.get("SLURM_NTASKS_PER_NODE")) or _int(environ.get("SLURM_TASKS_PER_NODE"))
             or _int(environ.get("SLURM_NTASKS")))
    per_task = _int(environ.get("SLURM_CPUS_PER_TASK"))
    asked = per_task * (tasks or 1) if per_task else (tasks if "SLURM_NTASKS" in environ else None)
    if asked and on_node:
        return min(asked, on_node)
    return asked or on_node


def gpu_ids(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The GPUs of the allocation: ``SLURM_JOB_GPUS`` (indices on the node), else the
    ``CUDA_VISIBLE_DEVICES`` Slurm set for the step; empty or ``NoDevFiles`` means none."""
    for key in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "CUDA_VISIBLE_DEVICES"):
        value = environ.get(key)
        if value is None:
            continue
        ids = tuple(part.strip() for part in value.split(",") if part.strip())
        return () if ids in ((), ("NoDevFiles",), ("void",)) else ids
    return ()


def squeue_end_argv(job_id: str) -> list[str]:
    """The end time and time left of one job, one line: ``END LEFT``."""
    return ["squeue", "-h", "-j", job_id, "-o", "%e %L"]


def parse_squeue_end(stdout: str, now: float) -> float | None:
    """``2026-11-26T15:00:00 1:02:03`` -> the end as epoch seconds (from the time left, which
    does not depend on the time zone; the end time when the left is not shown)."""
    parts = stdout.split()
    if len(parts) >= 2:
        left = parse_duration(parts[1])
        if left is not None:
            return now + left
    if parts:
        try:
            return datetime.fromisoformat(parts[0]).timestamp()
        except ValueError:
            return None
    return None


def parse_duration(text: str) -> int | None:
    """squeue's time left (``[days-]hours:minutes:seconds``, ``MM:SS``) in whole seconds;
    ``UNLIMITED``/``INVALID``: None. squeue always prints a colon; a lone number is not its."""
    seconds = duration_s(text) if ":" in text else None
    return None if seconds is None else int(seconds)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    match = re.match(r"\s*(\d+)", value)  # SLURM_CPUS_ON_NODE is a number; tolerate "2(x1)"
    return int(match.group(1)) if match else None


def _memory_mb(value: str | None) -> int | None:
    if not value:
        return None
    match = _MEMORY.match(value)
    if not match:
        return None
    mb = int(int(match.group(1)) * _UNITS[match.group(2).upper()])
    return mb or None  # 0 means "all of the node's memory": unknown to us
