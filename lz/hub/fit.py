"""Whether a job fits a landing zone (pure), and why a pending job waits.

The hub never hands a landing zone a job that needs more CPUs, memory or GPUs than it reported
(``lz/register``); unknown figures (None) count as enough, since a SLURM gateway may not know its
biggest node. A job no landing zone of its Station can take says so in its status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
