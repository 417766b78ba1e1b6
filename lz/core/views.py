"""How jobs look to people and scripts: the stable JSON shape and the status table (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lz.core.errors import printable
from lz.core.job import Job
from lz.core.resources import format_memory, format_time

if TYPE_CHECKING:  # the table and the timeline are imported where used: a job's JSON (lz submit's) needs neither
    from lz.core.records import Transition
    from lz.core.zone import LandingZoneStatus


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def runtime_s(job: Job, now: float) -> float | None:
    if job.started_at is None:
        return None
    return (job.ended_at or now) - job.started_at


def job_json(job: Job, now: float, history: Iterable[Transition] | None = None) -> dict[str, Any]:
    """The documented JSON of a job (README: "JSON output"). Add keys; never rename or remove."""
    data: dict[str, Any] = {
        "id": job.id,
        "name": job.name,
        "state": job.state,
        "outcome": job.outcome,
        "exit_code": job.exit_code,
        "reason": job.reason,
        "slurm_job_id": job.executor_id if job.executor == "slurm" else None,
        "executor": job.executor,
        "executor_id": job.executor_id,
        "native_state": job.native_state,
        "pending_reason": job.pending_reason,
        "resources": job.spec.resources.to_dict(),
        "command": list(job.spec.command) if job.spec.command else None,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "ended_at": iso(job.ended_at),
        "runtime_s": runtime_s(job, now),
        "cpu_seconds": job.cpu_seconds,
        "max_rss_bytes": job.max_rss_bytes,
        "results": job.results_at is not None,
        **attempts_json(job),
    }
    if history is not None:
        from lz.core.timeline import durations, totals

        history = list(history)
        steps = [(t.event, t.to_state, t.at) for t in history]
        data["history"] = [
            {"from": t.from_state or None, "to": t.to_state, "event": t.event, "at": iso(t.at), "detail": t.detail,
             "duration_s": length}
            for t, length in zip(history, durations(steps, now))
        ]
        data["times"] = totals(steps, now)
    return data


def attempts_json(job: Job) -> dict[str, Any]:
    """``retry``: the current ``attempt``, the policy (``retries``, ``retry_on``) and the ``earlier``
    attempts (each: its attempt, executor id, cause, reason, times); ``after``: its dependencies."""
    import json

    try:
        earlier = json.loads(job.attempts) if job.attempts else []
    except ValueError:
        earlier = []
    return {
        "retry": {"attempt": job.attempt, "retries": job.spec.retry.retries, "retry_on": list(job.spec.retry.retry_on),
                  "earlier": [{**a, "started_at": iso(a.get("started_at")), "ended_at": iso(a.get("ended_at"))}
                              for a in earlier if isinstance(a, dict)]},
        "after": [str(d) for d in job.spec.after],
    }


def age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def table(jobs: list[Job], now: float) -> str:
    rows = [("ID", "NAME", "STATE", "OUTCOME", "AGE", "RUNTIME", "SLURM", "USAGE")]
    for job in jobs:
        run = runtime_s(job, now)
        usage = []
        if job.cpu_seconds is not None:
            usage.append(f"cpu {job.cpu_seconds:.0f}s")
        if job.max_rss_bytes:
            usage.append(f"rss {format_memory(max(1, job.max_rss_bytes // (1 << 20)))}")
        state = job.state
        if job.pending_reason and job.state in ("queued", "collecting"):
            state = f"{job.state} ({job.pending_reason})"
        rows.append((
            job.id, job.name, state, job.outcome or "", age(now - job.created_at),
            format_time(int(run)) if run is not None else "",
            job.executor_id if job.executor == "slurm" and job.executor_id else "",
            " ".join(usage),
        ))
    from lz.core.tables import columns

    return columns(rows)


def summary(counts: Mapping[str, int]) -> str:
    from lz.core.machine import STATES  # here: a job's JSON (all lz submit shows) needs no lifecycle

    return "  ".join(f"{state} {counts.get(state, 0)}" for state in STATES)


def details(job: Job, history: Iterable[Transition], now: float) -> str:
    lines = [f"job {job.id} ({printable(job.name)})", f"  state      {job.state}"]
    for label, value in (
        ("outcome", job.outcome), ("exit code", job.exit_code), ("reason", job.reason),
        ("executor", f"{job.executor} {job.executor_id or ''}".strip() if job.executor else None),
        ("scheduler", job.native_state), ("waiting", job.pending_reason),
        ("command", " ".join(job.spec.command) if job.spec.command else None),
        ("resources", _resources(job)),
        ("runtime", format_time(int(runtime_s(job, now) or 0)) if job.started_at else None),
        ("cpu time", f"{job.cpu_seconds:.1f}s" if job.cpu_seconds is not None else None),
        ("max rss", f"{job.max_rss_bytes // 1024} KiB" if job.max_rss_bytes else None),
    ):
        if value is not None and value != "":
            lines.append(f"  {label:<10} {printable(str(value))}")
    from lz.core.timeline import durations, format_seconds, totals

    history = list(history)
    steps = [(t.event, t.to_state, t.at) for t in history]
    lines.append(times_line(totals(steps, now)))
    lines.append("  history" + " " * 22 + "for")
    for t, length in zip(history, durations(steps, now)):
        lines.append(f"    {iso(t.at)}  {format_seconds(length):>7}  {t.from_state or '-':>10} -> {t.to_state:<10} "
                     f"{t.event}" + (f"  ({printable(t.detail)})" if t.detail else ""))
    return "\n".join(lines)


_TIME_LABELS = (("waiting_for_lz_s", "waiting for a landing zone"), ("build_s", "build"), ("queue_s", "queue"),
                ("run_s", "run"), ("paused_s", "paused"), ("collect_s", "collect"), ("upload_s", "upload"))


def times_line(times: Mapping[str, float | None]) -> str:
    """``  times      queue 2.0s, run 1m05s, paused 6.0s``: the steps that took any time."""
    from lz.core.timeline import format_seconds

    parts = [f"{label} {format_seconds(times[key])}" for key, label in _TIME_LABELS if times.get(key) is not None]
    return f"  {'times':<10} " + (", ".join(parts) if parts else "-")


def _resources(job: Job) -> str:
    r = job.spec.resources
    parts = [f"cpus={r.cpus}"]
    if r.multi_task or r.distributed:
        parts.append(f"tasks={r.task_count}" + (" (distributed)" if r.distributed else ""))
    if r.nodes:
        parts.append(f"nodes={r.nodes}")
    if r.memory_mb:
        parts.append(f"memory={format_memory(r.memory_mb)}")
    if r.gpus:
        parts.append(f"gpus={r.gpus}")
    if r.time_s:
        parts.append(f"time={format_time(r.time_s)}")
    if r.partition:
        parts.append(f"partition={r.partition}")
    return " ".join(parts)


def landing_zone_line(status: LandingZoneStatus, now: float) -> str:
    """One line about the landing zone: its daemon, its last tick, its controller."""
    parts = [f"landing zone {printable(status.name or 'lz')}"]
    if status.daemon_pid:
        parts.append(f"daemon pid {status.daemon_pid} ({status.executor or '?'}, {status.runtime or '?'})")
        tick_age = status.tick_age(now)
        if tick_age is not None:
            parts.append(f"last tick {age(tick_age)} ago")
    else:
        parts.append("daemon not running")
    if status.controller_down_since is not None:
        parts.append(f"controller unreachable since {iso(status.controller_down_since)}"
                     + (f" ({printable(status.controller_error)})" if status.controller_error else ""))
    return ", ".join(parts)


def notification_lines(notifications: Iterable[Mapping[str, Any]]) -> list[str]:
    """``lz logs --notifications``: one line each, its time (UTC) then its text."""
    return [f"{iso(n.get('at')) or '-'}  {n.get('text', '')}" for n in notifications]
