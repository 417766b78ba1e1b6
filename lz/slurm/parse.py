"""Parsers of SLURM's output and the meaning of its job states (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, TypeVar

from lz.core.errors import ControllerUnavailable, ControlRefused, SubmitRejected
from lz.core.resources import slurm_clock
from lz.slurm.commands import DELIMITER, SQUEUE_FIELDS

SlurmPhase = Literal["pending", "running", "ended"]
_N = TypeVar("_N", int, float)

PENDING_STATES = frozenset({
    "PENDING", "CONFIGURING", "POWER_UP_NODE", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "SPECIAL_EXIT",
    "RESV_DEL_HOLD",
})
"""No user code runs yet, or it will run again: CONFIGURING/POWER_UP_NODE wait for nodes to boot;
REQUEUED goes back to PENDING; the *_HOLD states and SPECIAL_EXIT wait for a release."""
RUNNING_STATES = frozenset({
    "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING", "UPDATE_DB",
})
"""Holding an allocation: COMPLETING/STAGE_OUT still clean up, SUSPENDED/STOPPED may resume."""
ENDED_STATES = frozenset({
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY", "BOOT_FAIL",
    "DEADLINE", "REVOKED",
})
"""Final. PREEMPTED is final only when the site cancels preempted jobs (a requeue shows REQUEUED);
REVOKED is a federated sibling that started elsewhere: over, as far as this cluster goes."""


def base_state(state: str) -> str:
    """``CANCELLED by 0`` (sacct), ``CANCELLED+`` (truncated) and ``cancelled`` all mean CANCELLED."""
    words = state.split()
    return words[0].rstrip("+").upper() if words else ""


def phase_of(state: str) -> SlurmPhase:
    """pending, running or ended, for any SLURM job state. A state this table does not know counts
    as running: the controller still holds the job and has not called it over."""
    base = base_state(state)
    if base in ENDED_STATES:
        return "ended"
    if base in PENDING_STATES:
        return "pending"
    return "running"


class ParseError(ValueError):
    """Output that is not what the command prints (truncated, or an error on stdout)."""


@dataclass(frozen=True)
class QueueEntry:
    slurm_id: str
    state: str
    reason: str | None
    exit_code: int | None
    name: str


_SQUEUE_LINE = re.compile(r"^\d+(?:_(?:\d+|\[[^]|]*\]))?(?:\+\d+)?\|[A-Z_]+\|")
"""Where an entry starts: a job id (array ``1_2``/``1_[3-9]``, het ``1+0``), then a state."""


def parse_squeue(text: str) -> list[QueueEntry]:
    """Lines of ``squeue -O JobArrayID:|,State:|,Reason:|,Exit_Code:|,Name:``.

    A job name may hold a newline (sbatch accepts one), so a line that does not start an entry
    continues the previous entry's name; one with nothing before it is not squeue output.
    """
    entries: list[QueueEntry] = []
    fields = len(SQUEUE_FIELDS)
    for line in text.split("\n"):
        if not _SQUEUE_LINE.match(line):
            if entries:
                last = entries[-1]
                entries[-1] = QueueEntry(last.slurm_id, last.state, last.reason, last.exit_code,
                                         f"{last.name}\n{line}")
            elif line.strip():
                raise ParseError(f"unexpected squeue line: {line[:200]!r}")
            continue
        parts = line.split(DELIMITER, fields - 1)
        if len(parts) != fields:
            raise ParseError(f"truncated squeue line: {line[:200]!r}")
        slurm_id, state, reason, status, name = parts
        entries.append(QueueEntry(slurm_id, state, None if reason.strip() in ("", "None") else reason.strip(),
                                  exit_code_of(status), name))
    # the output's final newline made an empty continuation of the last name
    if entries and entries[-1].name.endswith("\n"):
        last = entries[-1]
        entries[-1] = QueueEntry(last.slurm_id, last.state, last.reason, last.exit_code, last.name[:-1])
    return entries


def exit_code_of(status: str) -> int | None:
    """A shell-style exit status (128+N for signal N) from SLURM's two spellings.

    squeue's Exit_Code is the raw wait status (768 = exit 3, 15 = killed by SIGTERM); scontrol's
    ExitCode is ``code:signal`` (``3:0``, ``0:15``).
    """
    status = status.strip()
    if not status or status.upper() in ("N/A", "(NULL)"):
        return None
    if ":" in status:
        code, signal = status.split(":", 1)
        if not code.isdigit() or not (signal or "0").isdigit():
            return None
        return int(code) if int(code) or not int(signal or 0) else 128 + int(signal)
    if not status.isdigit():
        return None
    raw = int(status)
    if raw & 0x7F:
        return 128 + (raw & 0x7F)
    return (raw >> 8) & 0xFF


def parse_sbatch(text: str) -> str:
    """``sbatch --parsable`` prints ``ID`` or ``ID;cluster`` (after any warnings on stdout)."""
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
    """Per job, the step with the most: largest MaxRSS and CPU time over ``ID.batch``, ``ID.0``...

    Lines that do not parse are skipped: usage is advisory and a partial answer is still useful.
    """
    found: dict[str, StepUsage] = {}
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) < 3 or not parts[0].strip() or "." not in parts[0]:
            continue
        slurm_id = parts[0].split(".", 1)[0]
        rss = _sane(size_bytes(parts[1]), MAX_RSS_BYTES)
        cpu = _sane(duration_s(parts[2]), MAX_CPU_SECONDS)
        tasks = int(parts[3]) if len(parts) > 3 and parts[3].strip().isdigit() else 1
        if cpu is not None:
            cpu = _sane(cpu * max(tasks, 1), MAX_CPU_SECONDS)  # AveCPU is per task
        old = found.get(slurm_id)
        if old is not None:
            rss = _larger(rss, old.max_rss_bytes)
            cpu = _larger(cpu, old.cpu_seconds)
        found[slurm_id] = StepUsage(slurm_id, cpu, rss)
    return found


MAX_RSS_BYTES = 1 << 50  # a PiB
MAX_CPU_SECONDS = 1e10  # three centuries
"""Beyond these a figure is sstat's garbage (seen for steps that have just started or ended under
load, e.g. 2**64 - 1 bytes), not a measurement: unknown, not a fact."""


def _sane(value: _N | None, limit: float) -> _N | None:
    return None if value is None or value < 0 or value > limit else value


def _larger(a: _N | None, b: _N | None) -> _N | None:
    return b if a is None else a if b is None else max(a, b)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}


def size_bytes(text: str) -> int | None:
    """"3116K" -> 3190784. A bare number is bytes (sstat prints small values so)."""
    match = _SIZE.match(text)
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def duration_s(text: str) -> float | None:
    """A time Slurm reports (sstat's CPU times "MM:SS.mmm", "HH:MM:SS", "D-HH:MM:SS"; squeue's
    time left) to seconds; anything else (``UNLIMITED``, ``INVALID``, error text) -> None."""
    clock = slurm_clock(text, lone="seconds")
    if clock is None:
        return None
    days, hours, minutes, seconds = clock
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


_UNREACHABLE = (
    "unable to contact slurm controller", "socket timed out", "connection refused", "connection timed out",
    "communication connection failure", "zero bytes were transmitted", "try again",
    "resource temporarily unavailable", "temporarily unable to accept", "slurm_persist_conn",
    "unable to establish", "transient", "fetch_config", "insufficient resources to create",
    "slurmctld is not responding", "connect failure",
)
_REFUSED = (
    "invalid partition", "invalid account", "invalid qos", "requested node configuration is not available",
    "qosmax", "more processors requested than permitted", "job violates accounting", "memory specification can not",
    "invalid generic resource", "invalid feature", "batch job submission failed: invalid", "time limit",
    "invalid job", "unrecognized option", "invalid option", "access/permission denied", "user's group not permitted",
    "job size specification", "node count specification invalid", "invalid trackable resource",
    "unrecognized argument", "invalid --",
)


def is_unreachable(message: str) -> bool:
    """Whether an error says the controller could not be reached (wait and retry) rather than a
    refusal. A refusal wins when a message has both: retrying would be refused again."""
    text = message.lower()
    if any(word in text for word in _REFUSED):
        return False
    return any(word in text for word in _UNREACHABLE)


# -- replies: a command's exit status and output, judged in one place ---------------------------------
# The executor hands every reply here (as PSI/J hands return code and output to its parsers), so the
# "unreachable: back off / refused: fail" ladder is written once.


def read_sbatch(returncode: int, stdout: str, stderr: str) -> str:
    """The new job's id. ControllerUnavailable when the controller could not be reached or the
    answer is not understood (the job may exist: the caller reconciles by name); SubmitRejected
    when it said no."""
    if returncode != 0:
        message = stderr.strip() or stdout.strip()
        if is_unreachable(message):
            raise ControllerUnavailable(f"sbatch: {message[:300]}")
        raise SubmitRejected(_last_lines(message) or f"sbatch exited {returncode}")
    try:
        return parse_sbatch(stdout)
    except ParseError as exc:  # it said yes without an id: maybe queued, so reconcile by name
        raise ControllerUnavailable(str(exc)) from exc


def read_squeue(returncode: int, stdout: str, stderr: str) -> list[QueueEntry]:
    """Every entry; any failure means "no fresh view of the queue" (never a failed job)."""
    if returncode != 0:
        raise ControllerUnavailable(f"squeue: {(stderr or stdout).strip()[:300]}")
    try:
        return parse_squeue(stdout)
    except ParseError as exc:
        raise ControllerUnavailable(str(exc)) from exc


def read_scancel(returncode: int, stdout: str, stderr: str) -> str | None:
    """None when done; the message when scancel complained about a job that is already gone or
    ending (cancel is idempotent). ControllerUnavailable when the controller could not be reached."""
    if returncode == 0:
        return None
    message = (stderr or stdout).strip()
    if is_unreachable(message):
        raise ControllerUnavailable(f"scancel: {message[:300]}")
    return message[:300]


def read_sstat(returncode: int, stdout: str, stderr: str) -> dict[str, StepUsage]:
    """Usage of the jobs sstat could see. sstat exits 1 when one job has no step yet while still
    printing the others, so whatever parses is taken; usage is advisory and never an error."""
    return parse_sstat(stdout)


def _last_lines(message: str) -> str:
    """sbatch says why last ("Batch job submission failed: ..."); keep its whole text if short."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " / ".join(lines[-3:])


_ALREADY = {
    "resume": ("not suspended",),
    "release": ("not held",),
    "suspend": ("already suspended",),
}
"""Complaints that mean the request already holds: pause and resume are idempotent."""


def read_scontrol(action: str, returncode: int, stdout: str, stderr: str) -> None:
    """None when ``scontrol hold|release|suspend|resume`` did it (or it already held);
    ControlRefused with SLURM's one line otherwise ("Access/permission denied" for a user without
    operator rights, "Job is pending execution" for a suspend); ControllerUnavailable when the
    controller could not be reached."""
    if returncode == 0:
        return
    message = " / ".join(line.strip() for line in (stderr or stdout).splitlines() if line.strip())[:300]
    if is_unreachable(message):
        raise ControllerUnavailable(f"scontrol {action}: {message}")
    if any(words in message.lower() for words in _ALREADY.get(action, ())):
        return
    raise ControlRefused(f"scontrol {action} refused: {message or f'exit status {returncode}'}")


def read_listpids(returncode: int, stdout: str, stderr: str) -> list[int]:
    """The pids of ``scontrol listpids`` (header ``PID JOBID STEPID LOCALID GLOBALID``); none
    when the job does not run on this node or scontrol failed (top is advisory)."""
    if returncode != 0:
        return []
    pids = []
    for line in stdout.splitlines():
        first = line.split(maxsplit=1)[0] if line.strip() else ""
        if first.isdigit():
            pids.append(int(first))
    return pids


_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")


def read_batch_host(returncode: int, stdout: str) -> str | None:
    """squeue's ``%B`` for one job: a host name, or None (not running, gone, or anything odd:
    ``n/a`` while pending, an error, several lines)."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    if returncode != 0 or len(lines) != 1 or not _HOST.match(lines[0]) or lines[0].lower() == "n/a":
        return None
    return lines[0]
