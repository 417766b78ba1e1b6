"""``galileod``: the original daemon's flags, meaning what they meant, on top of ``lz run``.

``-c/--container``, ``-n/--name`` (default: the hostname), ``-t/--token`` (default
``~/.galileod/token`` when it exists, else lz's default; ``none``: in memory only), ``--config``,
``--config-dir``, ``-o/--log``, ``-w/--work-dir`` ($TMPDIR, $TEMP, $TMP, /tmp otherwise),
``--stations`` (Stations to join at start). lz run's other options work too."""

from __future__ import annotations

import socket
import sys
from pathlib import Path
from typing import Any

import click

from lz.cli.exit_codes import ExitCode
from lz.core.choices import CONTAINERS, EXECUTORS, RUNTIMES


class _OneLine(click.Command):
    """A wrong or unknown flag is one line, not click's usage block."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            return super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"galileod: error: {exc.format_message()} (galileod --help lists the flags)", err=True)
            sys.exit(ExitCode.USAGE)
        except click.Abort:
            sys.exit(ExitCode.FAILED)


def default_token(home: Path | None = None) -> str | None:
    """``~/.galileod/token`` when it exists (where the original kept it), else lz's default."""
    path = (home or Path.home()) / ".galileod" / "token"
    return str(path) if path.exists() else None


@click.command(name="galileod", cls=_OneLine, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--container", type=click.Choice(CONTAINERS), default=None,
              help="slurm: submit jobs to SLURM; otherwise run them here with that runtime.")
@click.option("-n", "--name", default=None, help="Name of this landing zone (default: the hostname).")
@click.option("-t", "--token", "token_file", default=None,
              help="Token file (default ~/.galileod/token when it exists, else $XDG_CONFIG_HOME/lz/token); "
                   "none: log in and keep the token in memory only.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Configuration file (default <config dir>/config.toml).")
@click.option("--config-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Directory of config.toml (default $XDG_CONFIG_HOME/lz).")
@click.option("-o", "--log", "log_file", type=click.Path(path_type=Path), default=None,
              help="Log to this file (reopened on SIGHUP) instead of stderr.")
@click.option("-w", "--work-dir", "workdir", type=click.Path(path_type=Path), default=None,
              help="Work root (default $TMPDIR, $TEMP, $TMP, else /tmp).")
@click.option("--stations", default=None, help="Stations to join at start, by name (comma-separated).")
@click.option("--hub", default=None, help="Hub URL (setting hub; env LZ_HUB).")
@click.option("--allow-insecure-hub", "allow_insecure_hub", is_flag=True, default=None,
              help="Allow a plain http:// hub on another machine (setting allow_insecure_hub).")
@click.option("--max-running", type=int, default=None, help="Hub jobs at once (default: the CPUs).")
@click.option("--executor", type=click.Choice(EXECUTORS), default=None, help="Where jobs run.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default=None, help="What jobs run in.")
@click.option("--db", type=click.Path(path_type=Path), default=None, help="SQLite database (env LZ_DB).")
@click.option("--tick", "tick_s", type=float, default=None, help="Seconds between ticks (default 5).")
@click.option("-v", "--verbose", count=True, help="More log output.")
def galileod_command(config_file: Path | None, config_dir: Path | None, workdir: Path | None, db: Path | None,
                     token_file: str | None, name: str | None, stations: str | None, verbose: int,
                     log_file: Path | None, **flags: Any) -> None:
    """The landing zone daemon under its original name and flags."""
    from lz.cli import admin

    if config_file is None and config_dir is not None:
        config_file = config_dir / "config.toml"
    ctx = click.get_current_context()
    ctx.meta["lz.config_file"] = config_file
    ctx.meta["lz.flags"] = {"db": db, "workdir": workdir}
    ctx.meta["lz.stations"] = tuple(s.strip() for s in (stations or "").split(",") if s.strip())
    admin.start_daemon(verbose, {
        **flags, "name": name or socket.gethostname().split(".")[0], "token_file": token_file or default_token(),
        "log_file": log_file, "log_max": None, "log_format": "text", "apptainer_sandbox": None, "workers": None,
        "metrics": None})


def galileod() -> None:
    """The ``galileod`` entry point (console script)."""
    galileod_command()
