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
    made = placing.units(exec_path or _this_lz(), placement, hub=hub, account=account,
                         stop_grace_s=loaded.stop_grace_s, env_dir=real.env_dir)
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
