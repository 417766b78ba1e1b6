"""Reading a job's ``lz.toml`` and finding its recipe (pure apart from reading the folder)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lz.errors import BundleError, ResourceError
from lz.job import JobSpec, RecipeKind
from lz.resources import Limits, check_limits, parse_resources

SPEC_FILE = "lz.toml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOP_KEYS = {"name", "command", "env", "resources", "recipe"}


def load_spec(
    folder: Path,
    *,
    name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    limits: Limits | None = None,
    require_command: bool = True,
) -> JobSpec:
    """The job described by ``folder`` (an already staged, validated copy)."""
    data = _read_toml(folder)
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise BundleError(f"{SPEC_FILE}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    job_name = name or data.get("name") or folder.name
    if not isinstance(job_name, str) or not _NAME.match(job_name):
        raise BundleError(f"job name {job_name!r} must be 1-64 letters, digits, '.', '_' or '-' (no spaces or shell characters)")
    command = _command(data.get("command"))
    env = _env(data.get("env", {}))
    raw_resources = data.get("resources", {})
    if not isinstance(raw_resources, dict):
        raise BundleError(f"{SPEC_FILE}: [resources] must be a table")
    try:
        resources = parse_resources(raw_resources)
        flags = {k: v for k, v in (overrides or {}).items() if v is not None}
        resources = parse_resources(flags, base=resources)
        if limits is not None:
            check_limits(resources, limits)
    except ResourceError as exc:
        raise ResourceError(f"{SPEC_FILE} or flags: {exc}") from None
    recipe, kind = _recipe(folder, data.get("recipe"))
    if recipe is None and command is None:
        raise BundleError(f"no recipe (Dockerfile, Singularity, *.def) and no command in {SPEC_FILE}")
    if require_command and command is None:
        raise BundleError(f"{SPEC_FILE}: `command` is required (an argv list such as [\"python\", \"main.py\"])")
    return JobSpec(name=job_name, command=command, recipe=recipe, recipe_kind=kind, resources=resources, env=env)


def _read_toml(folder: Path) -> dict[str, Any]:
    path = folder / SPEC_FILE
    if path.is_symlink():
        raise BundleError(f"{SPEC_FILE}: must be a regular file, not a symlink")
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BundleError(f"{SPEC_FILE}: not valid UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise BundleError(f"{SPEC_FILE}: {exc}") from None


def _command(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise BundleError(f"{SPEC_FILE}: `command` must be an argv list such as [\"sh\", \"run.sh\"], not a shell string")
    if not isinstance(value, list) or not value or not all(isinstance(a, str) for a in value):
        raise BundleError(f"{SPEC_FILE}: `command` must be a non-empty list of strings")
    if any("\0" in a for a in value):
        raise BundleError(f"{SPEC_FILE}: `command` arguments cannot contain NUL characters")
    if value[0].startswith("-") or not value[0] or "=" in value[0]:
        raise BundleError(f"{SPEC_FILE}: `command` must start with a program, not {value[0]!r}")
    return tuple(value)


def _env(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BundleError(f"{SPEC_FILE}: `env` must be a table of NAME = \"value\"")
    for key, val in value.items():
        if not _ENV_NAME.match(key):
            raise BundleError(f"{SPEC_FILE}: environment variable name {key!r} is not valid")
        if not isinstance(val, str) or "\0" in val:
            raise BundleError(f"{SPEC_FILE}: environment variable {key} must be a string")
    return dict(value)


def _recipe(folder: Path, chosen: Any) -> tuple[str | None, RecipeKind | None]:
    if chosen is not None:
        if not isinstance(chosen, str) or not (folder / chosen).is_file() or (folder / chosen).is_symlink():
            raise BundleError(f"{SPEC_FILE}: recipe {chosen!r} is not a file of the job")
        return chosen, _kind_of(chosen)
    found = sorted(p.name for p in folder.iterdir()
                   if p.is_file() and not p.is_symlink() and _kind_of(p.name) is not None)
    if len(found) > 1:
        raise BundleError(f"more than one recipe ({', '.join(found)}): pick one with recipe = \"...\" in {SPEC_FILE}")
    return (found[0], _kind_of(found[0])) if found else (None, None)


def _kind_of(filename: str) -> RecipeKind | None:
    base = Path(filename).name
    if base == "Dockerfile" or base.endswith(".Dockerfile"):
        return "dockerfile"
    if base == "Singularity" or base.endswith(".def"):
        return "singularity"
    return None
