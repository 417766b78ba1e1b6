"""How long a job spent in each step, from its history (pure): what ``lz status JOB`` shows.

Each step lasts from its transition to the next one (the last, while the job is active, until
now). Run time counts ``running`` only, so time paused is not run time, as SLURM counts it; queue
time is ``queued`` (waiting for the scheduler or a free slot). A hub job adds the time it waited
for a landing zone (submit to claim) and its results upload (the landing zone's clean to the hub's
finish).
"""

from __future__ import annotations

from collections.abc import Sequence

Step = tuple[str, str, float]
"""(event, state entered, at): one line of a history."""


def durations(steps: Sequence[Step], now: float, final: frozenset[str] = frozenset({"cleaned"})) -> list[float | None]:
    """How long each step lasted; None for a final step (nothing follows it)."""
    out: list[float | None] = []
    for i, (_, state, at) in enumerate(steps):
        if i + 1 < len(steps):
            out.append(max(0.0, steps[i + 1][2] - at))
        else:
            out.append(None if state in final else max(0.0, now - at))
    return out


def totals(steps: Sequence[Step], now: float) -> dict[str, float | None]:
    """Seconds per phase: build, queue, run, paused, collect; waiting for a landing zone and the
    results upload where the history has the hub's events (``submit``/``claim``, ``finish``)."""
    spent: dict[str, float] = {}
    for (_, state, _at), length in zip(steps, durations(steps, now)):
        if length is not None:
            spent[state] = spent.get(state, 0.0) + length
    times: dict[str, float | None] = {
        "build_s": spent.get("building"),
        "queue_s": spent.get("queued"),
        "run_s": spent.get("running"),
        "paused_s": spent.get("paused"),
        "collect_s": spent.get("collecting"),
    }
    at = {event: t for event, _, t in steps}
    first: dict[str, float] = {}
    for event, _, t in steps:
        first.setdefault(event, t)
    if "submit" in first:
        times["waiting_for_lz_s"] = (first["claim"] - first["submit"]) if "claim" in first else now - first["submit"]
        times["upload_s"] = (at["finish"] - at["clean"]) if "finish" in at and "clean" in at else None
    return times


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}m{rest % 60:02d}s"
