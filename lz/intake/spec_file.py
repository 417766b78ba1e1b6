"""Reading a job's ``lz.toml`` and finding its recipe (pure apart from reading the folder)."""

from __future__ import annotations

import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from lz.core.errors import BundleError, ResourceError, printable
from lz.core.job import JobSpec, RecipeKind
from lz.core.resources import Limits, Resources, check_limits, parse_resources
from lz.core.retry import RetryPolicy, parse_policy
from lz.host.fs import special_kind

if TYPE_CHECKING:
    from lz.core.dependencies import Dependency

SPEC_FILE = "lz.toml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"  # compiled on first use (re's cache): most jobs set no env
_TOP_KEYS = {"name", "command", "env", "resources", "recipe", "array", "retries", "retry_on", "after", "ports"}
MAX_SPEC_BYTES = 1 << 20  # lz.toml and the recipe: both are read whole


def load_spec(
    folder: Path,
    *,
    name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    limits: Limits | None = None,
    require_command: bool = True,
    max_array_tasks: int | None = None,
    retry_default: RetryPolicy | None = None,
    defaults: Resources | None = None,
) -> JobSpec:
    """The job described by ``folder`` (an already staged, validated copy). ``retry_default``:
    the landing zone's policy for a job whose ``lz.toml`` has no ``retries``/``retry_on``;
    ``defaults``: the resources it starts from before its ``[resources]`` and the flags (a hub
    template's); ``max_array_tasks``: the most tasks of an array (None: ``lz.core.array``'s default)."""
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
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    array = _array(flags.pop("array", data.get("array")), max_array_tasks)
    try:
        resources = parse_resources(raw_resources, base=defaults)
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
    retry = parse_policy(data.get("retries"), data.get("retry_on"), retry_default or RetryPolicy(), SPEC_FILE)
    return JobSpec(name=job_name, command=command, recipe=recipe, recipe_kind=kind, resources=resources, env=env,
                   array=array, retry=retry, after=_after(data.get("after")), ports=_ports(data.get("ports")))


def _array(value: Any, max_tasks: int | None) -> str | None:
    """A sweep's indices (``--array`` or ``array = "0-99%10"``), kept in sbatch's canonical spelling."""
    if value is None:
        return None
    from lz.core.array import DEFAULT_MAX_TASKS, parse_array  # here: a job that is no sweep never needs it

    try:
        return str(parse_array(value, max_tasks=DEFAULT_MAX_TASKS if max_tasks is None else max_tasks))
    except ResourceError as exc:
        raise ResourceError(f"{SPEC_FILE} or --array: {exc}") from None


def _after(value: Any) -> tuple[Dependency, ...]:
    """``after = ["JOB", "JOB:any"]``: the ids are checked against the store at intake."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BundleError(f"{SPEC_FILE}: `after` must be a list such as [\"1a2b3c\", \"4d5e6f:any\"]")
    from lz.core.dependencies import parse_all  # here: most jobs wait for none

    return parse_all(value)


MAX_PORTS = 16


def _ports(value: Any) -> tuple[int, ...]:
    """``ports = [8888]``: TCP ports the job serves while it runs, which a hub may open to the
    Station's members (``/jobs/ID/port/8888/``); sorted, each once."""
    if value is None:
        return ()
    if (not isinstance(value, list) or len(value) > MAX_PORTS
            or not all(type(p) is int and 1 <= p <= 65535 for p in value)):
        raise BundleError(f"{SPEC_FILE}: `ports` must be a list of at most {MAX_PORTS} TCP ports such as [8888]")
    return tuple(sorted(set(value)))


def _read_toml(folder: Path) -> dict[str, Any]:
    """Parse the file; every way it can be wrong (a directory, huge, nested past Python's
    recursion limit, a number of thousands of digits) is one line, never a traceback."""
    path = folder / SPEC_FILE
    try:
        st = path.lstat()
    except FileNotFoundError:
        return {}
    if not stat.S_ISREG(st.st_mode):
        raise BundleError(f"{SPEC_FILE}: must be a regular file, not a {_kind_word(st.st_mode)}")
    if st.st_size > MAX_SPEC_BYTES:
        raise BundleError(f"{SPEC_FILE}: larger than {MAX_SPEC_BYTES >> 20} MiB ({st.st_size} bytes)")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BundleError(f"{SPEC_FILE}: not valid UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise BundleError(f"{SPEC_FILE}: {exc}") from None
    except RecursionError:
        raise BundleError(f"{SPEC_FILE}: nested too deeply (arrays or tables inside each other)") from None
    except ValueError:  # tomllib lets int()'s digit limit through
        raise BundleError(f"{SPEC_FILE}: a number too long to read") from None


def _kind_word(mode: int) -> str:
    return "directory" if stat.S_ISDIR(mode) else "symlink" if stat.S_ISLNK(mode) else special_kind(mode) + " file"


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
        if not re.match(_ENV_NAME, key):
            raise BundleError(f"{SPEC_FILE}: environment variable name {key!r} is not valid")
        if not isinstance(val, str) or "\0" in val:
            raise BundleError(f"{SPEC_FILE}: environment variable {key} must be a string")
    return dict(value)


def _recipe(folder: Path, chosen: Any) -> tuple[str | None, RecipeKind | None]:
    if chosen is not None:
        recipe = _chosen_recipe(folder, chosen)
    else:
        found = sorted(p.name for p in folder.iterdir()
                       if p.is_file() and not p.is_symlink() and _kind_of(p.name) is not None)
        if len(found) > 1:
            raise BundleError(f"more than one recipe ({', '.join(found)}): pick one with recipe = \"...\" in {SPEC_FILE}")
        if not found:
            return None, None
        recipe = found[0]
    size = (folder / recipe).lstat().st_size
    if size > MAX_SPEC_BYTES:
        raise BundleError(f"{printable(recipe)}: a recipe larger than {MAX_SPEC_BYTES >> 20} MiB ({size} bytes)")
    return recipe, _kind_of(recipe)


def _chosen_recipe(folder: Path, chosen: Any) -> str:
    """A relative name of a regular file inside the folder, reached through no symlink: the
    recipe is read at intake and at build time, so a name that leaves the folder would read a
    host file (and the errors about it would tell its content)."""
    bad = BundleError(f"{SPEC_FILE}: recipe {printable(str(chosen))!r} must name a file of the job folder "
                      "(a relative path, no '..', no symlinks)")
    if not isinstance(chosen, str) or not chosen or "\0" in chosen or chosen.startswith("/"):
        raise bad
    parts = [p for p in PurePosixPath(chosen).parts if p != "."]
    if not parts or ".." in parts:
        raise bad
    current = folder
    for i, part in enumerate(parts):
        current = current / part
        try:
            mode = current.lstat().st_mode
        except OSError:
            raise bad from None
        last = i == len(parts) - 1
        if not (stat.S_ISREG(mode) if last else stat.S_ISDIR(mode)):
            raise bad
    return "/".join(parts)


def _kind_of(filename: str) -> RecipeKind | None:
    base = Path(filename).name
    if base == "Dockerfile" or base.endswith(".Dockerfile"):
        return "dockerfile"
    if base == "Singularity" or base.endswith(".def"):
        return "singularity"
    return None
