"""Commands about the landing zone itself: run (and its Galileo name), db, diagram, deps."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from lz.cli.common import common, main, settings, store
from lz.cli.exit_codes import ExitCode
from lz.core.choices import CONTAINERS, EXECUTORS, RUNTIMES


def _run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--name", default=None, help="Name of this landing zone."),
        click.option("--container", type=click.Choice(CONTAINERS), default=None,
                     help="slurm: submit jobs to SLURM; otherwise run them here with that runtime "
                          "(the original product's flag)."),
        click.option("--executor", type=click.Choice(EXECUTORS), default=None,
                     help="Where jobs run: here (local) or through SLURM."),
        click.option("--runtime", type=click.Choice(RUNTIMES), default=None,
                     help="What jobs run in (default: auto-detect)."),
        click.option("--sandbox/--no-sandbox", "apptainer_sandbox", default=None,
                     help="Apptainer/Singularity: build writable sandbox directories instead of SIF files."),
        click.option("--tick", "tick_s", type=float, default=None, help="Seconds between ticks (default 5)."),
        click.option("--workers", type=int, default=None, help="Parallel builds and collections (default 4)."),
        click.option("--metrics", default=None, metavar="HOST:PORT",
                     help="Serve Prometheus metrics at http://HOST:PORT/metrics (setting: metrics)."),
        click.option("-v", "--verbose", count=True, help="More log output."),
        click.option("--log", "log_file", type=click.Path(path_type=Path), default=None,
                     help="Log to this file (reopened on SIGHUP) instead of stderr."),
        click.option("--log-max", default=None, help="Rotate the log file at this size (e.g. 100M; keeps 5)."),
        click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
                     help="json: one object per line, for log shippers."),
        click.option("--hub", default=None, help="Take jobs from this hub too (setting hub; env LZ_HUB)."),
        click.option("--token", "token_file", default=None,
                     help="Hub token file (env LZ_TOKEN_FILE; default $XDG_CONFIG_HOME/lz/token)."),
        click.option("--max-running", type=int, default=None, help="Hub jobs at once (default: the CPUs)."),
        click.option("--allow-insecure-hub", "allow_insecure_hub", is_flag=True, default=None,
                     help="Allow a plain http:// hub on another machine (setting allow_insecure_hub)."),
    ]):
        func = option(func)
    return func


@main.command()
@common
@_run_options
def run(verbose: int, **flags: Any) -> None:
    """Run the landing zone daemon (stop with SIGTERM or Ctrl-C; SIGHUP reopens the log file;
    jobs resume on the next start)."""
    start_daemon(verbose, flags)


def start_daemon(verbose: int, flags: dict[str, Any]) -> None:
    from lz.core.errors import UserError
    from lz.daemon import run_daemon
    from lz.ops import logfile

    log_file, log_max, log_format = flags.pop("log_file"), flags.pop("log_max"), flags.pop("log_format")
    try:
        loaded = settings(**flags)
        max_bytes = _size_bytes("--log-max", log_max) if log_max else 0
        try:
            logfile.configure(path=log_file, max_bytes=max_bytes, fmt=log_format, verbose=verbose)
        except OSError as exc:
            raise UserError(f"--log {log_file}: {exc.strerror or exc}") from None
        from lz.cli.hub_target import agent_options
        from lz.daemon import get_ready
        from lz.hub.agent.pilot import detect

        # a zone that cannot start says so before anyone logs in for it (a pilot's own state
        # folder is chosen after the login: it is checked then)
        ready = get_ready(loaded) if detect(os.environ) is None else None
        try:
            hub = agent_options(loaded.hub or None, loaded.token_file or None, loaded.max_running or None,
                                name=getattr(loaded, "name", None),
                                stations=click.get_current_context().meta.get("lz.stations", ()),
                                allow_insecure=loaded.allow_insecure_hub)
        except BaseException:
            if ready is not None:
                ready.release()
            raise
        if hub is not None:
            from lz.hub.agent.pilot import as_pilot

            loaded, hub = as_pilot(loaded, hub)  # inside a SLURM allocation: a pilot
        code = run_daemon(loaded, hub=hub, ready=ready if hub is None or hub.pilot is None else None)
    except UserError as exc:
        click.echo(f"lz: error: {exc}", err=True)
        code = ExitCode.USAGE
    sys.exit(code)


def _size_bytes(option: str, text: str) -> int:
    """``100M`` -> bytes; a bare number is MiB (as memory everywhere in lz)."""
    from lz.core.errors import UserError
    from lz.core.resources import parse_memory

    try:
        return parse_memory(text) << 20
    except UserError as exc:
        raise UserError(f"{option}: {exc}") from None


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command(name="upgrade")
@common
def db_upgrade() -> None:
    """Apply the schema migrations (the daemon also does this when it starts)."""
    from lz.store.db import make_engine
    from lz.store.migrate import upgrade

    loaded = settings()
    upgrade(make_engine(loaded.db))
    click.echo(f"{loaded.db}: up to date")


@main.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("state_diagrams"),
              help="Where to write the diagram (default ./state_diagrams).")
def diagram(directory: Path) -> None:
    """Redraw both lifecycle diagrams (the landing zone's job, the hub's job) from their tables."""
    from lz.ops.diagram import write

    for path in write(directory):
        click.echo(str(path))


@main.command()
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("docs"),
              help="Where to write the picture (default ./docs).")
def deps(directory: Path) -> None:
    """Redraw the picture of lz's folders and their imports by layer; count import cycles and
    arrows back up (both must be 0: exit 1 otherwise, each one listed)."""
    from lz.ops import architecture

    for path in architecture.write(directory):
        click.echo(str(path))
    edges = architecture.module_imports()
    found = architecture.cycles(edges)
    wrong = architecture.arrows_up(edges)
    for cycle in found:
        click.echo("cycle: " + " -> ".join(cycle))
    for arrow in wrong:
        click.echo(f"arrow back up: {arrow}")
    click.echo(architecture.summary())
    if found or wrong:
        raise SystemExit(ExitCode.FAILED)


@main.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script (commands, options and job ids).

    \b
    bash:  lz completion bash > ~/.local/share/bash-completion/completions/lz
    zsh:   lz completion zsh > "${fpath[1]}/_lz"
    fish:  lz completion fish > ~/.config/fish/completions/lz.fish
    """
    from lz.cli.complete import script

    click.echo(script(shell), nl=False)


@main.command()
@common
@click.option("--hub", default=None, help="The hub to check (default LZ_HUB; none: the hub checks are skipped).")
@click.option("--token", "token_file", type=click.Path(path_type=Path), default=None,
              help="The hub token file (default LZ_TOKEN_FILE, else $XDG_CONFIG_HOME/lz/token).")
@click.option("--no-build", is_flag=True, help="Skip the container runtime's tiny build.")
@click.option("--container", type=click.Choice(CONTAINERS), default=None,
              help="Check for a landing zone run with this --container (default: the settings', else the "
                   "runtime its daemon last used).")
def doctor(hub: str | None, token_file: Path | None, no_build: bool, container: str | None) -> None:
    """Check what this landing zone needs: Slurm, the work root (from a compute node too), the
    container runtime, the hub and its token, the clock. One line per check (ok, warn, fail, skip),
    a fix for each failure or warning; only failures make it exit 1."""
    import os

    from lz.ops.doctor import checks, hub_from

    loaded = settings(container=container)
    recorded = None
    if loaded.db.exists():
        recorded = store(loaded).status().runtime
    env_hub, env_token = hub_from(os.environ)
    hub = hub or loaded.hub or env_hub
    token_file = token_file or (Path(loaded.token_file) if loaded.token_file not in ("", "none") else env_token)
    failed = 0
    for check in checks(loaded, hub=hub, token_file=token_file, build=not no_build, recorded_runtime=recorded):
        click.echo(check.line())
        failed += check.verdict == "fail"
    if failed:
        click.echo(f"lz doctor: {failed} check{'s' if failed != 1 else ''} failed", err=True)
        sys.exit(ExitCode.FAILED)
