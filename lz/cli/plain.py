"""What the command line does without click, for ``lz.cli.entry``'s fast path and the click
commands alike: load the settings, submit to this landing zone. Output is flushed line by line,
as ``click.echo`` does (a caller reading both streams sees them in order)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lz.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from lz.client import Job
    from lz.config import Settings


def settings(config_file: Path | None, flags: Mapping[str, Any]) -> Settings:
    """The settings of ``--config`` and the flags, and their umask set (every command's)."""
    from lz.config import load_settings

    loaded = load_settings(config_file, flags=flags)
    os.umask(loaded.umask)
    return loaded


def submit_here(loaded: Settings, path: Path, fields: Mapping[str, Any], wait: bool, as_json: bool) -> Job:
    """Submit to this landing zone and say so as ``lz submit`` does (the click command's and the
    fast path's one implementation); without ``wait`` the id is printed last. A refusal is said
    and exits 2."""
    import json

    from lz.client import Client, Rejected

    client = Client.for_settings(loaded)
    try:
        submitted = client.submit(path, **fields)
    except Rejected as exc:
        print(f"lz: error: {exc}", file=sys.stderr, flush=True)
        print(f"lz: job {exc.job.id if exc.job else '?'} recorded as rejected", file=sys.stderr, flush=True)
        sys.exit(ExitCode.USAGE)
    if not client.landing_zone_running():
        print(f"lz: no landing zone is running on {loaded.db}; the job starts when one does", file=sys.stderr, flush=True)
    elif not wait:
        print(f"lz: job {submitted.id} received", file=sys.stderr, flush=True)
    if not wait:
        if as_json:
            print(json.dumps(submitted.data, indent=2), flush=True)
        print(submitted.id, flush=True)
    return submitted
