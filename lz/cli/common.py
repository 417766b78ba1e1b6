"""What every command shares: the root group, --config/--db/--workdir, settings and the store."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lz.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from lz.config import Settings
    from lz.store.jobs import JobStore


HUB_PACKAGES = frozenset({"fastapi", "starlette", "uvicorn", "jinja2", "argon2", "psycopg", "jwt", "cryptography"})
"""What ``pip install 'lz[hub]'`` adds (setup.cfg's [hub] extra): a landing zone installs without it."""


class Group(click.Group):
    """Turns a UserError (a mistake with a one-line message), a hub that does not answer, a database
    that cannot be used, or a hub command on an install without the hub's packages, into one line and
    exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        from lz.core.errors import Unavailable, UserError

        try:
            return super().invoke(ctx)
        except (UserError, Unavailable) as exc:
            click.echo(f"lz: error: {exc}", err=True)
            ctx.exit(ExitCode.USAGE)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] not in HUB_PACKAGES:
                raise
            where = " ".join(filter(None, (ctx.command_path, ctx.invoked_subcommand)))
            click.echo(f"lz: error: {where}: the hub's packages are not installed (no module {exc.name}): "
                       "pip install 'lz[hub]'", err=True)
            ctx.exit(ExitCode.USAGE)
        except Exception as exc:
            from sqlalchemy.exc import OperationalError

            if not isinstance(exc, OperationalError):
                raise
            # the database is unreachable, read-only or locked past the busy timeout: not a bug
            click.echo(f"lz: error: database: {exc.orig}", err=True)
            ctx.exit(ExitCode.USAGE)


class LazyGroup(Group):
    """A group whose commands' modules are imported when a command is asked for by name (issue 23):
    ``lz submit`` pays for its own module, not for every command's. ``lazy`` maps a command name to
    the module that registers it on import, or ``module:function`` for a module whose function
    registers several (called with the group). Whoever reads ``commands`` itself (help, man pages,
    the docs' tests) gets them all, loaded then."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lazy: dict[str, str] = {}
        self._loading = 0
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def commands(self) -> MutableMapping[str, click.Command]:
        if self.lazy and not self._loading:
            for name in list(self.lazy):
                self._load(name)
        return self._commands

    @commands.setter
    def commands(self, value: MutableMapping[str, click.Command]) -> None:
        self._commands = value

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self._commands and cmd_name in self.lazy:
            self._load(cmd_name)
        return self._commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self._commands, *self.lazy})

    def _load(self, name: str) -> None:
        where = self.lazy.get(name)
        if where is None:  # loaded meanwhile, with another name of the same module
            return
        module, _, register = where.partition(":")
        self._loading += 1
        try:
            loaded = importlib.import_module(module)
            if register:
                getattr(loaded, register)(self)
        finally:
            self._loading -= 1
        self.lazy = {k: v for k, v in self.lazy.items() if v != where}


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=lambda ctx, _p, v: _version(ctx, v),
              help="Show the version (from the git tag it was built from) and exit.")
def main() -> None:
    """lz, the Landing Zone: build, run and collect container jobs on a SLURM cluster."""


COMMAND_MODULES = {  # command -> the module that registers it (``module:function``: that function does)
    "submit": "lz.cli.submit",
    **dict.fromkeys(("status", "cancel", "logs", "results", "resubmit"), "lz.cli.jobs"),
    **dict.fromkeys(("run", "db", "deps", "diagram", "doctor", "completion"), "lz.cli.admin"),
    **dict.fromkeys(("kill", "pause", "resume", "stop", "top"), "lz.cli.control"),
    "pilots": "lz.cli.pilots",
    "service": "lz.cli.service",
    "config": "lz.cli.settings_cmd",
    **dict.fromkeys(("hub", "station", "zones", "login", "token", "usage"), "lz.cli.hub:register"),
}
main.lazy.update(COMMAND_MODULES)


def _version(ctx: click.Context, asked: bool) -> None:
    if asked and not ctx.resilient_parsing:
        import lz

        click.echo(f"lz {lz.__version__}")
        ctx.exit()


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
    from lz.cli.plain import settings as loaded_settings

    ctx = click.get_current_context()
    return loaded_settings(ctx.meta.get("lz.config_file"), {**ctx.meta.get("lz.flags", {}), **extra_flags})


def store(loaded: Settings) -> JobStore:
    """The job store, brought up to date first (``lz.client.local.open_store``: the Python API's too)."""
    from lz.client.local import open_store

    return open_store(loaded)
