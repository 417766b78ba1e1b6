"""Typed settings, built once: defaults < config file < environment (LZ_*) < command-line flags."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from lz.errors import ConfigError
from lz.layout import default_work_root
from lz.resources import Limits, parse_memory, parse_time

CONTAINERS = ("slurm", "apptainer", "singularity", "charliecloud", "none", "auto")
RUNTIMES = ("apptainer", "singularity", "charliecloud", "none", "auto")


def default_db(environ: Mapping[str, str] = os.environ) -> Path:
    state_home = environ.get("XDG_STATE_HOME") or str(_home(environ) / ".local" / "state")
    return Path(state_home) / "lz" / "lz.db"


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ["HOME"]) if environ.get("HOME") else Path.home()


def default_config_file(environ: Mapping[str, str] = os.environ) -> Path:
    config_home = environ.get("XDG_CONFIG_HOME") or str(_home(environ) / ".config")
    return Path(config_home) / "lz" / "config.toml"


@dataclass(frozen=True)
class SlurmSettings:
    job_prefix: str = "lz-"
    account: str | None = None
    qos: str | None = None
    partition: str | None = None
    extra_sbatch_args: tuple[str, ...] = ()
    gpu_flag: str = "gpus"  # "gpus" -> --gpus=N, "gres" -> --gres=gpu:N
    command_timeout_s: float = 30.0
    sstat_interval_s: float = 30.0
    backoff_max_s: float = 60.0
    lost_after_s: float = 120.0


@dataclass(frozen=True)
class Settings:
    name: str = "lz"
    container: str = "auto"  # where jobs run: slurm, or a runtime name for the local executor
    runtime: str = "auto"  # the container runtime under --container slurm
    db: Path = field(default_factory=default_db)
    workdir: Path = field(default_factory=default_work_root)
    tick_s: float = 5.0
    workers: int = 4
    local_slots: int = 0  # jobs the local executor runs at once; 0 = number of CPUs
    retention_days: float = 30.0
    build_timeout_s: float = 3600.0
    max_bundle_bytes: int = 1 << 30
    max_bundle_files: int = 100_000
    limits: Limits = field(default_factory=Limits)
    images: Mapping[str, str] = field(default_factory=dict)
    allow_pull: bool = False
    apptainer_sandbox: bool = False  # [apptainer] sandbox: writable directories instead of SIF files
    slurm: SlurmSettings = field(default_factory=SlurmSettings)

    @property
    def state_dir(self) -> Path:
        """Where the spool and the results store live: beside the database, not in the work root."""
        return self.db.parent

    @property
    def spool_dir(self) -> Path:
        return self.state_dir / "spool"

    @property
    def results_dir(self) -> Path:
        return self.state_dir / "results"

    @property
    def pid_file(self) -> Path:
        return self.state_dir / "lz.pid"


_SCALARS: dict[str, type] = {
    "name": str,
    "container": str,
    "runtime": str,
    "db": Path,
    "workdir": Path,
    "tick_s": float,
    "workers": int,
    "local_slots": int,
    "retention_days": float,
    "build_timeout_s": float,
    "max_bundle_bytes": int,
    "max_bundle_files": int,
    "allow_pull": bool,
    "apptainer_sandbox": bool,
}
_FILE_ALIASES = {"tick": "tick_s", "build_timeout": "build_timeout_s"}


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge the layers; a missing default config file is fine, a missing named one is an error."""
    settings = Settings(db=default_db(environ), workdir=default_work_root(environ))
    path = config_file or Path(environ.get("LZ_CONFIG") or default_config_file(environ))
    if path.exists():
        settings = _apply_file(settings, path)
    elif config_file is not None or environ.get("LZ_CONFIG"):
        raise ConfigError(f"config file {path} does not exist")
    settings = _apply_env(settings, environ)
    if flags:
        settings = replace(settings, **{k: _coerce(k, v) for k, v in flags.items() if v is not None})
    _validate(settings)
    return settings


def _apply_file(settings: Settings, path: Path) -> Settings:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    changes: dict[str, Any] = {}
    for key, value in data.items():
        key = _FILE_ALIASES.get(key, key)
        if key in _SCALARS:
            changes[key] = _coerce(key, value)
        elif key == "images":
            changes["images"] = {str(k): str(v) for k, v in _table(path, key, value).items()}
        elif key == "limits":
            changes["limits"] = _limits(path, _table(path, key, value))
        elif key == "slurm":
            changes["slurm"] = _slurm(path, _table(path, key, value))
        elif key == "apptainer":
            changes.update(_apptainer(path, _table(path, key, value)))
        else:
            raise ConfigError(f"{path}: unknown setting {key!r}")
    return replace(settings, **changes)


def _apply_env(settings: Settings, environ: Mapping[str, str]) -> Settings:
    changes = {}
    for key in _SCALARS:
        value = environ.get(f"LZ_{key.upper()}")
        if value is None and key.endswith("_s"):
            value = environ.get(f"LZ_{key[:-2].upper()}")
        if value:
            changes[key] = _coerce(key, value)
    return replace(settings, **changes)


def _coerce(key: str, value: Any) -> Any:
    kind = _SCALARS.get(key)
    if kind is None:
        return value
    try:
        if kind is bool and isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
        if kind is Path:
            return Path(value).expanduser()
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {key}: {value!r} is not a {kind.__name__}") from None


def _table(path: Path, key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{key}] must be a table")
    return value


def _limits(path: Path, raw: Mapping[str, Any]) -> Limits:
    known = {"cpus", "memory", "gpus", "time", "partitions"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{path}: unknown limit {key!r} (known: {', '.join(sorted(known))})")
    return Limits(
        max_cpus=int(raw["cpus"]) if "cpus" in raw else None,
        max_memory_mb=parse_memory(raw["memory"]) if "memory" in raw else None,
        max_gpus=int(raw["gpus"]) if "gpus" in raw else None,
        max_time_s=parse_time(raw["time"]) if "time" in raw else None,
        partitions=tuple(raw["partitions"]) if "partitions" in raw else None,
    )


def _slurm(path: Path, raw: Mapping[str, Any]) -> SlurmSettings:
    names = {f.name for f in fields(SlurmSettings)}
    changes: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in names:
            raise ConfigError(f"{path}: unknown [slurm] setting {key!r}")
        changes[key] = tuple(value) if key == "extra_sbatch_args" else value
    return replace(SlurmSettings(), **changes)


def _apptainer(path: Path, raw: Mapping[str, Any]) -> dict[str, Any]:
    """``[apptainer] sandbox = true``: for sites whose nodes cannot mount SIF files (no squashfuse,
    no loop devices)."""
    for key in raw:
        if key != "sandbox":
            raise ConfigError(f"{path}: unknown [apptainer] setting {key!r} (known: sandbox)")
    return {"apptainer_sandbox": _coerce("apptainer_sandbox", raw["sandbox"])} if "sandbox" in raw else {}


def _validate(settings: Settings) -> None:
    if settings.container not in CONTAINERS:
        raise ConfigError(f"container {settings.container!r} is not one of {', '.join(CONTAINERS)}")
    if settings.runtime not in RUNTIMES:
        raise ConfigError(f"runtime {settings.runtime!r} is not one of {', '.join(RUNTIMES)}")
    if settings.tick_s <= 0 or settings.workers < 1:
        raise ConfigError("tick must be positive and workers at least 1")
    if not settings.name or any(not (c.isalnum() or c in "-_.") for c in settings.name):
        raise ConfigError(f"landing zone name {settings.name!r} may hold only letters, digits, - _ .")
