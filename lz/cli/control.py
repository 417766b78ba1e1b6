"""Job control commands: stop, kill, pause, resume (``lz.cli.job_actions``: ids or filters, as
``lz cancel``), top.

Each records the request first (``lz.engine.control``): stop and kill are carried out by the daemon's
tick like a cancel; pause and resume are carried out here at once, so SLURM's refusal (suspend
needs operator rights) is one line on the terminal and the job stays as it was.
"""

from __future__ import annotations

import click

from lz.cli.common import common, main, settings, store
from lz.cli.complete import complete_job_id
from lz.cli.job_actions import act, job_targets


@main.command()
@common
@job_targets
def stop(job_ids: tuple[str, ...]) -> None:
    """Stop jobs gracefully: SIGTERM to their processes, the normal cancel after a grace period;
    partial results are collected. Takes ids or filters as lz cancel does."""
    act("stop", job_ids)


@main.command()
@common
@job_targets
def kill(job_ids: tuple[str, ...]) -> None:
    """Kill jobs at once (SIGKILL to their processes); what they wrote so far is collected. Takes
    ids or filters as lz cancel does."""
    act("kill", job_ids)


@main.command()
@common
@job_targets
def pause(job_ids: tuple[str, ...]) -> None:
    """Pause jobs: SIGSTOP locally; under SLURM hold (pending) or suspend (running, needs operator
    rights). Time paused does not count toward the time limit. Filters pick queued and running
    jobs."""
    act("pause", job_ids)


@main.command()
@common
@job_targets
def resume(job_ids: tuple[str, ...]) -> None:
    """Resume paused jobs (SIGCONT; SLURM release or resume). Filters pick paused jobs."""
    act("resume", job_ids)


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
