"""Commands about jobs: status, cancel, logs, results, resubmit (submit: ``lz.cli.submit``)."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lz.cli.common import common, main, settings, store
from lz.cli.complete import complete_job_id
from lz.cli.hub_target import hub_options
from lz.cli.hub_target import target as hub_target
from lz.cli.job_actions import act, job_targets
from lz.cli.job_filters import chosen, filter_options

if TYPE_CHECKING:
    from lz.config import Settings
    from lz.core.job import Job
    from lz.core.selection import Selection
    from lz.store.jobs import JobStore


def _explain_failure(loaded: Settings, job: Job, lines: int = 15) -> None:
    """A job that did not succeed says why, and shows the end of the log that tells: the build's
    when it never ran, else its standard error (a bare "exit code 1" helps nobody)."""
    from lz.engine import assembly
    from lz.host.logtail import tail_lines

    which = "build.log" if job.started_at is None else "stderr"
    path = assembly.workspace(loaded).log(job, which)
    try:
        tail = tail_lines(path, lines) if path is not None else ""
    except OSError:
        tail = ""
    click.echo(f"lz: job {job.id} {job.outcome}: {job.reason or 'no reason recorded'}", err=True)
    if tail.strip():
        click.echo(f"lz: the last lines of its {which}:", err=True)
        for line in tail.splitlines():
            click.echo(f"    {line}", err=True)


def _echo_json(job: Job, jobs: JobStore) -> None:
    from lz.core import views

    click.echo(json.dumps(views.job_json(job, time.time(), jobs.history(job.id)), indent=2))


def _wait_for(jobs: JobStore, loaded: Settings, job_id: str) -> Job:
    """Follow the job until it is cleaned: live progress on a terminal, the outcome alone elsewhere."""
    from lz.cli import progress
    from lz.engine import assembly

    space = assembly.workspace(loaded)
    return progress.follow(lambda: jobs.get(job_id), lambda: jobs.history(job_id),
                           lambda job: space.log(job, "build.log"), progress.view(sys.stderr))


@main.command()
@common
@click.argument("job_id", required=False, shell_complete=complete_job_id)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (documented in the README).")
@click.option("--watch", is_flag=True, help="Refresh every 2 seconds until interrupted.")
@filter_options()
@click.option("-N", "--limit", type=click.IntRange(1), default=None,
              help="The newest N matching jobs (default 100 with a filter or a hub; with neither: "
                   "the newest 200 active and the last 20 cleaned).")
@click.option("--all", "show_all", is_flag=True, help="Every matching job (a hub's: page after page).")
@click.option("-o", "--format", "fmt", default=None, metavar="FORMAT",
              help='squeue\'s fields, e.g. "%i %j %T %M %l" (id, name, state, time used, time limit); '
                   "docs/command-line.md lists them.")
@click.option("--noheader", is_flag=True, help="With --format: no header line.")
@hub_options
def status(job_id: str | None, as_json: bool, watch: bool, limit: int | None, show_all: bool, fmt: str | None,
           noheader: bool) -> None:
    """Jobs of this landing zone (or of the hub), filtered like squeue, or one job with its whole
    history."""
    from lz.core import job_format

    hub = hub_target()
    selection, extra = chosen(None if show_all else limit, hub=hub is not None)
    if job_id and (selection.filters() or extra or fmt):
        from lz.core.errors import UserError

        raise UserError("give a job id or filters (-t, -n, --since, --format ...), not both")
    if fmt is not None:
        job_format.parse(fmt)  # a bad field is one line before anything is read
    if hub is not None and not show_all and selection.limit is None:
        selection = replace(selection, limit=DEFAULT_LIMIT)
    jobs = None if hub is not None else store(settings())
    while True:
        if hub is not None:
            from lz.cli import remote_jobs as jobs_cli

            text = jobs_cli.status(hub, job_id, as_json, selection, extra, fmt, not noheader)
        else:
            assert jobs is not None
            text = _status_text(jobs, job_id, as_json, selection, show_all, fmt, not noheader)
        if watch and not as_json:
            click.clear()
        click.echo(text)
        if not watch:
            return
        time.sleep(2)


DEFAULT_LIMIT = 100
"""How many of the newest jobs a filtered list shows, locally and from a hub."""


def _status_text(jobs: JobStore, job_id: str | None, as_json: bool, selection: Selection, show_all: bool,
                 fmt: str | None, header: bool) -> str:
    import json

    from lz.cli import array_cmds
    from lz.core import job_format, views
    from lz.core.machine import ACTIVE

    now = time.time()
    if job_id:
        job = jobs.find(job_id)
        history = jobs.history(job.id)
        if as_json:
            data = views.job_json(job, now, history)
            if job.spec.array:
                data.update(array_cmds.as_json(settings(), job))
            return json.dumps(data, indent=2)
        return views.details(job, history, now) + (array_cmds.detail(settings(), job) if job.spec.array else "")
    classic = not selection.filters() and selection.limit is None and not show_all
    note = ""
    if classic and as_json:
        shown = jobs.jobs()  # documented: `lz status --json` lists every job
    elif classic:
        active = jobs.jobs(ACTIVE, limit=200, newest_first=True)
        shown = active + jobs.jobs(["cleaned"], limit=20, newest_first=True)
        hidden = sum(jobs.count_by_state().get(state, 0) for state in ACTIVE) - len(active)
        if hidden > 0:
            note = f"... and {hidden} older active jobs (lz status --all, or --json, lists every job)"
    else:
        if not show_all and selection.limit is None:
            selection = replace(selection, limit=DEFAULT_LIMIT)
        shown, total = jobs.select(selection)
        if total > len(shown):
            note = f"(the newest {len(shown)} of {total} matching jobs; -N N or --all for more)"
    shown.sort(key=lambda j: (j.created_at, j.id))
    if as_json:
        return json.dumps([views.job_json(j, now) for j in shown], indent=2)
    if fmt is not None:
        if note:  # stdout stays the formatted lines alone, for scripts
            click.echo(f"lz: {note.strip('(). ')}", err=True)
        return job_format.render(fmt, [views.job_json(j, now) for j in shown], header)
    counts = jobs.count_by_state()
    lines = [views.landing_zone_line(jobs.status(), now), views.summary(counts), "", views.table(shown, now)]
    lines += array_cmds.summaries(settings(), shown)  # a sweep's tasks by state, under the table
    if note:
        lines.append(note)
    return "\n".join(lines)


@main.command()
@common
@job_targets
@click.option("--task", "tasks", type=click.IntRange(0), multiple=True,
              help="Of a sweep (--array): cancel this task only (repeatable); JOB_7 says the same.")
def cancel(job_ids: tuple[str, ...], tasks: tuple[int, ...]) -> None:
    """Cancel jobs in any state: the ids given, or every active job the filters match (-n, -t,
    --since). Each is still collected (partial results) and cleaned. As scancel: no question asked,
    one line per job; an unknown id is one line on stderr and exit status 2, the others are
    cancelled all the same. A sweep's single tasks: JOB --task 7, or JOB_7."""
    from lz.cli import array_cmds

    split = [array_cmds.split_job_task(j) for j in job_ids]
    if tasks or any(index is not None for _, index in split):
        if len({job for job, _ in split}) != 1:
            from lz.core.errors import UserError

            raise UserError("cancel the tasks of one sweep at a time: JOB --task N ..., or JOB_N ...")
        indices = [*tasks, *(index for _, index in split if index is not None)]
        click.echo(array_cmds.cancel_tasks(settings(), split[0][0], list(dict.fromkeys(indices))))
        return
    act("cancel", job_ids)


@main.command()
@common
@click.argument("job_id", shell_complete=complete_job_id)
@click.option("--json", "as_json", is_flag=True, help="Print the new job as JSON.")
@hub_options
def resubmit(job_id: str, as_json: bool) -> None:
    """Submit a hub job again: a new job of its Station with its files and resources (the hub
    keeps them resubmit_days after the job ends); prints the new job's id last."""
    from lz.client import Client

    job = Client.for_hub(hub_target(required=True)).resubmit(job_id)  # type: ignore[arg-type]
    click.echo(f"lz: job {job.id} submitted to station {job.station} again (from {job_id})", err=True)
    if as_json:
        click.echo(json.dumps(job.data, indent=2))
    click.echo(job.id)


@main.command()
@common
@click.argument("job_id", required=False, shell_complete=complete_job_id)
@click.option("--follow", "-f", is_flag=True, help="Keep printing as the job writes, until it ends.")
@click.option("--stderr", "which", flag_value="stderr", help="Show the job's standard error.")
@click.option("--build", "which", flag_value="build.log", help="Show the build log.")
@click.option("--stdout", "which", flag_value="stdout", default=True, help="Show standard output (default).")
@click.option("--daemon", "daemon_log", is_flag=True, help="Show the daemon's own log (its --log file) instead.")
@click.option("--attempt", type=click.IntRange(1, 101), default=None,
              help="An earlier attempt's output (a job with retries; the default is the latest attempt).")
@click.option("--notifications", "which", flag_value="notifications",
              help="Show what the job sent through $LZ_NOTIFY (lz-notify), one line each with its time.")
@hub_options
def logs(job_id: str | None, follow: bool, which: str, daemon_log: bool, attempt: int | None = None) -> None:
    """A job's output: live from its work directory, or from its stored results."""
    from lz.core.errors import UserError

    if attempt is not None:
        if which == "build.log":
            raise UserError("--attempt shows a run's stdout or stderr; a job is built once")
        which = f"attempt-{attempt}/{which}"
    hub = hub_target()
    if which == "notifications" and not daemon_log:
        if not job_id:
            raise UserError("name a job (lz logs JOB --notifications)")
        from lz.client import Client
        from lz.core.views import notification_lines

        client = Client.for_hub(hub) if hub is not None else Client.for_settings(settings())
        for line in notification_lines(client.job(job_id).notifications()):
            click.echo(line)
        return
    if hub is not None and not daemon_log:
        from lz.cli import remote_jobs as jobs_cli

        if not job_id:
            raise UserError("name a job (lz logs JOB)")
        jobs_cli.logs(hub, job_id, which, follow)
        return

    loaded = settings()
    if daemon_log:
        _show_daemon_log(store(loaded), follow)
        return
    if not job_id:
        raise UserError("name a job (lz logs JOB), or use --daemon for the daemon's log")
    from lz.client import Client

    for chunk in Client.for_settings(loaded).job(job_id).stream_logs(which, follow=follow):
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()


def _show_daemon_log(jobs: JobStore, follow: bool) -> None:
    """Print the file the daemon logs to; when following, a rotated file (a new inode, or one
    shorter than what was read) is read again from its start."""
    from lz.core.errors import UserError

    name = jobs.status().log_file
    if not name:
        raise UserError("the daemon logs to its standard error (started without --log); "
                        "under systemd: journalctl -u lz (--user for a user unit)")
    path, offset, inode = Path(name), 0, None
    while True:
        try:
            with open(path, "rb") as handle:
                st = os.fstat(handle.fileno())
                if st.st_ino != inode or st.st_size < offset:
                    inode, offset = st.st_ino, 0
                handle.seek(offset)
                chunk = handle.read()
        except FileNotFoundError:
            if not follow:
                raise UserError(f"the daemon's log {path} does not exist (yet)") from None
            chunk = b""
        offset += len(chunk)
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()
        if not follow:
            return
        time.sleep(0.5)


@main.command()
@common
@click.argument("job_id", shell_complete=complete_job_id)
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Directory to unpack into (default ./JOB_ID); it must be empty unless --force.")
@click.option("--force", is_flag=True, help="Unpack into a non-empty directory, replacing files of the same names.")
@click.option("--task", type=click.IntRange(0), default=None,
              help="Of a sweep: that task's folder (task-N/: its outputs, stdout, stderr) alone (default ./JOB_N).")
@hub_options
def results(job_id: str, output: Path | None, force: bool, task: int | None) -> None:
    """Unpack a job's new and modified files; its manifest and logs go under DIR/.lz/. A sweep's
    tasks are under task-<i>/ (each with its stdout and stderr)."""

    hub = hub_target()
    if hub is not None:
        from lz.cli import remote_jobs as jobs_cli

        jobs_cli.results(hub, job_id, output, force, task)
        return

    from lz.client import Client

    job = Client.for_settings(settings()).job(job_id)
    target = job.results(output, force=force, on_note=lambda note: click.echo(f"lz: {note}", err=True), task=task)
    click.echo(str(target))
