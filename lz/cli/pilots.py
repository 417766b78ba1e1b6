"""``lz pilots submit|list|stop``: landing zones as a SLURM job array (one ``sbatch`` for all)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from lz.cli.common import Group, main
from lz.cli.hub_target import hub_options, target


@main.group(name="pilots", cls=Group)
def pilots() -> None:
    """Pilots: landing zones that run inside SLURM allocations and take the hub's jobs."""


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    from lz.core.errors import UserError

    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"{argv[0]}: {exc}") from None


@pilots.command()
@click.option("--count", type=int, required=True, help="How many pilots (array tasks).")
@click.option("--name-pattern", default="pilot_{index}", show_default=True,
              help="Landing-zone names; {index} is the array task id.")
@click.option("--time", default=None, help="Each pilot's walltime (sbatch --time).")
@click.option("--cpus", type=int, default=None, help="CPUs per pilot (sbatch --cpus-per-task).")
@click.option("--memory", default=None, help="Memory per pilot (sbatch --mem).")
@click.option("--partition", default=None)
@click.option("--image", type=click.Path(path_type=Path), default=None, help="The pilot image (.sif).")
@click.option("--no-image", is_flag=True, help="Run the lz installed here (a shared filesystem), no image.")
@click.option("--output-dir", type=click.Path(path_type=Path), default=None, help="Where the pilots' .out files go.")
@click.option("--dry-run", is_flag=True, help="Print the batch file; submit nothing.")
@hub_options
def submit(count: int, name_pattern: str, time: str | None, cpus: int | None, memory: str | None,
           partition: str | None, image: Path | None, no_image: bool, output_dir: Path | None, dry_run: bool) -> None:
    """Write the job-array batch file and submit it with one sbatch; prints the array id."""
    from lz.core.errors import UserError
    from lz.slurm.pilot_array import PilotArray, batch_script, parse_array_id, sbatch_argv

    if image is not None and no_image:
        raise UserError("--image and --no-image exclude each other")
    if image is None and not no_image:
        raise UserError("give --image PATH.sif (the pilot image) or --no-image")
    if image is not None:
        _check_fakeroot(dry_run)
    found = target(required=True)
    assert found is not None
    script = batch_script(PilotArray(
        count=count, name_pattern=name_pattern, hub=found.url, token_file=str(found.token_file.resolve()),
        lz=[sys.executable, "-m", "lz"], time=time, cpus=cpus, memory=memory, partition=partition,
        image=str(image.resolve()) if image else None, output_dir=str(output_dir.resolve()) if output_dir else None,
        allow_insecure_hub=found.insecure_allowed))
    if dry_run:
        click.echo(script, nl=False)
        return
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local/state") / "lz" / "pilots"
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = state / f"pilots-{os.getpid()}.sbatch"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(script)
    done = _run(sbatch_argv(str(path)))
    if done.returncode != 0:
        raise UserError(f"sbatch: {(done.stderr or done.stdout).strip().splitlines()[-1:] or ['failed']}")
    click.echo(parse_array_id(done.stdout))


def _check_fakeroot(dry_run: bool) -> None:
    """The image runs with ``apptainer run --fakeroot``: without subordinate ids every pilot would
    die at once, so nothing is submitted (a dry run says so and prints the file anyway)."""
    import pwd

    from lz.core.errors import UserError
    from lz.host.subids import SUBGID, SUBUID, fakeroot_ready

    user = pwd.getpwuid(os.getuid()).pw_name
    found = fakeroot_ready(user, os.getuid(), subuid=SUBUID, subgid=SUBGID)
    if found.ok:
        return
    message = f"--image runs apptainer --fakeroot: {found.detail}; {found.fix}"
    if not dry_run:
        raise UserError(message + " (nothing was submitted)")
    click.echo(f"lz: warning: {message}", err=True)


@pilots.command(name="list")
@click.option("--name-pattern", default="pilot_{index}", show_default=True)
@hub_options
def list_pilots(name_pattern: str) -> None:
    """Each pilot's SLURM state, hub status, jobs held and time left."""
    from lz.core.errors import UserError
    from lz.slurm.pilot_array import parse_squeue, slurm_job_name, squeue_argv

    asked = _run(squeue_argv(slurm_job_name(name_pattern)))
    if asked.returncode != 0:  # an empty table would say "no pilots", which nobody knows
        raise UserError(f"squeue: {(asked.stderr.strip() or asked.stdout.strip() or 'failed').splitlines()[-1]}")
    tasks = parse_squeue(asked.stdout)
    found = target(required=False)
    zones: dict[str, Any] = {}
    if found is not None:
        zones = {z["name"]: z for z in found.client().get("/api/v1/zones")}
    rows = [("NAME", "SLURM JOB", "SLURM STATE", "HUB", "JOBS HELD", "TIME LEFT")]
    for task in tasks:
        name = name_pattern.replace("{index}", task["index"])
        zone = zones.get(name)
        hub = "-" if zone is None else ("online" if zone["online"] else "offline")
        rows.append((name, f"{task['job_id']}", task["state"], hub, str(zone["running"]) if zone else "-",
                     task["time_left"]))
    from lz.core.tables import columns

    click.echo(columns(rows))


@pilots.command()
@click.option("--name-pattern", default="pilot_{index}", show_default=True)
def stop(name_pattern: str) -> None:
    """Cancel the pilots by name (scancel --name): each drains, handing its jobs back."""
    from lz.core.errors import UserError
    from lz.slurm.pilot_array import scancel_argv, slurm_job_name

    done = _run(scancel_argv(slurm_job_name(name_pattern)))
    if done.returncode != 0:
        raise UserError(f"scancel: {done.stderr.strip() or 'failed'}")


@pilots.group(name="image", cls=Group)
def image_group() -> None:
    """The pilot image (landing-zone-daemon.def, shipped with lz)."""


@image_group.command(name="build")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=Path("landing-zone-daemon.sif"),
              show_default=True, help="Where the image goes (replaced when it exists).")
def build_image(output: Path) -> None:
    """Build the pilot image offline from this lz, its interpreter and its dependencies (Apptainer);
    prints the image's path."""
    from lz.core.errors import UserError
    from lz.ops.pilot_image import ImageError, build

    output = output.resolve()
    if not output.parent.is_dir():
        raise UserError(f"{output.parent}: no such directory")
    try:
        click.echo(build(output))
    except (ImageError, OSError) as exc:
        raise UserError(f"pilot image: {exc}") from None
