"""What every setting means, and the two views built from it: ``lz config show`` (the effective
value of each setting and where it came from) and ``docs/configuration.md`` (the reference, from
the settings' own types and defaults; a test fails when it drifts, or when a setting has no line
here)."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

from lz.config import SCALAR_TYPES as _SCALARS
from lz.config import SHORT_NAMES as _ALIASES
from lz.config import SLURM_TYPES as _SLURM
from lz.config import Settings
from lz.core.resources import Limits
from lz.slurm.settings import SlurmSettings

DESCRIPTIONS: dict[str, str] = {
    "name": "Name of this landing zone (letters, digits, `-_.`); shown by `lz status` and to a hub.",
    "executor": "Where jobs run: `local` (this machine) or `slurm` (submitted with sbatch).",
    "runtime": "What jobs run in: `apptainer`, `singularity`, `charliecloud`, `none` or `auto` (the first installed).",
    "container": "The original product's single flag: `slurm`, or a runtime name (which means the local executor).",
    "db": "The SQLite database; the spool, the results store and the lock live beside it.",
    "workdir": "The work root: one directory per job while it runs (on the shared filesystem under SLURM).",
    "tick_s": "Seconds between two ticks of the daemon.",
    "observe_interval_s": "Least time between two status queries (`squeue`), wake-ups or not (never less than the tick).",
    "usage_interval_s": "Seconds between two usage queries (`sstat`).",
    "backoff_max_s": "Longest wait between tries while the controller does not answer.",
    "workers": "Parallel builds and parallel collections.",
    "local_slots": "Jobs the local executor runs at once; 0 means the number of CPUs.",
    "hub": "A hub to take jobs from too (`lz run --hub URL`): the landing zone registers, claims and reports.",
    "token_file": "The hub token file (mode 0600); `none` keeps the token in memory only.",
    "max_running": "Hub jobs this landing zone runs at once; 0 means its CPUs.",
    "gpus": "GPUs this landing zone offers local jobs; -1 means the NVIDIA devices found in /dev.",
    "pilot_margin_s": "Inside a SLURM allocation (a pilot): claim only jobs whose time limit ends at least this long before the allocation does.",
    "job_prefix": "SLURM job names and work directories are `<prefix><job id>`.",
    "lost_after_s": "A submitted job the scheduler and the disk have not known for this long is lost (never resubmitted).",
    "retention_days": "Days results are kept after a job is cleaned.",
    "build_timeout_s": "Seconds a container build may take.",
    "stop_grace_s": "On SIGTERM, seconds running steps may take to finish before the daemon exits (the systemd "
                    "unit's TimeoutStopSec is this plus 30).",
    "busy_timeout_s": "How long a database write waits for another process's lock before the step is put off.",
    "max_bundle_bytes": "Largest job folder or archive intake accepts, in bytes (expanded size).",
    "max_bundle_files": "Most files a job folder or archive may hold.",
    "results_max_bytes": "Most bytes one job returns (apparent sizes); what does not fit is listed in the manifest as skipped.",
    "results_max_files": "Most entries one job returns; the rest is listed in the manifest as skipped.",
    "apptainer_sandbox": "`[apptainer] sandbox`: build writable sandbox directories instead of SIF files (sites "
                         "without squashfuse or loop devices).",
    "allow_pull": "Let builds pull base images from a registry (default: only the offline `[images]` catalogue).",
    "group_access": "Directories 0750 and files 0640 instead of 0700 and 0600, for a gateway shared by a group.",
    "metrics": "`HOST:PORT` where `lz run` serves Prometheus metrics at `/metrics` (empty: none).",
    "limits": "`[limits]`: the most one job may ask for (`cpus`, `memory`, `gpus`, `time`, `partitions`).",
    "images": "`[images]`: the offline base-image catalogue, name = root filesystem directory, tarball or SIF.",
    "slurm": "`[slurm]`: how jobs are submitted (see below).",
    "volumes": "`[volumes.NAME]` `host_path`, `mount`, `access` (`ro` or `rw`): a host directory bound into every "
               "job at `mount` (outside `/lz/work`, never collected); with runtime `none` it is `LZ_VOLUME_<NAME>`.",
    "slurm.account": "`--account` for every job.",
    "slurm.qos": "`--qos` for every job.",
    "slurm.partition": "Default partition when a job names none.",
    "slurm.extra_sbatch_args": "More sbatch options, each `--name=value`.",
    "slurm.gpu_flag": "`gpus` for `--gpus=N`, `gres` for `--gres=gpu:N`.",
    "slurm.command_timeout_s": "A SLURM command slower than this counts as \"controller down\".",
    "slurm.user": "Whose jobs `squeue` lists (default: the daemon's user).",
}

_LIMIT_KEYS = {"max_cpus": "cpus", "max_memory_mb": "memory", "max_gpus": "gpus", "max_time_s": "time",
               "partitions": "partitions"}
_TYPE_NAMES = {str: "string", Path: "path", float: "number", int: "integer", bool: "boolean", tuple: "list of strings"}


def effective(settings: Settings, sources: dict[str, str]) -> list[tuple[str, Any, str]]:
    """(name, value, source) for every setting; ``[slurm]`` and ``[limits]`` keys one by one."""
    rows: list[tuple[str, Any, str]] = []
    for f in fields(Settings):
        value = getattr(settings, f.name)
        source = sources.get(f.name, "default")
        if isinstance(value, SlurmSettings):
            rows += [(f"slurm.{s.name}", _plain(getattr(value, s.name)), source) for s in fields(SlurmSettings)]
        elif isinstance(value, Limits):
            rows += [(f"limits.{_LIMIT_KEYS[k.name]}", _plain(getattr(value, k.name)), source) for k in fields(Limits)]
        else:
            rows.append((f.name, _plain(value), source))
    return rows


def show_text(settings: Settings, sources: dict[str, str]) -> str:
    rows = effective(settings, sources)
    width = max(len(name) for name, _, _ in rows)
    return "\n".join(f"{name:<{width}} = {json.dumps(value)}  # {source}" for name, value, source in rows) + "\n"


def show_json(settings: Settings, sources: dict[str, str]) -> str:
    return json.dumps({name: {"value": value, "source": source} for name, value, source in effective(settings, sources)},
                      indent=2) + "\n"


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict) or hasattr(value, "items"):
        return dict(value)
    return value


def reference() -> str:
    """docs/configuration.md, from the settings' types and defaults."""
    short = {v: k for k, v in _ALIASES.items()}
    lines = [
        "# Configuration reference",
        "",
        "<!-- generated by `lz config reference -o docs/configuration.md`; a test fails when it drifts -->",
        "",
        "Settings are layered: defaults < the configuration file (`$XDG_CONFIG_HOME/lz/config.toml`, "
        "`--config` or `LZ_CONFIG`) < environment variables (`LZ_<NAME>`) < command-line flags. "
        "`lz config show` prints the value in effect for each one and where it came from. Every value "
        "is checked against its type when it is read; a wrong one is one line naming the key.",
        "",
        "| key in config.toml | environment | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    defaults = Settings(db=Path("$XDG_STATE_HOME/lz/lz.db"), workdir=Path("$TMPDIR (else $TEMP, $TMP, /tmp)"))
    for name, kind in [*_SCALARS.items(), ("container", str)]:
        key = f"`{name}`" + (f" (or `{short[name]}`)" if name in short else "")
        env = f"`LZ_{name.upper()}`" + (f" or `LZ_{name[:-2].upper()}`" if name.endswith("_s") else "")
        default = "" if name == "container" else _cell(getattr(defaults, name))
        lines.append(f"| {key} | {env} | {_TYPE_NAMES[kind]} | {default} | {DESCRIPTIONS[name]} |")
    lines += ["", "## Tables", "", f"- {DESCRIPTIONS['images']}", f"- {DESCRIPTIONS['limits']}", "",
              "### `[slurm]`", "", "| key | type | default | meaning |", "|---|---|---|---|"]
    slurm = SlurmSettings()
    for name, kind in _SLURM.items():
        lines.append(f"| `{name}` | {_TYPE_NAMES[kind]} | {_cell(getattr(slurm, name))} | {DESCRIPTIONS['slurm.' + name]} |")
    lines += ["", "## Example", "", "```toml", 'name = "galileo"', 'container = "slurm"', "tick = 5",
              'metrics = "127.0.0.1:9750"', "", "[limits]", "cpus = 64", 'memory = "256G"', "",
              "[slurm]", 'account = "proj"', 'extra_sbatch_args = ["--constraint=skylake"]', "```", ""]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    plain = _plain(value)
    if plain is None or plain == "" or plain == []:
        return "" if plain is None else f"`{json.dumps(plain)}`"
    return f"`{plain}`" if isinstance(plain, str) else f"`{json.dumps(plain)}`"


def missing_descriptions() -> list[str]:
    names = [*_SCALARS, "container", *(f"slurm.{n}" for n in _SLURM), "images", "limits", "slurm", "volumes"]
    return [n for n in names if n not in DESCRIPTIONS]
