"""The command line: parse, call the services, format. Every user mistake is one line on stderr."""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lz import __version__, views
from lz.config import CONTAINERS, RUNTIMES, Settings, load_settings
from lz.errors import UserError
from lz.hub.options import hub_options
from lz.hub.options import target as hub_target
from lz.machine import State
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import needs_upgrade, upgrade


def _common(func: Callable[..., Any]) -> Callable[..., Any]:
    """--config, --db and --workdir on every command (LZ_CONFIG, LZ_DB, LZ_WORKDIR also work)."""

    @click.option("--config", "config_file", type=click.Path(path_type=Path), default=None,
                  help="Configuration file (default $XDG_CONFIG_HOME/lz/config.toml).")
    @click.option("--db", type=click.Path(path_type=Path), default=None,
                  help="SQLite database (default $XDG_STATE_HOME/lz/lz.db; env LZ_DB).")
    @click.option("--workdir", type=click.Path(path_type=Path), default=None,
                  help="Work root on the shared filesystem (default $TMPDIR/$TEMP/$TMP or /tmp; env LZ_WORKDIR).")
    @functools.wraps(func)
    def wrapper(*args: Any, config_file: Path | None, db: Path | None, workdir: Path | None, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        flags = dict(ctx.meta.get("lz.flags", {}))
        flags.update(db=db, workdir=workdir)
        ctx.meta["lz.config_file"] = config_file
        ctx.meta["lz.flags"] = flags
        return func(*args, **kwargs)

    return wrapper


def _settings(**extra_flags: Any) -> Settings:
    ctx = click.get_current_context()
    flags = {**ctx.meta.get("lz.flags", {}), **extra_flags}
    return load_settings(ctx.meta.get("lz.config_file"), flags=flags)


def _store(settings: Settings) -> JobStore:
    engine = make_engine(settings.db)
    if needs_upgrade(engine):
        upgrade(engine)  # the CLI works while the daemon is down, even on a new database
    return JobStore(engine)


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"lz: error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="lz")
def main() -> None:
    """lz, the Landing Zone: build, run and collect container jobs on a SLURM cluster."""


def _run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--name", default=None, help="Name of this landing zone."),
        click.option("--container", type=click.Choice(CONTAINERS), default=None,
                     help="slurm: submit jobs to SLURM; otherwise run them here with that runtime."),
        click.option("--runtime", type=click.Choice(RUNTIMES), default=None,
                     help="Container runtime for jobs under --container slurm (default: auto-detect)."),
        click.option("--tick", "tick_s", type=float, default=None, help="Seconds between ticks (default 5)."),
        click.option("--workers", type=int, default=None, help="Parallel builds and collections (default 4)."),
        click.option("-v", "--verbose", count=True, help="More log output."),
        click.option("--hub", "hub_url", default=None, help="Take jobs from this hub too (env LZ_HUB)."),
        click.option("--token", "token_file", default=None,
                     help="Hub token file (env LZ_TOKEN_FILE; default $XDG_CONFIG_HOME/lz/token)."),
        click.option("--max-running", type=int, default=None, help="Hub jobs at once (default: the CPUs)."),
    ]):
        func = option(func)
    return func


@main.command()
@_common
@_run_options
def run(verbose: int, **flags: Any) -> None:
    """Run the landing zone daemon (stop with SIGTERM or Ctrl-C; jobs resume on the next start)."""
    _start_daemon(verbose, flags)


def _start_daemon(verbose: int, flags: dict[str, Any]) -> None:
    from lz.daemon import run_daemon

    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if verbose < 2:
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
    try:
        from lz.hub.options import agent_options

        hub = agent_options(flags.pop("hub_url"), flags.pop("token_file"), flags.pop("max_running"))
        settings = _settings(**flags)
        code = run_daemon(settings, hub=hub)
    except UserError as exc:
        click.echo(f"lz: error: {exc}", err=True)
        code = 2
    sys.exit(code)


@click.command(name="galileod")
@_common
@_run_options
def galileod_command(verbose: int, **flags: Any) -> None:
    """Galileo's daemon name for ``lz run``."""
    _start_daemon(verbose, flags)


def galileod() -> None:
    galileod_command()


@main.command()
@_common
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Job name (default: lz.toml's name, else the folder's).")
@click.option("--cpus", default=None, help="CPUs per task.")
@click.option("--memory", default=None, help="Memory, e.g. 4G.")
@click.option("--gpus", default=None, help="GPUs.")
@click.option("--time", "time_", default=None, help="Time limit, e.g. 01:00:00.")
@click.option("--partition", default=None, help="SLURM partition.")
@click.option("--wait", is_flag=True, help="Wait until the job is cleaned; exit non-zero unless it succeeded.")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON (after --wait: its final state).")
@click.option("--station", default=None, help="Submit to this Station of the hub (--hub or LZ_HUB).")
@hub_options
def submit(path: Path, name: str | None, cpus: str | None, memory: str | None, gpus: str | None,
           time_: str | None, partition: str | None, wait: bool, as_json: bool, station: str | None) -> None:
    """Hand a job folder (or a .tar.gz of one) to the landing zone; prints the job id last."""
    if station is not None:
        from lz.hub import jobs_cli

        overrides = {"cpus": cpus, "memory": memory, "gpus": gpus, "time": time_, "partition": partition}
        return jobs_cli.submit(hub_target(required=True), path, station, name, overrides, wait, as_json)  # type: ignore[arg-type]
    from lz.daemon import daemon_running, wake_daemon
    from lz.intake import Rejected, receive

    settings = _settings()
    store = _store(settings)
    overrides = {"cpus": cpus, "memory": memory, "gpus": gpus, "time": time_, "partition": partition}
    try:
        job = receive(store, settings, path, name=name, overrides=overrides)
    except Rejected as exc:
        click.echo(f"lz: error: {exc}", err=True)
        click.echo(f"lz: job {exc.job.id} recorded as rejected", err=True)
        sys.exit(2)
    if not wake_daemon(settings) and not daemon_running(settings):
        click.echo(f"lz: no landing zone is running on {settings.db}; the job starts when one does", err=True)
    elif not wait:
        click.echo(f"lz: job {job.id} received", err=True)
    if wait:
        job = _wait_for(store, job.id)
    if as_json:
        click.echo(json.dumps(views.job_json(job, time.time(), store.history(job.id) if wait else None), indent=2))
    click.echo(job.id)
    if wait and job.outcome != "succeeded":
        sys.exit(1)


def _wait_for(store: JobStore, job_id: str, poll_s: float = 0.5) -> Any:
    last = None
    while True:
        job = store.get(job_id)
        if job.state != last:
            click.echo(f"lz: job {job_id} {job.state}" + (f" ({job.outcome}: {job.reason})" if job.outcome else ""),
                       err=True)
            last = job.state
        if job.state == State.CLEANED:
            return job
        time.sleep(poll_s)


@main.command()
@_common
@click.argument("job_id", required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (documented in the README).")
@click.option("--watch", is_flag=True, help="Refresh every 2 seconds until interrupted.")
@click.option("--all", "show_all", is_flag=True, help="Include cleaned jobs in the table (default: last 20).")
@hub_options
def status(job_id: str | None, as_json: bool, watch: bool, show_all: bool) -> None:
    """Jobs of this landing zone, or one job with its whole history."""
    hub = hub_target()
    while hub is not None:
        from lz.hub import jobs_cli

        text = jobs_cli.status(hub, job_id, as_json)
        if watch and not as_json:
            click.clear()
        click.echo(text)
        if not watch:
            return
        time.sleep(2)
    settings = _settings()
    store = _store(settings)
    while True:
        text = _status_text(store, job_id, as_json, show_all)
        if watch and not as_json:
            click.clear()
        click.echo(text)
        if not watch:
            return
        time.sleep(2)


def _status_text(store: JobStore, job_id: str | None, as_json: bool, show_all: bool) -> str:
    now = time.time()
    if job_id:
        job = store.find(job_id)
        history = store.history(job.id)
        if as_json:
            return json.dumps(views.job_json(job, now, history), indent=2)
        return views.details(job, history, now)
    jobs = store.jobs()
    if as_json:
        return json.dumps([views.job_json(j, now) for j in jobs], indent=2)
    shown = jobs if show_all else [j for j in jobs if j.state != State.CLEANED] + \
        [j for j in jobs if j.state == State.CLEANED][-20:]
    shown.sort(key=lambda j: j.created_at)
    lines = [_lz_line(store, now), views.summary(store.count_by_state()), "", views.table(shown, now)]
    return "\n".join(lines)


def _lz_line(store: JobStore, now: float) -> str:
    st = store.status()
    pid = st.get("daemon_pid", (None, 0))[0]
    last_tick = st.get("last_tick", (None, 0))[0]
    parts = [f"landing zone {st.get('name', ('lz', 0))[0]}"]
    if pid:
        parts.append(f"daemon pid {pid} ({st.get('executor', ('?', 0))[0]}, {st.get('runtime', ('?', 0))[0]})")
        if last_tick:
            parts.append(f"last tick {views.age(now - float(last_tick))} ago")
    else:
        parts.append("daemon not running")
    down = st.get("controller_down_since", (None, 0))[0]
    if down:
        parts.append(f"controller unreachable since {views.iso(float(down))}")
    return ", ".join(parts)


@main.command()
@_common
@click.argument("job_id")
@hub_options
def cancel(job_id: str) -> None:
    """Cancel a job in any state; it is still collected (partial results) and cleaned."""
    hub = hub_target()
    if hub is not None:
        from lz.hub import jobs_cli

        return jobs_cli.cancel(hub, job_id)
    from lz.daemon import wake_daemon

    settings = _settings()
    store = _store(settings)
    job = store.find(job_id)
    job = store.cancel(job.id)
    wake_daemon(settings)
    click.echo(f"job {job.id} {job.state}")


@main.command()
@_common
@click.argument("job_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing as the job writes, until it ends.")
@click.option("--stderr", "which", flag_value="stderr", help="Show the job's standard error.")
@click.option("--build", "which", flag_value="build.log", help="Show the build log.")
@click.option("--stdout", "which", flag_value="stdout", default=True, help="Show standard output (default).")
@hub_options
def logs(job_id: str, follow: bool, which: str) -> None:
    """A job's output: live from its work directory, or from its stored results."""
    hub = hub_target()
    if hub is not None:
        from lz.hub import jobs_cli

        return jobs_cli.logs(hub, job_id, which, follow)
    settings = _settings()
    store = _store(settings)
    job = store.find(job_id)
    offset = 0
    while True:
        job = store.get(job.id)
        path = _log_path(settings, job, which)
        if path is not None and path.exists():
            with open(path, "rb") as handle:
                handle.seek(offset)
                chunk = handle.read()
                offset += len(chunk)
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
        if not follow or job.state == State.CLEANED:
            return
        time.sleep(1)


def _log_path(settings: Settings, job: Any, which: str) -> Path | None:
    stored = settings.results_dir / job.id / which
    if job.state == State.CLEANED or stored.exists():
        return stored
    if job.work_dir:
        return Path(job.work_dir) / "lz" / which
    return None


@main.command()
@_common
@click.argument("job_id")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Directory to unpack into (default ./JOB_ID).")
@hub_options
def results(job_id: str, output: Path | None) -> None:
    """Unpack a job's new and modified files; its manifest and logs go under DIR/.lz/."""
    hub = hub_target()
    if hub is not None:
        from lz.hub import jobs_cli

        return jobs_cli.results(hub, job_id, output)
    from lz.collect import unpack_results

    settings = _settings()
    store = _store(settings)
    job = store.find(job_id)
    stored = settings.results_dir / job.id
    if job.results_at is None or not stored.exists():
        raise UserError(f"job {job.id} has no results yet (it is {job.state})"
                        if job.state != State.CLEANED else f"job {job.id} has no stored results")
    target = output or Path(job.id)
    unpack_results(stored, target)
    click.echo(str(target))


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command(name="upgrade")
@_common
def db_upgrade() -> None:
    """Apply the schema migrations (the daemon also does this when it starts)."""
    settings = _settings()
    upgrade(make_engine(settings.db))
    click.echo(f"{settings.db}: up to date")


@main.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("state_diagrams"),
              help="Where to write the diagram (default ./state_diagrams).")
def diagram(directory: Path) -> None:
    """Redraw the job lifecycle diagram from the state machine's definition."""
    from lz.diagram import write

    for path in write(directory):
        click.echo(str(path))


from lz.hub.cli import register as _register_hub  # noqa: E402  (lz hub, lz station, lz zones)

_register_hub(main)

if __name__ == "__main__":  # pragma: no cover
    main()
