"""``lz status --format "%i %j %T %M %l"``: squeue's format letters over a job's documented JSON,
so one formatter serves the landing zone's jobs and a hub's (which add station and landing zone).

``%[.][width]X``: a width pads the field (``.`` aligns it right), as in squeue; a field without a
width is padded to its column's widest value, so the columns line up. ``%%`` is a percent sign.
A value that does not exist (no limit, not started) prints ``N/A``, as squeue does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lz.core.errors import UserError, printable
from lz.core.resources import format_memory
from lz.core.selection import compact_state

Job = Mapping[str, Any]
NA = "N/A"


def slurm_duration(seconds: float | None) -> str:
    """squeue's TIME: ``M:SS``, ``H:MM:SS`` or ``D-HH:MM:SS``."""
    if seconds is None:
        return NA
    days, rest = divmod(max(0, int(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}-{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _resource(key: str, show: Callable[[Any], str] = str) -> Callable[[Job], str]:
    def get(job: Job) -> str:
        value = (job.get("resources") or {}).get(key)
        return NA if value is None else show(value)

    return get


def _key(key: str) -> Callable[[Job], str]:
    return lambda job: NA if job.get(key) in (None, "") else str(job[key])


def _time_left(job: Job) -> str:
    limit = (job.get("resources") or {}).get("time_s")
    if limit is None or job.get("ended_at"):
        return NA
    return slurm_duration(limit - (job.get("runtime_s") or 0))


FIELDS: dict[str, tuple[str, str, Callable[[Job], str]]] = {
    "i": ("JOBID", "job id", _key("id")),
    "j": ("NAME", "job name", _key("name")),
    "T": ("STATE", "state (lz's word)", _key("state")),
    "t": ("ST", "compact state: PD, R, S, CG, or the outcome's CD, F, CA, TO, NF",
          lambda job: compact_state(job["state"], job.get("outcome"))),
    "O": ("OUTCOME", "outcome (lz's own field)", _key("outcome")),
    "M": ("TIME", "time used (run time, paused time excluded)", lambda job: slurm_duration(job.get("runtime_s"))),
    "l": ("TIME_LIMIT", "time limit", _resource("time_s", slurm_duration)),
    "L": ("TIME_LEFT", "time left before the limit", _time_left),
    "P": ("PARTITION", "partition", _resource("partition")),
    "C": ("CPUS", "CPUs", _resource("cpus")),
    "m": ("MIN_MEMORY", "memory", _resource("memory_mb", format_memory)),
    "b": ("GPUS", "GPUs", _resource("gpus")),
    "V": ("SUBMIT_TIME", "submitted (ISO 8601 UTC)", _key("created_at")),
    "S": ("START_TIME", "started", _key("started_at")),
    "e": ("END_TIME", "ended", _key("ended_at")),
    "r": ("REASON", "why it waits, else why it ended",
          lambda job: str(job.get("pending_reason") or job.get("reason") or NA)),
    "A": ("SLURM_JOBID", "the Slurm job id (N/A when it did not run under Slurm)", _key("slurm_job_id")),
    "o": ("COMMAND", "command", lambda job: " ".join(job.get("command") or []) or NA),
    "a": ("STATION", "Station (hub jobs)", _key("station")),
    "N": ("LANDING_ZONE", "landing zone that runs or ran it (hub jobs)", _key("landing_zone")),
}
"""letter: (header, meaning, value). docs/command-line.md's table lists the same letters."""

_SPEC = re.compile(r"%(%|(\.?)(\d{0,3})(.?))")
MAX_FORMAT = 400


def parse(fmt: str) -> list[str | tuple[str, bool, int | None]]:
    """Literal text and (letter, right-aligned, width) fields; an unknown letter is one line."""
    if len(fmt) > MAX_FORMAT:
        raise UserError(f"--format is longer than {MAX_FORMAT} characters")
    parts: list[str | tuple[str, bool, int | None]] = []
    pos = 0
    for match in _SPEC.finditer(fmt):
        parts.append(fmt[pos:match.start()])
        pos = match.end()
        if match.group(1) == "%":
            parts.append("%")
            continue
        letter = match.group(4)
        if letter not in FIELDS:
            shown = printable(letter) if letter else "(nothing)"
            raise UserError(f"--format: unknown field %{shown} (fields: {' '.join('%' + k for k in FIELDS)})")
        parts.append((letter, bool(match.group(2)), int(match.group(3)) if match.group(3) else None))
    parts.append(fmt[pos:])
    return [p for p in parts if p != ""]


def render(fmt: str, jobs: Sequence[Job], header: bool = True) -> str:
    """The jobs one line each, in ``fmt``; the header names the fields (squeue's names)."""
    parts = parse(fmt)
    rows: list[list[str]] = []
    if header:
        rows.append([FIELDS[p[0]][0] if isinstance(p, tuple) else p for p in parts])
    for job in jobs:
        rows.append([printable(FIELDS[p[0]][2](job)) if isinstance(p, tuple) else p for p in parts])
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(len(parts))]
    lines = []
    for row in rows:
        cells = []
        for part, cell, widest in zip(parts, row, widths):
            if not isinstance(part, tuple):
                cells.append(cell)
                continue
            _, right, width = part
            size = widest if width is None else width
            cell = cell[:size] if width is not None else cell
            cells.append(cell.rjust(size) if right else cell.ljust(size))
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)
