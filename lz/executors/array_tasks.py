"""The tasks of a sweep on disk: how each task is started, what each one's files say, and how the
array as a whole is reported to the engine (one lz job, one Observation).

Every task leaves ``META/task-<i>/`` behind (pid, exit, stdout, stderr: job.sh's files, see
``lz/wrapper/array_task.sh``); a task cancelled on its own gets ``cancel-requested`` there first
(intent before effect). ``lz status JOB`` reads these files only: the per-task view costs no
controller call.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import resources as importlib_resources
from pathlib import Path

from lz.core.array import TaskView, outcome_reason, parse_array, split_task_id
from lz.core.layout import JobPaths
from lz.core.records import JobContext, Observation, Tracked
from lz.executors.base import wrapper_script
from lz.slurm.parse import QueueEntry, base_state, phase_of

CANCEL_MARK = "cancel-requested"
TIMEOUT_MARK = "time-limit-reached"
ARRAY_STATE = "ARRAY"
"""The native state of an array that ended as a whole: its exit status and reason come from its tasks."""


def task_wrapper() -> Path:
    return Path(str(importlib_resources.files("lz") / "wrapper" / "array_task.sh"))


def runner_script() -> Path:
    return Path(str(importlib_resources.files("lz") / "executors" / "array_runner.py"))


def task_meta(paths: JobPaths, index: int) -> Path:
    return paths.meta / f"task-{index}"


def array_argv(job: JobContext, argv: Sequence[str], slots: int) -> list[str]:
    """The local executor's command: ARGV itself, or for a sweep the runner that starts the tasks,
    at most the throttle at once and never more than the zone's slots (its CPUs)."""
    if not job.spec.array:
        return list(argv)
    spec = parse_array(job.spec.array)
    throttle = min(spec.throttle or spec.count, max(1, slots))
    return [sys.executable, str(runner_script()), str(throttle), ",".join(map(str, spec.indices)),
            str(task_wrapper()), str(wrapper_script()), str(job.paths.meta), str(job.spec.resources.time_s or 0),
            "--", *argv]


def mark_cancelled(paths: JobPaths, index: int, now: float) -> None:
    folder = task_meta(paths, index)
    folder.mkdir(parents=True, exist_ok=True)
    mark = folder / CANCEL_MARK
    if not mark.exists():
        mark.write_text(f"{now}\n")


@dataclass(frozen=True)
class Listed:
    """What the scheduler says of one task (squeue's line for it, or its share of a pending range)."""

    phase: str  # pending, running or ended
    native_state: str
    exit_code: int | None = None
    reason: str | None = None


def task_views(paths: JobPaths, indices: Sequence[int], *, listed: Mapping[int, Listed] | None = None,
               over: bool = False) -> list[TaskView]:
    """Each task's state. ``listed`` is the scheduler's word (None: the disk alone, as for the local
    executor and ``lz status``); ``over``: the array ended, so a task that never ran never will."""
    return [_view(paths, i, listed, over) for i in indices]


def _view(paths: JobPaths, index: int, listed: Mapping[int, Listed] | None, over: bool) -> TaskView:
    folder = task_meta(paths, index)
    code = _exit_code(folder / "exit")
    cancelled = (folder / CANCEL_MARK).exists()
    if code is not None:  # a cancelled task that ended its own way on the signal was still cancelled
        if code != 0 and not cancelled and (folder / TIMEOUT_MARK).exists():
            return TaskView(index, "failed", code, "TIMEOUT")
        return TaskView(index, "succeeded" if code == 0 else "cancelled" if cancelled else "failed", code, "EXITED")
    entry = listed.get(index) if listed is not None else None
    if entry is not None and entry.phase != "ended":
        return TaskView(index, entry.phase, None, entry.native_state)
    if entry is not None:  # ended without the wrapper's record: killed (scancel, time limit, node)
        state = "cancelled" if cancelled or entry.native_state.startswith("CANCELLED") else "failed"
        if state == "failed" and entry.native_state == "COMPLETED" and entry.exit_code == 0:
            state = "succeeded"
        return TaskView(index, state, entry.exit_code, entry.native_state)
    started = (folder / "pid").exists()
    if listed is None and not over:  # the disk alone, the array still going
        if cancelled and not started:
            return TaskView(index, "cancelled", None, "CANCELLED")
        return TaskView(index, "running" if started else "pending")
    return TaskView(index, "cancelled" if cancelled else "failed", None, "CANCELLED" if cancelled else "LOST")


def _exit_code(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def array_observation(executor_id: str | None, views: Sequence[TaskView], reason: str | None = None) -> Observation:
    """The array as one job: pending while every task is, ended once every task is, else running."""
    states = {v.state for v in views}
    if states <= {"pending"}:
        return Observation("pending", executor_id, "PENDING", reason, seen_before=True)
    if states & {"pending", "running"}:
        return Observation("running", executor_id, "RUNNING", seen_before=True)
    code, why = outcome_reason(views)
    return Observation("ended", executor_id, ARRAY_STATE, why, code, seen_before=True)


def finished_array(job: Tracked, seen: Observation) -> Observation:
    """The local executor's view of a sweep: the runner's exit says the array ended; the reason
    (which task failed) comes from the tasks' own files."""
    if not job.array or seen.phase != "ended" or seen.native_state != "EXITED":
        return seen
    views = task_views(job.paths, parse_array(job.array).indices, over=True)
    return array_observation(seen.executor_id, views)


def slurm_array_observation(job: Tracked, entries: Sequence[QueueEntry]) -> Observation:
    """A sweep from squeue's lines of its name: ``123_7`` one task, ``123_[8-99%10]`` the pending
    rest, all from the one ``squeue`` of the tick. Lines of an older array of the same name (an
    adopted resubmission) are left out once the id is known."""
    indices = parse_array(job.array).indices if job.array else ()
    array_id = job.executor_id
    listed: dict[int, Listed] = {}
    pending_reason = None
    for entry in entries:
        split = split_task_id(entry.slurm_id)
        if split is None:
            continue
        base, tasks = split
        if array_id is None:
            array_id = base  # adopted by name: sbatch answered but its id was never recorded
        if base != array_id:
            continue
        for index in tasks:
            listed[index] = Listed(phase_of(entry.state), base_state(entry.state), entry.exit_code, entry.reason)
        if phase_of(entry.state) == "pending":
            pending_reason = entry.reason
    traces = any((task_meta(job.paths, i) / name).exists() for i in indices for name in ("exit", "pid"))
    if not listed and not traces:
        return Observation("absent", array_id, seen_before=False)
    return array_observation(array_id, task_views(job.paths, indices, listed=listed, over=not listed),
                             pending_reason)


TASKS_FILE = "tasks.json"
"""Each task's final state, written when the sweep is collected and stored with its logs: what
``lz status JOB`` shows once the work directory is gone."""


def write_tasks_file(paths: JobPaths, array: str, *, cancelled: bool = False) -> Path:
    """``cancelled``: the whole array was; a task that left no exit status was cancelled with it."""
    views = task_views(paths, parse_array(array).indices, over=True)
    if cancelled:
        views = [v if v.state in ("succeeded", "failed") and v.native_state != "LOST"
                 else TaskView(v.index, "cancelled", v.exit_code, "CANCELLED") for v in views]
    target = paths.meta / TASKS_FILE
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(v) for v in views]))
    tmp.replace(target)
    return target


def read_tasks_file(path: Path) -> list[TaskView] | None:
    try:
        return [TaskView(**item) for item in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return None
