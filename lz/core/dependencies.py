"""Dependencies between jobs (``--after JOB[:ok|:any|:failed]``): parsing, whether one holds, and
the cycle check at submission (pure).

A dependent job is built, then held queued (``pending_reason`` says on what) until every
prerequisite has ended the way it asks: ``ok`` (the default) a success, ``failed`` anything but a
success, ``any`` any end. A prerequisite that ended the other way ends the dependent too, failed,
with the reason "dependency JOB failed". Where the executor can say it natively (SLURM's
``--dependency``), the dependent is submitted as soon as every unfinished prerequisite has a
scheduler id; the engine still ends it if a prerequisite ended the wrong way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Literal

from lz.core.errors import BundleError
from lz.core.value_class import value_class

Condition = Literal["ok", "any", "failed"]
CONDITIONS: tuple[Condition, ...] = ("ok", "any", "failed")
SLURM_TYPES: dict[str, str] = {"ok": "afterok", "any": "afterany", "failed": "afternotok"}
"""How each condition reads in ``sbatch --dependency``."""
MAX_DEPENDENCIES = 64


@value_class
class Dependency:
    """A job this one waits for, and what its end must be (``--after JOB[:ok|:any|:failed]``)."""

    job_id: str
    condition: Condition = "ok"

    def __str__(self) -> str:
        return f"{self.job_id}:{self.condition}"

    @classmethod
    def parse(cls, text: str) -> Dependency:
        """``JOB``, ``JOB:ok``, ``JOB:any`` or ``JOB:failed``."""
        job_id, _, condition = str(text).strip().partition(":")
        condition = condition or "ok"
        if not job_id or not job_id.isascii() or not job_id.replace("-", "").replace("_", "").isalnum():
            raise BundleError(f"--after {text!r}: expected JOB[:ok|:any|:failed]")
        if condition not in CONDITIONS:
            raise BundleError(f"--after {text!r}: the condition must be ok, any or failed, not {condition!r}")
        return cls(job_id, condition)  # type: ignore[arg-type]


def parse_all(values: Iterable[str]) -> tuple[Dependency, ...]:
    found = tuple(dict.fromkeys(Dependency.parse(v) for v in values))
    if len(found) > MAX_DEPENDENCIES:
        raise BundleError(f"at most {MAX_DEPENDENCIES} dependencies per job, not {len(found)}")
    return found


def holds(condition: str, outcome: str | None) -> bool | None:
    """Whether a prerequisite that ended with ``outcome`` lets the dependent run: True, False
    (never will), or None while it has not ended."""
    if outcome is None:
        return None
    if condition == "any":
        return True
    return (outcome == "succeeded") == (condition == "ok")


def unmet_reason(dep: Dependency, outcome: str) -> str:
    """Why a dependent ends: "dependency abc failed" (or succeeded, for ``:failed``)."""
    word = "succeeded" if outcome == "succeeded" else "failed" if outcome == "failed" else f"ended {outcome}"
    return f"dependency {dep.job_id} {word}" + (" (it was to run only after a failure)" if dep.condition == "failed" else "")


def waiting_reason(deps: Sequence[Dependency]) -> str:
    return "waiting for " + ", ".join(
        f"job {d.job_id} to {'succeed' if d.condition == 'ok' else 'fail' if d.condition == 'failed' else 'end'}"
        for d in deps)


def sbatch_dependency(deps: Sequence[tuple[Dependency, str]]) -> str | None:
    """``--dependency=afterok:1:2,afterany:3`` for (dependency, SLURM id) pairs; None for none."""
    by_type: dict[str, list[str]] = {}
    for dep, slurm_id in deps:
        by_type.setdefault(SLURM_TYPES[dep.condition], []).append(slurm_id)
    if not by_type:
        return None
    return "--dependency=" + ",".join(f"{kind}:{':'.join(ids)}" for kind, ids in by_type.items())


def find_cycle(start: str, deps: Sequence[Dependency],
               prerequisites_of: Callable[[str], Sequence[Dependency]]) -> list[str] | None:
    """A path start -> ... -> start through the dependencies, or None. ``prerequisites_of`` gives
    a stored job's own dependencies (a job can name only jobs that exist, so this guards against
    an id reused or a record edited by hand; it costs one lookup per ancestor)."""
    stack: list[tuple[str, list[str]]] = [(d.job_id, [start, d.job_id]) for d in deps]
    seen: set[str] = set()
    while stack:
        job_id, path = stack.pop()
        if job_id == start:
            return path
        if job_id in seen:
            continue
        seen.add(job_id)
        stack.extend((d.job_id, [*path, d.job_id]) for d in prerequisites_of(job_id))
    return None


def check_known(deps: Sequence[Dependency], known: Mapping[str, object]) -> None:
    for dep in deps:
        if dep.job_id not in known:
            raise BundleError(f"--after {dep.job_id}: no such job (nothing was submitted)")
