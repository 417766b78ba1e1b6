"""A sweep's tasks in ``lz status JOB`` and ``lz status``, and ``lz cancel JOB --task N`` / ``JOB_N``
(lz.core.array). The per-task view reads the tasks' files (or, once the job is cleaned, the
``tasks.json`` stored with its results): it costs no controller call."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lz.core.array import TaskView, parse_array, summary, summary_line
from lz.core.errors import UserError

if TYPE_CHECKING:
    from lz.config import Settings
    from lz.core.job import Job

_TASK_SUFFIX = re.compile(r"^(.+)_(\d+)$")
DETAIL_LIMIT = 200
"""Tasks listed one per line in ``lz status JOB``; past that, the summary and the ones not succeeded."""


def split_job_task(text: str) -> tuple[str, int | None]:
    """``JOB_7`` -> (JOB, 7), as scancel spells one task; ``JOB`` -> (JOB, None)."""
    match = _TASK_SUFFIX.match(text)
    return (match[1], int(match[2])) if match else (text, None)


def tasks_of(settings: Settings, job: Job) -> list[TaskView]:
    from lz.engine import assembly
    from lz.executors.array_tasks import TASKS_FILE, read_tasks_file, task_views

    assert job.spec.array
    workspace = assembly.workspace(settings)
    stored = read_tasks_file(workspace.results(job.id) / TASKS_FILE)
    if stored is not None:
        return stored
    over = job.ended_at is not None
    return task_views(workspace.paths(job), parse_array(job.spec.array).indices, over=over)


def detail(settings: Settings, job: Job) -> str:
    """The summary line and one line per task (the unsuccessful ones first past DETAIL_LIMIT)."""
    tasks = tasks_of(settings, job)
    lines = ["", f"array {job.spec.array}: {summary_line(summary(tasks))}"
                 + ("; the job succeeds only if every task does" if job.outcome is None else "")]
    shown = tasks if len(tasks) <= DETAIL_LIMIT else [t for t in tasks if t.state != "succeeded"][:DETAIL_LIMIT]
    if len(shown) < len(tasks):
        lines.append(f"(the {len(shown)} tasks not succeeded; lz status {job.id} --json lists all)")
    lines.append(f"{'TASK':>6}  {'STATE':<10} {'EXIT':>4}  NATIVE")
    for task in shown:
        code = "" if task.exit_code is None else str(task.exit_code)
        lines.append(f"{task.index:>6}  {task.state:<10} {code:>4}  {task.native_state or ''}")
    return "\n".join(lines)


def as_json(settings: Settings, job: Job) -> dict[str, object]:
    tasks = tasks_of(settings, job)
    return {"array": job.spec.array, "summary": summary(tasks),
            "tasks": [{"index": t.index, "state": t.state, "exit_code": t.exit_code, "native_state": t.native_state}
                      for t in tasks]}


def summaries(settings: Settings, jobs: Sequence[Job]) -> list[str]:
    """One line per active sweep, under ``lz status``'s table."""
    return [f"{job.id} {job.name}: {summary_line(summary(tasks_of(settings, job)))}"
            for job in jobs if job.spec.array and job.state != "cleaned"]


def cancel_tasks(settings: Settings, job_id: str, indices: Sequence[int]) -> str:
    """Cancel some tasks of a running sweep through its executor (SLURM: ``scancel ID_7``)."""
    from lz.cli.common import store
    from lz.engine import assembly

    job = store(settings).find(job_id)
    if not job.spec.array:
        raise UserError(f"job {job.id} is not an array (--task is for sweeps)")
    known = set(parse_array(job.spec.array).indices)
    unknown = [i for i in indices if i not in known]
    if unknown:
        raise UserError(f"job {job.id} has no task {unknown[0]} (its array is {job.spec.array})")
    if job.state not in ("queued", "running", "paused"):
        raise UserError(f"job {job.id} is {job.state}: only the tasks of a submitted, unfinished sweep can be "
                        "cancelled one by one (lz cancel JOB cancels them all)")
    workspace = assembly.workspace(settings)
    assembly.executor(settings).cancel_tasks(workspace.tracked(job), list(indices))
    return f"job {job.id}: cancelling task{'s' if len(indices) > 1 else ''} {', '.join(map(str, indices))}"
