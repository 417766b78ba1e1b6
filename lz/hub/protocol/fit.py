"""Whether a job fits a landing zone or a pilot's free room (pure), and why a pending job waits.

The hub never hands a landing zone a job that needs more CPUs, memory or GPUs than it reported
(``lz/register``); unknown figures (None) count as enough, since a SLURM gateway may not know its
biggest node. A job no landing zone of its Station can take says so in its status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_NEEDS = (("cpus", "cpus", "CPUs"), ("memory_mb", "memory_mb", "MiB of memory"), ("gpus", "gpus", "GPUs"))


def shortfall(resources: Mapping[str, Any], zone: Any) -> tuple[str, int, int] | None:
    """(what, needed, has) for the first need the zone cannot meet; None when the job fits."""
    for key, attr, label in _NEEDS:
        need = resources.get(key) or 0
        has = getattr(zone, attr, None)
        if need and has is not None and need > has:
            return label, int(need), int(has)
    return None


def waiting_reason(resources: Mapping[str, Any], station: str, zones: Iterable[Any]) -> str:
    """One line: why a pending job waits."""
    zones = list(zones)
    if not zones:
        return f"waiting: station {station} has no landing zone"
    shorts = [shortfall(resources, z) for z in zones]
    if all(s is not None for s in shorts):
        label, need, _ = next(s for s in shorts if s is not None)
        key = next(k for k, _, lab in _NEEDS if lab == label)
        largest = max(int(getattr(z, key) or 0) for z in zones)
        return f"waiting: no landing zone of station {station} has {need} {label} (largest: {largest})"
    return "waiting for a landing zone"


@dataclass(frozen=True)
class Room:
    """What a claimer has free; ``None``: not limited. A job without a time limit fits only a
    claimer without one (it might outlive the allocation)."""

    cpus: int | None = None
    memory_mb: int | None = None
    gpus: int | None = None
    time_left_s: float | None = None

    def fits(self, need: dict[str, Any]) -> bool:
        if self.cpus is not None and int(need.get("cpus") or 1) > self.cpus:
            return False
        if self.memory_mb is not None and int(need.get("memory_mb") or 0) > self.memory_mb:
            return False
        if self.gpus is not None and int(need.get("gpus") or 0) > self.gpus:
            return False
        if self.time_left_s is not None:
            time_s = need.get("time_s")
            return time_s is not None and float(time_s) <= self.time_left_s
        return True

    def minus(self, need: dict[str, Any]) -> Room:
        return Room(cpus=None if self.cpus is None else self.cpus - int(need.get("cpus") or 1),
                    memory_mb=None if self.memory_mb is None else self.memory_mb - int(need.get("memory_mb") or 0),
                    gpus=None if self.gpus is None else self.gpus - int(need.get("gpus") or 0),
                    time_left_s=self.time_left_s)
