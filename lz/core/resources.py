"""Resource requests: parsing, formatting and checks against the site's limits (pure)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from lz.core.errors import ResourceError
from lz.core.value_class import replace, value_class

# ASCII digits only: str.isdigit() and \d accept "²" or "٣", which int() then refuses or reads
_WHOLE = re.compile(r"[0-9]+")
_FIELD = re.compile(r"[0-9]+(?:\.[0-9]+)?")
# compiled on first use (re's cache): ignoring case costs its compile 0.4 ms, which a job without a size never needs
_MEMORY = r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*"
_UNIT_KB = {"": 1024, "K": 1, "M": 1024, "G": 1 << 20, "T": 1 << 30}  # (no Fraction: 1-6 ms of every lz submit)
_PARTITION = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_MAX_DIGITS = 24  # longer numbers are absurd anyway; int() of thousands of digits is itself an attack


@value_class
class Resources:
    """What a job asks for. ``None`` means "the site's default"."""

    cpus: int = 1
    memory_mb: int | None = None
    gpus: int = 0
    time_s: int | None = None
    partition: str | None = None
    tasks: int | None = None
    nodes: int | None = None
    tasks_per_node: int | None = None
    distributed: bool = False
    """The original product's shorthand: ``cpus`` tasks of one CPU each (memory then per CPU)."""

    @property
    def task_count(self) -> int:
        """How many copies of the command run (srun's tasks): ``tasks``, else ``tasks_per_node``
        on each node, else one a node, else ``cpus`` when ``distributed``, else one."""
        if self.tasks:
            return self.tasks
        if self.tasks_per_node:
            return self.tasks_per_node * (self.nodes or 1)
        if self.nodes:
            return self.nodes
        return self.cpus if self.distributed else 1

    @property
    def cpus_per_task(self) -> int:
        return 1 if self.distributed else self.cpus

    @property
    def total_cpus(self) -> int:
        return self.task_count * self.cpus_per_task

    @property
    def multi_task(self) -> bool:
        """More than the one task on one node every job had before: srun runs the tasks."""
        return self.task_count > 1 or (self.nodes or 1) > 1

    def with_overrides(self, **changes: Any) -> Resources:
        """A copy with the given fields replaced; ``None`` values are ignored (flag not given)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpus": self.cpus,
            "memory_mb": self.memory_mb,
            "gpus": self.gpus,
            "time_s": self.time_s,
            "partition": self.partition,
            # only when asked: a single-task job's record stays what it always was
            **{k: v for k, v in (("tasks", self.tasks), ("nodes", self.nodes),
                                 ("tasks_per_node", self.tasks_per_node)) if v is not None},
            **({"distributed": True} if self.distributed else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Resources:
        return cls(**{k: data[k] for k in _FIELDS if k in data})


_FIELDS = ("cpus", "memory_mb", "gpus", "time_s", "partition", "tasks", "nodes", "tasks_per_node", "distributed")


@value_class
class Limits:
    """The most a site lets one job ask for; ``None`` means unlimited."""

    max_cpus: int | None = None
    max_memory_mb: int | None = None
    max_gpus: int | None = None
    max_time_s: int | None = None
    partitions: tuple[str, ...] | None = None
    max_nodes: int | None = None


SANE = Limits(max_cpus=1 << 16, max_memory_mb=1 << 30, max_gpus=1024, max_time_s=365 * 86400, max_nodes=1 << 14)
"""What no landing zone offers one job, with or without ``[limits]``: beyond this a request is a
typo or an attack (and numbers stay small enough for SQLite and SLURM's fields)."""


def _absurd(name: str, shown: object, most: str) -> ResourceError:
    try:
        text = str(shown)
    except ValueError:  # an int too long to print (Python caps int-to-str at 4,300 digits)
        text = "(a number of thousands of digits)"
    text = text if len(text) <= 40 else text[:24] + "..."
    return ResourceError(f"{name} {text} is more than any landing zone offers (at most {most})")


def parse_memory(text: str | int) -> int:
    """"4G" -> 4096 (MiB). A bare number means MiB, as in ``sbatch --mem``."""
    assert SANE.max_memory_mb is not None
    if isinstance(text, int) and not isinstance(text, bool):
        mb = text
    else:
        match = re.fullmatch(_MEMORY, str(text), re.IGNORECASE)
        if not match:
            raise ResourceError(f"memory {text!r} is not a size such as 512M, 4G or 1T")
        if len(match.group(1)) > _MAX_DIGITS:
            raise _absurd("memory", text, _human_memory(SANE.max_memory_mb))
        from fractions import Fraction  # exact, as "1.5G" must be; here, where a size is given

        mb = int(Fraction(match.group(1)) * _UNIT_KB[match.group(2).upper()] / 1024)
    if mb <= 0:
        raise ResourceError(f"memory {text!r} must be more than zero")
    if mb > SANE.max_memory_mb:
        raise _absurd("memory", text, _human_memory(SANE.max_memory_mb))
    return mb


def _human_memory(mb: int) -> str:
    return f"{mb >> 20}T" if mb % (1 << 20) == 0 else format_memory(mb)


def format_memory(mb: int) -> str:
    """MiB as ``sbatch --mem`` takes it."""
    return f"{mb // 1024}G" if mb % 1024 == 0 else f"{mb}M"


def parse_time(text: str | int) -> int:
    """SLURM time formats to seconds: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS."""
    assert SANE.max_time_s is not None
    if isinstance(text, int) and not isinstance(text, bool):
        seconds = text * 60
    else:
        seconds = _parse_time_text(str(text).strip())
    if seconds <= 0:
        raise ResourceError(f"time {text!r} must be more than zero")
    if seconds > SANE.max_time_s:
        raise _absurd("time", text, format_time(SANE.max_time_s))
    return seconds


def _parse_time_text(text: str) -> int:
    bad = ResourceError(f"time {text!r} is not a SLURM time such as 30, 01:00:00 or 2-00:00:00")
    assert SANE.max_time_s is not None
    if any(len(run) > _MAX_DIGITS for run in re.findall(r"[0-9]+", text)):
        raise _absurd("time", text, format_time(SANE.max_time_s))
    clock = slurm_clock(text) if "." not in text else None  # a request is in whole units
    if clock is None:
        raise bad
    days, hours, minutes, secs = clock
    if minutes >= 60 and (days or hours) or secs >= 60:
        raise bad
    return int(((days * 24 + hours) * 60 + minutes) * 60 + secs)


def slurm_clock(text: str, lone: str = "minutes") -> tuple[int, float, float, float] | None:
    """SLURM's time grammar, read once for lz: ``[D-]HH[:MM[:SS]]``, ``MM:SS``, ``HH:MM:SS`` and a
    lone number to (days, hours, minutes, seconds); None when ``text`` is not one (``UNLIMITED``).
    A lone number is minutes in a request (sbatch --time) and seconds where Slurm reports a time
    (``lone="seconds"``). Fields may carry a fraction (sstat's ``MM:SS.mmm``); whole ones stay ints."""
    text = text.strip()
    days, day_part = 0, False
    if "-" in text:
        day, text = text.split("-", 1)
        if not _WHOLE.fullmatch(day):
            return None
        days, day_part = int(day), True
    parts = text.split(":")
    if not 1 <= len(parts) <= 3 or not all(_FIELD.fullmatch(p) for p in parts):
        return None
    nums: list[float] = [float(p) if "." in p else int(p) for p in parts]
    if day_part:  # after a day count the clock always starts with hours
        hours, minutes, secs = (nums + [0, 0])[:3]
    elif len(nums) == 1:
        hours, minutes, secs = (0, nums[0], 0) if lone == "minutes" else (0, 0, nums[0])
    elif len(nums) == 2:
        hours, minutes, secs = 0, nums[0], nums[1]
    else:
        hours, minutes, secs = nums
    return days, hours, minutes, secs


def format_time(seconds: int) -> str:
    """Seconds to ``[D-]HH:MM:SS`` as sbatch --time takes it."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{clock}" if days else clock


def parse_resources(raw: Mapping[str, Any], base: Resources | None = None) -> Resources:
    """Build Resources from a ``[resources]`` table (or flags); unknown keys are an error."""
    known = {"cpus", "memory", "gpus", "time", "partition", "tasks", "nodes", "tasks_per_node", "distributed"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ResourceError(f"unknown resource {unknown[0]!r} (known: {', '.join(sorted(known))})")
    changes: dict[str, Any] = {}
    if raw.get("cpus") is not None:
        changes["cpus"] = _positive_int("cpus", raw["cpus"], SANE.max_cpus)
    if raw.get("gpus") is not None:
        changes["gpus"] = _positive_int("gpus", raw["gpus"], SANE.max_gpus, allow_zero=True)
    if raw.get("memory") is not None:
        changes["memory_mb"] = parse_memory(raw["memory"])
    if raw.get("time") is not None:
        changes["time_s"] = parse_time(raw["time"])
    if raw.get("partition") is not None:
        partition = str(raw["partition"])
        if not _PARTITION.match(partition):
            raise ResourceError(f"partition {partition!r} has characters a partition name cannot have")
        changes["partition"] = partition
    for key in ("tasks", "nodes", "tasks_per_node"):
        if raw.get(key) is not None:
            changes[key] = _positive_int(key, raw[key], SANE.max_nodes if key == "nodes" else SANE.max_cpus)
    if raw.get("distributed") is not None:
        if not isinstance(raw["distributed"], bool):
            raise ResourceError(f"distributed must be true or false, not {raw['distributed']!r}")
        changes["distributed"] = raw["distributed"]
    resources = (base or Resources()).with_overrides(**changes)
    check_layout(resources)
    return resources


def check_layout(resources: Resources) -> None:
    """Tasks and nodes that Slurm could place as asked, or one line saying why not."""
    r = resources
    if r.distributed and (r.tasks or r.tasks_per_node):
        raise ResourceError("distributed = true means one task per CPU (tasks = cpus): "
                            "give either distributed or tasks/tasks_per_node, not both")
    if r.nodes and r.task_count < r.nodes:
        raise ResourceError(f"nodes {r.nodes} is more than the job's tasks ({r.task_count}): each node runs at least one")
    if r.tasks and r.tasks_per_node and r.tasks > r.tasks_per_node * (r.nodes or 1):
        raise ResourceError(f"tasks {r.tasks} do not fit {r.nodes or 1} node(s) of tasks_per_node {r.tasks_per_node}")
    if r.total_cpus > (SANE.max_cpus or 0):
        raise _absurd("cpus", f"{r.total_cpus} (tasks x cpus per task)", str(SANE.max_cpus))


def _positive_int(name: str, value: Any, most: int | None, allow_zero: bool = False) -> int:
    assert most is not None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ResourceError(f"{name} {value!r} is not a whole number")
    if isinstance(value, str):
        if not _WHOLE.fullmatch(value.strip()):
            raise ResourceError(f"{name} {value!r} is not a whole number")
        if len(value.strip()) > _MAX_DIGITS:
            raise _absurd(name, value.strip(), str(most))
    number = int(value)
    if number < (0 if allow_zero else 1):
        raise ResourceError(f"{name} must be at least {0 if allow_zero else 1}, not {number}")
    if number > most:
        raise _absurd(name, number, str(most))
    return number


def check_limits(resources: Resources, limits: Limits) -> None:
    """Refuse requests beyond the site's limits, with the limit in the message."""
    checks: list[tuple[str, int | None, int | None, Callable[[int], str]]] = [
        ("cpus (all tasks)" if resources.multi_task else "cpus", resources.total_cpus, limits.max_cpus, str),
        ("nodes", resources.nodes, limits.max_nodes, str),
        ("gpus", resources.gpus, limits.max_gpus, str),
        ("memory", resources.memory_mb, limits.max_memory_mb, format_memory),
        ("time", resources.time_s, limits.max_time_s, format_time),
    ]
    for name, asked, most, show in checks:
        if asked is not None and most is not None and asked > most:
            raise ResourceError(f"{name} {show(asked)} is more than this site allows ({show(most)})")
    if resources.partition and limits.partitions is not None and resources.partition not in limits.partitions:
        raise ResourceError(
            f"partition {resources.partition!r} is not offered here (allowed: {', '.join(limits.partitions)})"
        )
