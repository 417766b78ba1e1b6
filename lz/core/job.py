"""The core's value types: what a job is (spec) and what is known of it (snapshot); what its
executor reported (observation, usage), its history (transitions) and what an adapter needs to act
on it (context) live in ``lz.core.records``, created only where used (``lz submit`` needs none).

Frozen value classes only (``lz.core.value_class``: no ``dataclasses`` on the submit path); this
module imports nothing but the lifecycle, resources, errors and the pure path layout, so the rules,
the store and every adapter can share it without cycles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from lz.core.resources import Resources
from lz.core.retry import RetryPolicy
from lz.core.value_class import field, value_class

if TYPE_CHECKING:  # imported where a spec has them: most jobs have neither (``lz submit``'s imports, issue 23)
    from lz.core.dependencies import Dependency
    from lz.core.volumes import Volume

RecipeKind = Literal["dockerfile", "singularity"]
Phase = Literal["pending", "running", "ended", "absent"]


@value_class
class JobSpec:
    """A validated job description. ``recipe`` is a path relative to the job folder."""

    name: str
    command: tuple[str, ...] | None = None
    recipe: str | None = None
    recipe_kind: RecipeKind | None = None
    resources: Resources = field(default_factory=Resources)
    env: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[Volume, ...] = ()  # bound by every runtime at their mount points (lz.core.volumes)
    array: str | None = None  # a sweep's indices and throttle, canonical ("0-99%10"; lz.core.array)
    retry: RetryPolicy = field(default_factory=RetryPolicy)  # lz.core.retry
    after: tuple[Dependency, ...] = ()  # lz.core.dependencies
    ports: tuple[int, ...] = ()  # TCP ports it serves, opened through a hub (issue 26; lz.hub.protocol.ports)

    def to_dict(self) -> dict[str, Any]:
        return {
            **({"array": self.array} if self.array else {}),
            **_retry_and_after(self),
            "volumes": [v.to_dict() for v in self.volumes],
            "name": self.name,
            "command": list(self.command) if self.command is not None else None,
            "recipe": self.recipe,
            "recipe_kind": self.recipe_kind,
            "resources": self.resources.to_dict(),
            "env": dict(self.env),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        command = data.get("command")
        return cls(
            name=data["name"],
            command=tuple(command) if command is not None else None,
            recipe=data.get("recipe"),
            recipe_kind=data.get("recipe_kind"),
            resources=Resources.from_dict(data.get("resources") or {}),
            env=dict(data.get("env") or {}),
            volumes=_volumes(data.get("volumes") or ()),
            array=data.get("array") or None,
            retry=RetryPolicy.from_dict(data["retry"]) if data.get("retry") else RetryPolicy(),
            after=_after(data.get("after") or ()),
            ports=tuple(int(p) for p in data.get("ports") or ()),
        )


def _volumes(data: Sequence[Mapping[str, Any]]) -> tuple[Volume, ...]:
    if not data:
        return ()
    from lz.core.volumes import Volume

    return tuple(Volume.from_dict(v) for v in data)


def _after(data: Sequence[Mapping[str, Any]]) -> tuple[Dependency, ...]:
    if not data:
        return ()
    from lz.core.dependencies import Dependency

    return tuple(Dependency(d["job_id"], d["condition"]) for d in data)


def _retry_and_after(spec: JobSpec) -> dict[str, Any]:
    """Only when set: a spec without them reads as before (older zones, the hub's copies). Ports too."""
    found: dict[str, Any] = {}
    if spec.retry != RetryPolicy():
        found["retry"] = spec.retry.to_dict()
    if spec.after:
        found["after"] = [{"job_id": d.job_id, "condition": d.condition} for d in spec.after]
    if spec.ports:
        found["ports"] = list(spec.ports)
    return found


@value_class
class Job:
    """A snapshot of one job; decisions are made on snapshots, never on live database rows."""

    id: str
    name: str
    state: str
    outcome: str | None
    reason: str | None
    exit_code: int | None
    source: str
    spec: JobSpec
    work_dir: str | None
    created_at: float
    updated_at: float
    started_at: float | None
    ended_at: float | None
    executor: str | None
    executor_id: str | None
    submit_attempted_at: float | None
    native_state: str | None
    pending_reason: str | None
    absent_since: float | None
    cpu_seconds: float | None
    max_rss_bytes: int | None
    results_at: float | None
    control: str | None = None  # a pending request: stop, kill, pause or resume (intent, kept until done)
    control_by: str | None = None  # who asked (the local user name, or "hub user NAME")
    control_at: float | None = None
    paused_at: float | None = None  # when the current pause began
    paused_s: float | None = None  # seconds spent paused before (not counted toward the time limit)
    attempt: int = 1  # the current attempt (lz.core.retry), committed before its submission
    retry_at: float | None = None  # not submitted again before then (back-off between attempts)
    attempts: str | None = None  # JSON list of the earlier attempts: executor id, cause, reason, times

    @property
    def submitted(self) -> bool:
        """Whether the executor may know this job (a submission was at least attempted)."""
        return self.executor_id is not None or self.submit_attempted_at is not None
