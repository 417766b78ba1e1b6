"""Job arrays (sweeps), as sbatch spells them: ``0-99``, ``1,3,5-7``, ``0-99:2``, any of them with a
``%N`` throttle (at most N tasks at once). Pure: parsing, the indices, the per-task summary.

One lz job is the whole array: one bundle, one build, one ``sbatch --array``; each task ``i`` runs
the job's command with ``LZ_ARRAY_INDEX=i`` (and ``SLURM_ARRAY_TASK_ID`` under SLURM) in the job's
shared work directory, and writes its outputs under ``task-<i>/`` (``$LZ_TASK_DIR``), which is
what ``lz results JOB --task i`` returns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lz.core.errors import ResourceError

DEFAULT_MAX_TASKS = 10_000
"""The most tasks one array may have, and one past its largest index (settings: ``max_array_tasks``)."""

_RANGE = re.compile(r"^(\d{1,9})(?:-(\d{1,9})(?::(\d{1,9}))?)?$")
TASK_STATES = ("pending", "running", "succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class ArraySpec:
    """A validated array: its indices in order (no duplicates) and its throttle (None: no limit)."""

    indices: tuple[int, ...]
    throttle: int | None = None

    def __str__(self) -> str:
        """The canonical spelling, what ``sbatch --array=`` gets: ranges where indices are consecutive."""
        return compact(self.indices) + (f"%{self.throttle}" if self.throttle else "")

    @property
    def count(self) -> int:
        return len(self.indices)


def parse_array(text: object, *, max_tasks: int = DEFAULT_MAX_TASKS) -> ArraySpec:
    """``0-99%10`` and friends; every way it is wrong is one ResourceError line."""
    if not isinstance(text, str) or not text.strip():
        raise ResourceError(f"array {text!r}: give indices such as \"0-99\", \"1,3,5-7\", \"0-99:2\" or \"0-99%10\"")
    spec, _, throttle_text = text.strip().partition("%")
    throttle = None
    if throttle_text:
        if not throttle_text.isdigit() or int(throttle_text) < 1:
            raise ResourceError(f"array {text!r}: the throttle after % must be a whole number of tasks, at least 1")
        throttle = int(throttle_text)
    indices: set[int] = set()
    for part in spec.split(","):
        match = _RANGE.match(part.strip())
        if not match:
            raise ResourceError(f"array {text!r}: {part.strip()!r} is not an index, a range A-B or a range A-B:STEP")
        first = int(match[1])
        last = int(match[2]) if match[2] is not None else first
        step = int(match[3]) if match[3] is not None else 1
        if last < first or step < 1:
            raise ResourceError(f"array {text!r}: in {part.strip()!r} the range must go up with a step of at least 1")
        if last >= max_tasks:
            raise ResourceError(f"array {text!r}: index {last} is past this landing zone's largest, {max_tasks - 1}")
        indices.update(range(first, last + 1, step))
        if len(indices) > max_tasks:
            raise ResourceError(f"array {text!r}: more than {max_tasks} tasks")
    return ArraySpec(tuple(sorted(indices)), throttle)


def compact(indices: Iterable[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``0-2,5,7-8``."""
    runs: list[list[int]] = []
    for i in sorted(indices):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


# -- squeue's spelling of array tasks ----------------------------------------------------------------

# compiled on first use (re's cache): a submission never reads squeue's ids
_TASK_ID = r"^(\d+)_(\d+)$"
_PENDING_ID = r"^(\d+)_\[([^]]*)\]$"


def split_task_id(slurm_id: str) -> tuple[str, tuple[int, ...]] | None:
    """``123_7`` -> ("123", (7,)); ``123_[8-99%10]`` and ``123_[1,3-5]`` -> ("123", every index);
    a plain id -> None. The throttle squeue prints inside the brackets is not an index."""
    one = re.match(_TASK_ID, slurm_id)
    if one:
        return one[1], (int(one[2]),)
    many = re.match(_PENDING_ID, slurm_id)
    if many:
        inside = many[2].partition("%")[0]
        try:
            return many[1], parse_array(inside, max_tasks=1 << 31).indices
        except ResourceError:
            return None
    return None


def task_id(array_id: str, index: int) -> str:
    """The SLURM id of one task, what ``scancel`` takes: ``123_7``."""
    return f"{array_id}_{index}"


# -- the tasks' summary --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskView:
    """One task of an array job as the executor last saw it."""

    index: int
    state: str  # one of TASK_STATES
    exit_code: int | None = None
    native_state: str | None = None


def summary(tasks: Iterable[TaskView]) -> dict[str, int]:
    """Counts by state, every state present (zero included), in TASK_STATES order."""
    counts = dict.fromkeys(TASK_STATES, 0)
    for task in tasks:
        counts[task.state] += 1
    return counts


def summary_line(counts: Mapping[str, int]) -> str:
    """``10 tasks: 2 pending, 3 running, 4 succeeded, 1 failed``; zero counts left out."""
    total = sum(counts.values())
    parts = [f"{n} {state}" for state, n in counts.items() if n]
    return f"{total} tasks: " + (", ".join(parts) if parts else "none")


def outcome_reason(tasks: Iterable[TaskView]) -> tuple[int, str]:
    """The array's exit status and reason once every task ended: 0 only if every task succeeded,
    else the first failed task's exit status (1 without one)."""
    done = list(tasks)
    bad = [t for t in done if t.state != "succeeded"]
    if not bad:
        return 0, f"all {len(done)} tasks succeeded"
    first = bad[0]
    how = ("cancelled" if first.state == "cancelled" else "time limit reached" if first.native_state == "TIMEOUT"
           else f"exit code {first.exit_code}"
           if first.exit_code is not None else (first.native_state or first.state).lower())
    code = first.exit_code if first.exit_code not in (None, 0) else 1
    assert code is not None
    return code, f"{len(bad)} of {len(done)} tasks did not succeed (task {first.index}: {how})"
