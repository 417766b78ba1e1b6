"""``lz submit --station``, ``lz status``, ``lz logs`` and ``lz results`` against a
hub: the same output as locally, plus ``station``, ``landing_zone`` and ``attempts``. Built on the
Python API (``lz.client``): this module only formats."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from lz.cli.exit_codes import ExitCode
from lz.client import Client, Job
from lz.client.target import HubTarget
from lz.core.selection import Selection


def submit(hub: HubTarget, path: Path, station: str, name: str | None, overrides: Mapping[str, Any],
           wait: bool, as_json: bool) -> None:
    job = Client.for_hub(hub).submit(path, station=station, name=name, **overrides)
    click.echo(f"lz: job {job.id} submitted to station {job.station}", err=True)
    if wait:
        job.wait(on_change=_say_state)
    if as_json:
        click.echo(json.dumps(job.data, indent=2))
    click.echo(job.id)
    if wait and not job.succeeded:
        sys.exit(ExitCode.FAILED)


def _say_state(job: Job) -> None:
    click.echo(f"lz: job {job.id} {job.state}" + (f" ({job.outcome}: {job.reason})" if job.outcome else ""), err=True)


def status(hub: HubTarget, job_id: str | None, as_json: bool, selection: Selection,
           extra: dict[str, Any] | None = None, fmt: str | None = None, header: bool = True) -> str:
    """One job, or the newest ``selection.limit`` jobs it matches (None: all, page after page)."""
    client = Client.for_hub(hub)
    if job_id:
        job = client.job(job_id).data
        return json.dumps(job, indent=2) if as_json else _details(job)
    found = client.select(selection, **(extra or {}))
    jobs, total = [job.data for job in found], found.total
    if as_json:
        return json.dumps(jobs, indent=2)
    of = f"{total}" if found.total_exact else f"more than {total}"
    note = f"the newest {len(jobs)} of {of} jobs; -N N or --all for more" if total > len(jobs) else ""
    if fmt is not None:
        from lz.core import job_format

        if note:  # stdout stays the formatted lines alone, for scripts
            click.echo(f"lz: {note}", err=True)
        return job_format.render(fmt, jobs, header)
    return _table(jobs) + (f"\n({note})" if note else "")


def _details(job: dict[str, Any]) -> str:
    from lz.core.errors import printable as p
    from lz.core.timeline import format_seconds
    from lz.core.views import times_line

    lines = [f"job {job['id']} ({p(job['name'])}) on station {p(job['station'])}",
             f"  state: {job['state']}" + (f", outcome {job['outcome']}" if job["outcome"] else ""),
             f"  landing zone: {p(job['landing_zone'] or '(none yet)')}, attempts: {job['attempts']}"]
    for key in ("reason", "pending_reason", "exit_code", "executor_id"):
        if job.get(key) is not None:
            lines.append(f"  {key.replace('_', ' ')}: {p(str(job[key]))}")
    if job.get("times"):
        lines.append(times_line(job["times"]))
    if job.get("attempt_history"):
        lines.append(f"  attempts (at most {job.get('max_attempts')} may fail):")
        for a in job["attempt_history"]:
            lines.append(f"    #{a['attempt']}  {p(a['landing_zone'] or '?'):<16} {a['claimed_at']}  -> "
                         f"{a['ended_at'] or '(running)'}  {a['ended'] or ''}"
                         + (f"  {p(a['detail'])}" if a.get("detail") else ""))
    lines.append("  history:")
    for ev in job.get("history", []):
        lines.append(f"    {ev['at']}  {format_seconds(ev.get('duration_s')):>7}  #{ev['attempt']}  {ev['event']:<10} "
                     f"{ev['from'] or '':>10} -> {ev['to']:<10}" + (f"  {p(ev['detail'])}" if ev.get("detail") else ""))
    return "\n".join(lines)


def _table(jobs: list[dict[str, Any]]) -> str:
    rows = [("ID", "NAME", "STATION", "STATE", "OUTCOME", "LANDING ZONE", "ATTEMPTS")]
    rows += [(j["id"], j["name"], j["station"], j["state"], j["outcome"] or "", j["landing_zone"] or "",
              str(j["attempts"])) for j in jobs]
    from lz.core.tables import columns

    return columns(rows)


def logs(hub: HubTarget, job_id: str, which: str, follow: bool = False) -> None:
    """The log of the finished attempt, or as much of the running one's as the hub has; with
    ``follow``, new bytes as they arrive until the job ends."""
    for chunk in Client.for_hub(hub).job(job_id).stream_logs(which, follow=follow):
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()


def results(hub: HubTarget, job_id: str, output: Path | None, force: bool = False, task: int | None = None) -> None:
    job = Client.for_hub(hub).job(job_id)
    target = job.results(output, force=force, on_note=lambda note: click.echo(f"lz: {note}", err=True), task=task)
    click.echo(str(target))
