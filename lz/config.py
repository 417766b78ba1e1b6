"""Typed settings, built once: defaults < config file < environment (LZ_*) < command-line flags.

Two axes that the original product's ``--container`` flag mixed are kept apart here: the
``executor`` (where a job runs: ``local`` or ``slurm``) and the ``runtime`` (what it runs in).
``container`` is still accepted everywhere with its old meaning: ``slurm`` picks the executor,
any runtime name picks the local executor with that runtime.

Every value is checked against its type when it is read; a wrong one is one line naming the key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lz.core.choices import CONTAINERS, EXECUTORS, RUNTIMES
from lz.core.errors import ConfigError, UserError
from lz.core.resources import Limits, parse_memory, parse_time
from lz.core.retry import DEFAULT_RETRY_ON, RetryPolicy, check_cause
from lz.core.value_class import field, fields, replace, value_class
from lz.slurm.settings import SlurmSettings

if TYPE_CHECKING:  # imported where a configuration has them (``lz submit``'s imports, issue 23)
    from lz.core.volumes import Volume


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ["HOME"]) if environ.get("HOME") else Path.home()


def default_db(environ: Mapping[str, str] = os.environ) -> Path:
    state_home = environ.get("XDG_STATE_HOME") or str(_home(environ) / ".local" / "state")
    return Path(state_home) / "lz" / "lz.db"


def default_work_root(environ: Mapping[str, str] = os.environ) -> Path:
    """$TMPDIR, else $TEMP, else $TMP, else /tmp, as the original product did."""
    for name in ("TMPDIR", "TEMP", "TMP"):
        if environ.get(name):
            return Path(environ[name])
    return Path("/tmp")


def default_config_file(environ: Mapping[str, str] = os.environ) -> Path:
    config_home = environ.get("XDG_CONFIG_HOME") or str(_home(environ) / ".config")
    return Path(config_home) / "lz" / "config.toml"


@value_class
class Settings:
    """The landing zone's settings, each field's meaning in its ``help`` (the configuration reference)."""

    name: str = field(default="lz", metadata={"help":
        "Name of this landing zone (letters, digits, `-_.`); shown by `lz status` and to a hub."})
    executor: str = field(default="local", metadata={"help":
        "Where jobs run: `local` (this machine) or `slurm` (submitted with sbatch)."})
    runtime: str = field(default="auto", metadata={"help":
        "What jobs run in: `apptainer`, `singularity`, `charliecloud`, `none` or `auto` (the first "
        "installed)."})
    db: Path = field(default_factory=default_db, metadata={"help":
        "The SQLite database; the spool, the results store and the lock live beside it."})
    workdir: Path = field(default_factory=default_work_root, metadata={"help":
        "The work root: one directory per job while it runs (on the shared filesystem under SLURM)."})
    tick_s: float = field(default=5.0, metadata={"help": "Seconds between two ticks of the daemon."})
    observe_interval_s: float = field(default=5.0, metadata={"help":
        "Longest time between two status queries (`squeue`) while jobs are out (never less than the tick); "
        "three times that behind a backed-up queue, less as it drains (lz.engine.watcher)."})
    observe_min_interval_s: float = field(default=2.0, metadata={"help":
        "Least time between two status queries, wake-ups or not: after a submission or a change in "
        "the queue the next query comes this soon, then the gaps double up to `observe_interval_s`."})
    usage_interval_s: float = field(default=30.0, metadata={"help": "Seconds between two usage queries (`sstat`)."})
    backoff_max_s: float = field(default=60.0, metadata={"help":
        "Longest wait between tries while the controller does not answer."})
    workers: int = field(default=4, metadata={"help": "Parallel builds and parallel collections."})
    local_slots: int = field(default=0, metadata={"help":
        "Jobs the local executor runs at once; 0 means the number of CPUs."})
    hub: str = field(default="", metadata={"help":
        "A hub to take jobs from too (`lz run --hub URL`): the landing zone registers, claims and reports. "
        "`https://` (certificates verified; a site CA through `REQUESTS_CA_BUNDLE`), or `http://` to loopback only."})
    allow_insecure_hub: bool = field(default=False, metadata={"help":
        "Let clients and `lz run` use a plain `http://` hub on another machine (`--allow-insecure-hub`): "
        "its token and jobs travel unencrypted. For a closed test network only."})
    # unset: $XDG_CONFIG_HOME/lz/token
    token_file: str = field(default="", metadata={"help":
        "The hub token file (mode 0600); `none` keeps the token in memory only."})
    max_running: int = field(default=0, metadata={"help": "Hub jobs this landing zone runs at once; 0 means its CPUs."})
    gpus: int = field(default=-1, metadata={"help":
        "GPUs this landing zone offers local jobs; -1 means the NVIDIA devices found in /dev."})
    pilot_margin_s: float = field(default=60.0, metadata={"help":
        "Inside a SLURM allocation (a pilot): claim only jobs whose time limit ends at least this long before "
        "the allocation does."})
    job_prefix: str = field(default="lz-", metadata={"help":
        "SLURM job names and work directories are `<prefix><job id>`."})
    submit_grace_s: float = field(default=30.0, metadata={"help":
        "After a restart, how long a job whose submission was begun but never confirmed may stay "
        "invisible to the scheduler before it is submitted again (at least three ticks)."})
    lost_after_s: float = field(default=120.0, metadata={"help":
        "A submitted job the scheduler and the disk have not known for this long is lost (never resubmitted)."})
    retries: int = field(default=0, metadata={"help":
        "Attempts a job may have after its first, unless its `lz.toml` says `retries` (0: a failure is final)."})
    retry_on: tuple[str, ...] = field(default=DEFAULT_RETRY_ON, metadata={"help":
        "What earns a job another attempt, unless its `lz.toml` says `retry_on`: `node_fail`, `preempted`, "
        "`requeued`, `timeout`, `lost`, `exit:CODE`, `exit:any`."})
    retry_backoff_s: float = field(default=10.0, metadata={"help":
        "Seconds before a job's second attempt is submitted; each later one waits twice as long."})
    retry_backoff_max_s: float = field(default=600.0, metadata={"help":
        "The longest wait between two attempts of a job."})
    retention_days: float = field(default=30.0, metadata={"help": "Days results are kept after a job is cleaned."})
    build_timeout_s: float = field(default=3600.0, metadata={"help": "Seconds a container build may take."})
    stop_grace_s: float = field(default=60.0, metadata={"help":
        "On SIGTERM, seconds running steps may take to finish before the daemon exits (the systemd unit's "
        "TimeoutStopSec is this plus 30)."})
    busy_timeout_s: float = field(default=30.0, metadata={"help":
        "How long a database write waits for another process's lock before the step is put off."})
    max_bundle_bytes: int = field(default=1 << 30, metadata={"help":
        "Largest job folder or archive intake accepts, in bytes (expanded size)."})
    max_bundle_files: int = field(default=100_000, metadata={"help": "Most files a job folder or archive may hold."})
    results_max_bytes: int = field(default=10 * 2**30, metadata={"help":
        "Most bytes one job returns (apparent sizes); what does not fit is listed in the manifest as skipped."})
    results_max_files: int = field(default=100_000, metadata={"help":
        "Most entries one job returns; the rest is listed in the manifest as skipped."})
    max_array_tasks: int = field(default=10_000, metadata={"help":
        "Most tasks one array job (`--array`) may have; its indices run from 0 to this less one. SLURM's own "
        "MaxArraySize (1001 by default) applies too."})
    notify_per_minute: int = field(default=10, metadata={"help":
        "Notifications one job may send a minute through `$LZ_NOTIFY` (a burst of this many); the rest is dropped with a note."})
    notify_tcp: str = field(default="", metadata={"help":
        "`HOST:PORT` where the daemon listens for jobs' notifications over TCP (the original's `$LZ_NOTIFY=host:port`, "
        "for jobs on nodes that cannot reach its FIFO); jobs get `$LZ_NOTIFY=HOST:PORT` and their own "
        "`$LZ_NOTIFY_TOKEN` (HOST `0.0.0.0`: every interface, jobs told this host's name). Empty: the FIFO only."})
    allow_pull: bool = field(default=False, metadata={"help":
        "Let builds pull base images from a registry (default: only the offline `[images]` catalogue)."})
    group_access: bool = field(default=False, metadata={"help":
        "Directories 0750 and files 0640 instead of 0700 and 0600, for a gateway shared by a group."})
    metrics: str = field(default="", metadata={"help":
        "`HOST:PORT` where `lz run` serves Prometheus metrics at `/metrics` (empty: none)."})
    limits: Limits = field(default_factory=Limits, metadata={"help":
        "`[limits]`: the most one job may ask for (`cpus` of all its tasks, `memory`, `gpus`, `time`, `partitions`, `nodes`)."})
    images: Mapping[str, str] = field(default_factory=dict, metadata={"help":
        "`[images]`: the offline base-image catalogue, name = root filesystem directory, tarball or SIF."})
    apptainer_sandbox: bool = field(default=False, metadata={"help":
        "`[apptainer] sandbox`: build writable sandbox directories instead of SIF files (sites without "
        "squashfuse or loop devices)."})
    slurm: SlurmSettings = field(default_factory=SlurmSettings, metadata={"help":
        "`[slurm]`: how jobs are submitted (see below)."})
    hub_volume_roots: tuple[str, ...] = field(default=(), metadata={"help":
        "Where a hub's Station volumes may bind host paths on this landing zone: `PATH` (read-only) or "
        "`PATH:rw` entries (`LZ_HUB_VOLUME_ROOTS=/srv/data,/scratch:rw`). Empty: no hub volume is bound. "
        "The zone's home, state and token folders are never bound, whatever is listed."})
    volumes: tuple[Volume, ...] = field(default=(), metadata={"help":
        "`[volumes.NAME]` `host_path`, `mount`, `access` (`ro` or `rw`): a host directory bound into every "
        "job at `mount` (outside `/lz/work`, never collected); with runtime `none` it is `LZ_VOLUME_<NAME>`."})

    @property
    def state_dir(self) -> Path:
        """Where the spool, the results store and the lock live: beside the database (its real
        path: one database reached through two symlinked paths still has one lock)."""
        return Path(os.path.realpath(self.db)).parent

    @property
    def spool_dir(self) -> Path:
        return self.state_dir / "spool"

    @property
    def results_dir(self) -> Path:
        return self.state_dir / "results"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "lz.pid"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "lz.lock"

    @property
    def umask(self) -> int:
        """Files lz writes are private to its user, or shared with its group when configured."""
        return 0o027 if self.group_access else 0o077

    @property
    def retry_policy(self) -> RetryPolicy:
        """What a job whose ``lz.toml`` says nothing of retries gets."""
        return RetryPolicy(self.retries, tuple(self.retry_on))

    @property
    def container(self) -> str:
        """The original product's single axis: ``slurm``, or the local runtime."""
        return "slurm" if self.executor == "slurm" else self.runtime


# what the settings that are no field mean (each field's own sits in its metadata, "help")
DERIVED_HELP = {
    "container": "The original product's single flag: `slurm`, or a runtime name (which means the local executor).",
}


# name -> type of every scalar setting (also the environment's LZ_<NAME>)
_SCALARS: dict[str, type] = {
    "name": str, "executor": str, "runtime": str, "db": Path, "workdir": Path, "tick_s": float,
    "observe_interval_s": float, "observe_min_interval_s": float, "usage_interval_s": float, "backoff_max_s": float, "workers": int,
    "local_slots": int, "hub": str, "allow_insecure_hub": bool, "token_file": str, "max_running": int, "gpus": int, "pilot_margin_s": float, "job_prefix": str, "submit_grace_s": float, "lost_after_s": float, "retention_days": float,
    "retries": int, "retry_on": tuple, "retry_backoff_s": float, "retry_backoff_max_s": float,
    "build_timeout_s": float, "stop_grace_s": float, "busy_timeout_s": float, "max_bundle_bytes": int, "max_bundle_files": int, "results_max_bytes": int, "results_max_files": int,
    "max_array_tasks": int, "notify_per_minute": int, "notify_tcp": str,
    "allow_pull": bool,
    "group_access": bool, "metrics": str,
    "apptainer_sandbox": bool, "hub_volume_roots": tuple,
}
_SLURM: dict[str, type] = {
    "account": str, "qos": str, "partition": str, "extra_sbatch_args": tuple, "gpu_flag": str,
    "command_timeout_s": float, "user": str, "mpi": str,
}
# older names, still read: the file's short forms, and settings that moved out of [slurm]
_ALIASES = {"tick": "tick_s", "build_timeout": "build_timeout_s", "observe_interval": "observe_interval_s"}
_MOVED_FROM_SLURM = {"job_prefix": "job_prefix", "lost_after_s": "lost_after_s",
                     "sstat_interval_s": "usage_interval_s", "backoff_max_s": "backoff_max_s"}


SCALAR_TYPES, SLURM_TYPES, SHORT_NAMES = _SCALARS, _SLURM, _ALIASES
"""Public names of the tables above (for the configuration reference)."""


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge the layers; a missing default config file is fine, a missing named one is an error."""
    return load_settings_with_sources(config_file, environ, flags)[0]


def load_settings_with_sources(
    config_file: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    flags: Mapping[str, Any] | None = None,
) -> tuple[Settings, dict[str, str]]:
    """The settings, and where each top-level value came from (``lz config show``): ``default``,
    ``file PATH``, ``environment LZ_NAME`` or ``flag --name``; a setting not named is a default."""
    values: dict[str, Any] = {"db": default_db(environ), "workdir": default_work_root(environ)}
    sources: dict[str, str] = {}
    path = config_file or Path(environ.get("LZ_CONFIG") or default_config_file(environ))
    if path.exists():
        layer = _from_file(path)
        values.update(layer)
        sources.update(dict.fromkeys(layer, f"file {path}"))
    elif config_file is not None or environ.get("LZ_CONFIG"):
        raise ConfigError(f"config file {path} does not exist")
    env_names: dict[str, str] = {}
    values.update(_from_env(environ, env_names))
    sources.update({key: f"environment {name}" for key, name in env_names.items()})
    for key, value in _container_last(flags or {}):
        if value is not None:
            layer = _layer_value(key, _coerce(f"--{key.replace('_', '-')}", _SCALARS.get(key), value))
            values.update(layer)
            sources.update(dict.fromkeys(layer, f"flag --{key.replace('_', '-').removesuffix('-s')}"))
    settings = Settings(**values)
    _validate(settings)
    return settings, sources


def _container_last(layer: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Within one layer ``container`` is applied last: ``container = "none"`` means the local
    runtime none whatever ``runtime`` says (the original meaning: runtime counts under slurm)."""
    return sorted(layer.items(), key=lambda item: item[0] == "container")


def _layer_value(key: str, value: Any) -> dict[str, Any]:
    """One layer's value; ``container`` becomes executor (and runtime)."""
    if key != "container":
        return {key: value}
    if value not in CONTAINERS:
        raise ConfigError(f"container {value!r} is not one of {', '.join(CONTAINERS)}")
    return {"executor": "slurm"} if value == "slurm" else {"executor": "local", "runtime": value}


def _from_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise ConfigError(f"{path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    values: dict[str, Any] = {}
    for key, value in _container_last({_ALIASES.get(k, k): v for k, v in data.items()}):
        if key in _SCALARS or key == "container":
            values.update(_layer_value(key, _coerce(f"{path}: {key}", _SCALARS.get(key, str), value)))
        elif key == "images":
            values["images"] = {str(k): _coerce(f"{path}: [images] {k}", str, v) for k, v in _table(path, key, value).items()}
        elif key == "limits":
            values["limits"] = _limits(path, _table(path, key, value))
        elif key == "slurm":
            slurm, moved = _slurm(path, _table(path, key, value))
            values["slurm"] = slurm
            values.update({k: v for k, v in moved.items() if k not in values})
        elif key == "apptainer":
            values.update(_apptainer(path, _table(path, key, value)))
        elif key == "volumes":
            from lz.core.volumes import from_config as volumes_from_config

            try:
                values["volumes"] = volumes_from_config(_table(path, key, value))
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from None
        else:
            raise ConfigError(f"{path}: unknown setting {key!r}")
    return values


def _from_env(environ: Mapping[str, str], names: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``LZ_*`` layer; ``names`` gets the variable each setting was read from."""
    values: dict[str, Any] = {}
    for key in (*_SCALARS, "container"):
        name = f"LZ_{key.upper()}"
        value = environ.get(name)
        if value is None and key.endswith("_s"):
            name = f"LZ_{key[:-2].upper()}"
            value = environ.get(name)
        if value:
            layer = _layer_value(key, _coerce(name, _SCALARS.get(key, str), value))
            values.update(layer)
            if names is not None:
                names.update(dict.fromkeys(layer, name))
    return values


def _coerce(where: str, kind: type | None, value: Any) -> Any:
    """``value`` as ``kind``; strings (environment, flags) are parsed, file values must fit."""
    if kind is None:
        return value
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return value.lower() in ("1", "true", "yes", "on")
            raise ValueError
        if kind is tuple:
            if isinstance(value, str):  # the environment and flags: comma-separated
                return tuple(v.strip() for v in value.split(",") if v.strip())
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError
        if kind is Path:
            if not isinstance(value, (str, Path)):
                raise ValueError
            return Path(value).expanduser()
        if kind is str:
            if not isinstance(value, str):
                raise ValueError
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError
        if kind is int and isinstance(value, float):
            raise ValueError
        if isinstance(value, str) and not value.strip().isascii():
            raise ValueError
        number = kind(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError
        return number
    except (TypeError, ValueError, OverflowError):
        expected = {bool: "true or false", tuple: "a list of strings", Path: "a path", str: "a string",
                    int: "a whole number", float: "a number"}[kind]
        raise ConfigError(f"{where}: {value!r} is not {expected}") from None


def bool_from_env(name: str, environ: Mapping[str, str] = os.environ) -> bool:
    """One boolean variable read as the settings read it (unset: false; a wrong value: one line)."""
    return bool(_coerce(name, bool, environ.get(name) or "false"))


def _table(path: Path, key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{key}] must be a table")
    return value


def _limits(path: Path, raw: Mapping[str, Any]) -> Limits:
    known = {"cpus", "memory", "gpus", "time", "partitions", "nodes"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{path}: unknown limit {key!r} (known: {', '.join(sorted(known))})")
    try:
        return Limits(
            max_cpus=_coerce(f"{path}: [limits] cpus", int, raw["cpus"]) if "cpus" in raw else None,
            max_memory_mb=parse_memory(raw["memory"]) if "memory" in raw else None,
            max_gpus=_coerce(f"{path}: [limits] gpus", int, raw["gpus"]) if "gpus" in raw else None,
            max_time_s=parse_time(raw["time"]) if "time" in raw else None,
            partitions=_coerce(f"{path}: [limits] partitions", tuple, raw["partitions"]) if "partitions" in raw else None,
            max_nodes=_coerce(f"{path}: [limits] nodes", int, raw["nodes"]) if "nodes" in raw else None,
        )
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path}: [limits] {exc}") from None


def _slurm(path: Path, raw: Mapping[str, Any]) -> tuple[SlurmSettings, dict[str, Any]]:
    values: dict[str, Any] = {}
    moved: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _MOVED_FROM_SLURM:
            target = _MOVED_FROM_SLURM[key]
            moved[target] = _coerce(f"{path}: [slurm] {key}", _SCALARS[target], value)
        elif key in _SLURM:
            values[key] = _coerce(f"{path}: [slurm] {key}", _SLURM[key], value)
        else:
            raise ConfigError(f"{path}: unknown [slurm] setting {key!r}")
    return SlurmSettings(**values), moved


def _apptainer(path: Path, raw: Mapping[str, Any]) -> dict[str, Any]:
    """``[apptainer] sandbox = true``: for sites whose nodes cannot mount SIF files (no squashfuse,
    no loop devices)."""
    for key in raw:
        if key != "sandbox":
            raise ConfigError(f"{path}: unknown [apptainer] setting {key!r} (known: sandbox)")
    return {"apptainer_sandbox": _coerce(f"{path}: [apptainer] sandbox", bool, raw["sandbox"])} if "sandbox" in raw else {}


def _validate(settings: Settings) -> None:
    if settings.executor not in EXECUTORS:
        raise ConfigError(f"executor {settings.executor!r} is not one of {', '.join(EXECUTORS)}")
    if settings.runtime not in RUNTIMES:
        raise ConfigError(f"runtime {settings.runtime!r} is not one of {', '.join(RUNTIMES)}")
    for name in ("tick_s", "observe_interval_s", "observe_min_interval_s", "usage_interval_s", "backoff_max_s", "lost_after_s",
                 "submit_grace_s", "build_timeout_s", "stop_grace_s"):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{name} must be positive")
    if settings.hub:
        from lz.hub.protocol.transport import check_hub_url

        check_hub_url(settings.hub, settings.allow_insecure_hub)
    if settings.metrics:
        from lz.metrics.address import parse_address

        parse_address(settings.metrics, "metrics")
    if settings.notify_per_minute < 1:
        raise ConfigError("notify_per_minute must be at least 1")
    if settings.notify_tcp:
        from lz.metrics.address import parse_address

        parse_address(settings.notify_tcp, "notify_tcp")
    if settings.workers < 1 or settings.local_slots < 0:
        raise ConfigError("workers must be at least 1 and local_slots not negative")
    if not settings.name or any(not (c.isascii() and (c.isalnum() or c in "-_.")) for c in settings.name):
        raise ConfigError(f"landing zone name {settings.name!r} may hold only letters, digits, - _ .")
    if not settings.job_prefix or any(not (c.isascii() and (c.isalnum() or c in "-_.")) for c in settings.job_prefix):
        raise ConfigError(f"job_prefix {settings.job_prefix!r} may hold only letters, digits, - _ .")
    if not 0 <= settings.retries <= 100 or settings.retry_backoff_s < 0 or settings.retry_backoff_max_s < 0:
        raise ConfigError("retries must be 0 to 100 and the retry back-offs not negative")
    for cause in settings.retry_on:
        try:
            check_cause(cause, "retry_on")
        except UserError as exc:
            raise ConfigError(str(exc)) from None


def setting_names() -> list[str]:
    """Every top-level setting, for docs and ``lz config`` (the class is the reference)."""
    return [f.name for f in fields(Settings)]


__all__ = ["CONTAINERS", "EXECUTORS", "RUNTIMES", "Settings", "SlurmSettings", "load_settings",
           "load_settings_with_sources", "replace"]
