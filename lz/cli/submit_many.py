"""``lz submit DIR1 DIR2 …``: many jobs in one process (issue 23). One process pays Python's and
the database's start once, not once per folder: each further job costs its copy and its commit.

Each folder is received as ``lz submit DIR`` would (the same intake, the same overrides); a folder
intake refuses is said on stderr and recorded rejected, and the others are still submitted; the
ids of those received are printed, one a line, in the order given. Every path is checked before
anything is submitted, so a mistyped one submits nothing.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from lz.cli.exit_codes import ExitCode


def submit_many(paths: Sequence[Path], name: str | None, overrides: Mapping[str, Any], station: str | None,
                as_json: bool) -> None:
    from lz.client import Client, Rejected
    from lz.core.errors import UserError

    missing = [p for p in paths if not p.exists()]
    if missing:
        raise UserError(f"{missing[0]}: no such file or directory (nothing was submitted)")
    if station is not None:
        from lz.cli.hub_target import target

        client = Client.for_hub(target(required=True))  # type: ignore[arg-type]
    else:
        if overrides.get("max_attempts") is not None:
            raise UserError("--max-attempts is for hub jobs (--station): a landing zone runs each job once "
                            "(nothing was submitted)")
        from lz.cli.common import settings

        loaded = settings()
        client = Client.for_settings(loaded)
    submitted, refused = [], 0
    for path in paths:
        try:
            job = client.submit(path, station=station, name=name, **overrides)
        except Rejected as exc:
            refused += 1
            click.echo(f"lz: error: {path}: {exc}", err=True)
            click.echo(f"lz: job {exc.job.id if exc.job else '?'} recorded as rejected", err=True)
            continue
        submitted.append(job)
    where = f"station {station}" if station is not None else "the landing zone"
    click.echo(f"lz: {len(submitted)} jobs submitted to {where}" + (f", {refused} refused" if refused else ""), err=True)
    if station is None and not client.landing_zone_running():
        click.echo(f"lz: no landing zone is running on {loaded.db}; the jobs start when one does", err=True)
    if as_json:
        click.echo(json.dumps([job.data for job in submitted], indent=2))
    for job in submitted:
        click.echo(job.id)
    if refused:
        sys.exit(ExitCode.USAGE)
