"""``lz service install``: systemd units for the gateway and the hub."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from lz.cli.common import common, main, settings


@main.group()
def service() -> None:
    """Run lz under systemd."""


@service.command(name="install")
@common
@click.option("--user", "user_mode", is_flag=True, help="A user unit (~/.config/systemd/user) instead of a system one.")
@click.option("--hub", is_flag=True, help="The hub's unit (lz hub serve) instead of the gateway's (lz run).")
@click.option("--account", default="lz", show_default=True, help="System units: the account the service runs as.")
@click.option("--exec", "exec_path", default=None, help="The lz executable (default: this one).")
@click.option("--root", type=click.Path(path_type=Path), default=Path("/"),
              help="Write under this directory instead of / (packaging, tests).")
@click.option("--dry-run", is_flag=True, help="Print the files instead of writing them.")
def install(user_mode: bool, hub: bool, account: str, exec_path: str | None, root: Path, dry_run: bool) -> None:
    """Write the unit and its environment file (kept if it exists), then print the systemctl steps."""
    from lz.service import install as placing

    loaded = settings()
    placement = placing.Placement.for_mode(user_mode, root)
    real = placing.Placement.for_mode(user_mode)
    program = exec_path or _this_lz()
    made = placing.units(program, placement, hub=hub, account=account,
                         stop_grace_s=loaded.stop_grace_s, env_dir=real.env_dir)
    if not user_mode and not dry_run and root == Path("/"):
        _account_ready(account, Path(program))
    if dry_run:
        for unit in made:
            click.echo(f"# {real.unit_dir / unit.name}\n{unit.text}\n# {real.env_dir / unit.env_name}\n{unit.env_text}")
        return
    for path in placing.write(made, placement):
        click.echo(str(path))
    click.echo("next:", err=True)
    for line in placing.next_steps(made, user_mode):
        click.echo(f"  {line}", err=True)


def _this_lz() -> str:
    """The absolute path of the running ``lz`` (a venv's script), else the one on PATH."""
    beside = Path(sys.executable).parent / "lz"
    if beside.exists():
        return str(beside)
    return shutil.which("lz") or str(beside)


def _account_ready(account: str, program: Path) -> None:
    """The system unit's account exists (made here when missing, as root) and can run ``program``."""
    import os
    import subprocess

    from lz.core.errors import UserError
    from lz.service import account as accounts

    if not accounts.exists(account):
        argv = accounts.create_argv(account)
        if os.geteuid() != 0:
            raise UserError(f"no account {account!r}: create it as root ({' '.join(argv)}) or pass --account")
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise UserError(f"{' '.join(argv)}: {(done.stderr.strip() or 'failed').splitlines()[-1]}")
        click.echo(f"created the system account {account} (home /var/lib/lz)", err=True)
    why = accounts.unreachable(program, account)
    if why is not None:
        raise UserError(f"{why}; install lz where it can, e.g. python3 -m venv /opt/lz && /opt/lz/bin/pip install "
                        f"lz, then: lz service install --exec /opt/lz/bin/lz")
