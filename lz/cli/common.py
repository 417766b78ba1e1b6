"""What every command shares: the root group, --config/--db/--workdir, settings and the store."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lz import __version__

if TYPE_CHECKING:
    from lz.config import Settings
    from lz.store.jobs import JobStore


class Group(click.Group):
    """Turns a UserError (a mistake with a one-line message), a hub that does not answer, or a
    database that cannot be used, into one line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        from lz.core.errors import Unavailable, UserError

        try:
            return super().invoke(ctx)
        except (UserError, Unavailable) as exc:
            click.echo(f"lz: error: {exc}", err=True)
            ctx.exit(2)
        except Exception as exc:
            from sqlalchemy.exc import OperationalError

            if not isinstance(exc, OperationalError):
                raise
            # the database is unreachable, read-only or locked past the busy timeout: not a bug
            click.echo(f"lz: error: database: {exc.orig}", err=True)
            ctx.exit(2)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lz")
def main() -> None:
    """lz, the Landing Zone: build, run and collect container jobs on a SLURM cluster."""


def common(func: Callable[..., Any]) -> Callable[..., Any]:
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


def settings(**extra_flags: Any) -> Settings:
    from lz.config import load_settings

    ctx = click.get_current_context()
    flags = {**ctx.meta.get("lz.flags", {}), **extra_flags}
    loaded = load_settings(ctx.meta.get("lz.config_file"), flags=flags)
    os.umask(loaded.umask)
    return loaded


def store(loaded: Settings) -> JobStore:
    """The job store; a new or older database is brought up to date first (the CLI works while
    the daemon is down), checked cheaply so the usual call never loads Alembic."""
    from lz.core.errors import ConfigError
    from lz.store.db import make_engine
    from lz.store.jobs import JobStore
    from lz.store.migrate import needs_upgrade, upgrade

    try:
        private_dirs(loaded)
        engine = make_engine(loaded.db)
        if needs_upgrade(engine):
            upgrade(engine)
    except OSError as exc:
        raise ConfigError(f"database {loaded.db}: {exc.strerror or exc}") from None
    return JobStore(engine)


def private_dirs(loaded: Settings) -> None:
    """The state directory (database, spool, results) exists and is closed to other users: it holds
    every job's environment, which often carries secrets."""
    from lz.host.fs import private_directory

    private_directory(loaded.state_dir, group=loaded.group_access)
