"""Parsers of SLURM's output and the meaning of its job states (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lz.slurm.commands import DELIMITER, SQUEUE_FIELDS

PENDING_STATES = frozenset({
    "PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT", "CONFIGURING",
})
"""Waiting to (re)start. CONFIGURING: nodes booting for it; SPECIAL_EXIT: held for requeue."""
RUNNING_STATES = frozenset({
    "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING", "UPDATE_DB",
    "POWER_UP_NODE",
})
"""Holding an allocation: COMPLETING still cleans up, SUSPENDED/STOPPED may resume."""
ENDED_STATES = frozenset({
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY", "BOOT_FAIL",
    "DEADLINE", "REVOKED",
})


def phase_of(state: str) -> str:
    """pending, running or ended, for any SLURM job state (an unknown one counts as running:
    the job is known to the controller and not over)."""
    base = state.split()[0].rstrip("+").upper() if state.strip() else ""
    if base in ENDED_STATES:
        return "ended"
    if base in PENDING_STATES:
        return "pending"
    return "running"


@dataclass(frozen=True)
class QueueEntry:
    slurm_id: str
    state: str
    reason: str | None
    exit_code: int | None
    name: str


class ParseError(ValueError):
    """Output that is not what the command prints (truncated, or an error on stdout)."""


def parse_squeue(text: str) -> list[QueueEntry]:
    """Lines of ``squeue -O JobID:|,State:|,Reason:|,Exit_Code:|,Name:``."""
    entries = []
    fields = len(SQUEUE_FIELDS)
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split(DELIMITER, fields - 1)
        if len(parts) != fields or not parts[0].strip() or not parts[1].strip():
            raise ParseError(f"unexpected squeue line: {line[:200]!r}")
        slurm_id, state, reason, status = (p.strip() for p in parts[:4])
        name = parts[4]
        entries.append(QueueEntry(slurm_id, state, None if reason in ("", "None") else reason,
                                  exit_code_of(status), name))
    return entries


def exit_code_of(status: str) -> int | None:
    """squeue's Exit_Code is a raw wait status (768 = exit 3); scontrol's is "3:0"."""
    status = status.strip()
    if not status or status.upper() in ("N/A", "(NULL)"):
        return None
    if ":" in status:
        code, signal = status.split(":", 1)
        return int(code) if code.isdigit() and (int(code) or not int(signal or 0)) else 128 + int(signal or 0)
    if not status.isdigit():
        return None
    raw = int(status)
    if raw & 0x7F:
        return 128 + (raw & 0x7F)
    return raw >> 8


def parse_sbatch(text: str) -> str:
    """``sbatch --parsable`` prints ``ID`` or ``ID;cluster``."""
    line = text.strip().splitlines()[-1] if text.strip() else ""
    slurm_id = line.split(";", 1)[0].strip()
    if not slurm_id.isdigit():
        raise ParseError(f"sbatch printed no job id: {text.strip()[:200]!r}")
    return slurm_id


@dataclass(frozen=True)
class StepUsage:
    slurm_id: str
    cpu_seconds: float | None
    max_rss_bytes: int | None


def parse_sstat(text: str) -> dict[str, StepUsage]:
    """Per job: the largest MaxRSS and CPU time over its steps (the srun step is ``ID.0``)."""
    found: dict[str, StepUsage] = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 3 or not parts[0].strip():
            continue
        slurm_id = parts[0].split(".", 1)[0]
        rss = size_bytes(parts[1])
        cpu = duration_s(parts[2])
        tasks = int(parts[3]) if len(parts) > 3 and parts[3].strip().isdigit() else 1
        cpu = cpu * tasks if cpu is not None else None  # AveCPU is per task
        old = found.get(slurm_id)
        if old is not None:
            rss = max(filter(None, (rss, old.max_rss_bytes)), default=None)
            cpu = max(filter(lambda v: v is not None, (cpu, old.cpu_seconds)), default=None)  # type: ignore[arg-type]
        found[slurm_id] = StepUsage(slurm_id, cpu, rss)
    return found


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


def size_bytes(text: str) -> int | None:
    """"3116K" -> 3190784. A bare number is bytes, as sstat prints small values."""
    match = _SIZE.match(text)
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def duration_s(text: str) -> float | None:
    """"00:00:01.234", "01:02", "1-02:03:04" -> seconds."""
    text = text.strip()
    if not text:
        return None
    days = 0
    if "-" in text:
        day, text = text.split("-", 1)
        if not day.isdigit():
            return None
        days = int(day)
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        return None
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    if len(parts) == 1:
        seconds = parts[0]
    return days * 86400 + seconds


_UNREACHABLE = (
    "unable to contact slurm controller", "socket timed out", "connection refused", "connection timed out",
    "slurm_load_jobs error", "slurmctld", "communication connection failure", "zero bytes were transmitted",
    "try again", "resource temporarily unavailable", "slurm_persist_conn", "unable to establish",
    "transient", "configuration source", "fetch_config", "insufficient resources to create",
)
_REFUSED = (
    "invalid partition", "invalid account", "invalid qos", "requested node configuration is not available",
    "qosmax", "more processors requested than permitted", "job violates accounting", "memory specification can not",
    "invalid generic resource", "invalid feature", "batch job submission failed: invalid", "time limit",
    "invalid job", "unrecognized option", "invalid option", "access/permission denied", "user's group not permitted",
    "job size specification", "node count specification invalid", "invalid trackable resource",
)


def is_unreachable(message: str) -> bool:
    """Whether an error says the controller could not be reached (wait) rather than a refusal."""
    text = message.lower()
    if any(word in text for word in _REFUSED):
        return False
    return any(word in text for word in _UNREACHABLE)
