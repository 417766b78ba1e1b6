"""What a job is: its command, recipe and resources, read from ``lz.toml`` (pure parsing)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lz.resources import Resources

RecipeKind = Literal["dockerfile", "singularity"]


@dataclass(frozen=True)
class JobSpec:
    """A validated job description. ``recipe`` is a path relative to the job folder."""

    name: str
    command: tuple[str, ...] | None = None
    recipe: str | None = None
    recipe_kind: RecipeKind | None = None
    resources: Resources = field(default_factory=Resources)
    env: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
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
        )
