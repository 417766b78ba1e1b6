"""Job control commands: stop, kill, pause, resume, top (landing-zone jobs).

Each records the request first (``lz.engine.control``): stop and kill are carried out by the daemon's
tick like a cancel; pause and resume are carried out here at once, so SLURM's refusal (suspend
needs operator rights) is one line on the terminal and the job stays as it was.
"""

from __future__ import annotations

import click

from lz.cli.common import common, main, settings, store
from lz.cli.complete import complete_job_id
from lz.cli.hub_target import hub_options
from lz.cli.hub_target import target as hub_target


def _request(job_id: str, what: str) -> None:
    hub = hub_target()
    if hub is not None:  # a hub's job: the hub records it, the holding landing zone carries it out
        from lz.cli import remote_jobs

        remote_jobs.control(hub, job_id, what)
        return
    from lz.client import Client

    job = Client.for_settings(settings()).job(job_id).control(what)
    pending = f" ({what} requested)" if job.data["control"] == what else ""
    click.echo(f"job {job.id} {job.state}{pending}")


@main.command()
@common
@click.argument("job_id", shell_complete=complete_job_id)
@hub_options
def stop(job_id: str) -> None:
    """Stop a job gracefully: SIGTERM to its processes, the normal cancel after a grace period;
    partial results are collected."""
    _request(job_id, "stop")


@main.command()
@common
@click.argument("job_id", shell_complete=complete_job_id)
@hub_options
def kill(job_id: str) -> None:
    """Kill a job at once (SIGKILL to its processes); what it wrote so far is collected."""
    _request(job_id, "kill")


@main.command()
@common
@click.argument("job_id", shell_complete=complete_job_id)
@hub_options
def pause(job_id: str) -> None:
    """Pause a job: SIGSTOP locally; under SLURM hold (pending) or suspend (running, needs operator
    rights). Time paused does not count toward its time limit."""
    _request(job_id, "pause")


@main.command()
@common
@click.argument("job_id", shell_complete=complete_job_id)
@hub_options
def resume(job_id: str) -> None:
    """Resume a paused job (SIGCONT; SLURM release or resume)."""
    _request(job_id, "resume")


@main.command()
@common
@click.argument("job_id", shell_complete=complete_job_id)
def top(job_id: str) -> None:
    """The processes of a running job with their CPU and memory."""
    from lz.core.resources import format_memory
    from lz.engine import assembly

    loaded = settings()
    jobs = store(loaded)
    job = jobs.find(job_id)
    tracked = assembly.workspace(loaded).tracked(job)
    executor = assembly.executor(loaded)
    procs = executor.processes(tracked)
    if not procs:
        usage = executor.usage([tracked]).get(job.id)
        if usage is not None and usage.cpu_seconds is not None:
            rss = format_memory((usage.max_rss_bytes or 0) // (1 << 20)) if usage.max_rss_bytes else "-"
            click.echo(f"job {job.id} {job.state}: CPU time {usage.cpu_seconds:.1f} s, peak memory {rss} (sstat)")
        else:
            click.echo(f"job {job.id} {job.state}: no processes visible here")
        return
    click.echo(f"{'PID':>8} {'STATE':<9} {'CPU%':>6} {'RSS':>9}  COMMAND")
    for p in procs:
        rss = f"{(p.rss_bytes or 0) / (1 << 20):.1f}M"
        cpu = f"{p.cpu_percent:.1f}" if p.cpu_percent is not None else "-"
        click.echo(f"{p.pid:>8} {p.state:<9} {cpu:>6} {rss:>9}  {p.command[:100]}")
