"""The ``lz`` command's entry point (the console script and ``python -m lz``): the usual ``lz submit
DIR`` without click (issue 23), everything else through click.

A sweep runs ``lz submit`` once per job, and importing click is a third of such a process. So a
plain submission of one folder to this landing zone, with the flags listed below, is parsed here
by ``parse_submit`` (pure; ``tests/unit/cli/test_entry.py`` checks it against click's own parse
of the same command line) and carried out by ``submit_here``, the function the click command calls
too. Anything else (help, a hub's ``--station``, ``--wait``, several folders, a flag not listed, a
flag given twice, anything this parser does not read exactly as click would) goes to click
unchanged, which answers as it always did.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lz.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from lz.client import Job
    from lz.config import Settings

VALUES = {  # submit's flags that take a value -> the parameter click gives the command
    "-J": "name", "--name": "name", "--job-name": "name",
    "-c": "cpus", "--cpus": "cpus", "--cpus-per-task": "cpus",
    "--mem": "memory", "--memory": "memory",
    "-G": "gpus", "--gpus": "gpus",
    "-t": "time_", "--time": "time_",
    "-p": "partition", "--partition": "partition",
    "-n": "tasks", "--ntasks": "tasks", "--tasks": "tasks",
    "-N": "nodes", "--nodes": "nodes",
    "--ntasks-per-node": "tasks_per_node", "--tasks-per-node": "tasks_per_node",
    "-a": "array", "--array": "array",
    "--config": "config_file", "--db": "db", "--workdir": "workdir",
}
REPEATED = {"--after": "after"}  # given once per value, collected in order
FLAGS = {"--json": "as_json"}
PATHS = ("config_file", "db", "workdir")  # click.Path(path_type=Path)


def parse_submit(args: Sequence[str]) -> dict[str, Any] | None:
    """``lz submit``'s parameters as click would pass them (``paths`` a tuple of one Path), from
    the arguments after ``submit``; None where click must parse them."""
    found: dict[str, Any] = {"after": ()}
    paths: list[Path] = []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("-") or arg == "-":
            if arg == "-":
                return None
            paths.append(Path(arg))
            continue
        name, equals, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in FLAGS and not equals and FLAGS[name] not in found:
            found[FLAGS[name]] = True
            continue
        dest = VALUES.get(name) or REPEATED.get(name)
        if dest is None or (dest in found and name not in REPEATED):
            return None  # not a flag of this path (or a short flag with its value attached), or given twice
        if not equals:
            if not rest or rest[0].startswith("-"):
                return None  # click decides what a value that looks like a flag means
            value = rest.pop(0)
        if name in REPEATED:
            found[dest] = (*found[dest], value)
        else:
            found[dest] = Path(value) if dest in PATHS else value
    if len(paths) != 1:
        return None
    return {"paths": tuple(paths), **found}


def run(argv: Sequence[str] | None = None) -> None:
    """``lz``: a plain ``lz submit DIR`` here, anything else through click."""
    args = list(sys.argv[1:] if argv is None else argv)
    params = parse_submit(args[1:]) if args[:1] == ["submit"] else None
    if params is None:
        from lz.cli.common import main

        main(args)
        return
    from lz.core.errors import Unavailable, UserError

    try:
        quick_submit(params)
    except (UserError, Unavailable) as exc:  # as the click group (lz.cli.common.Group) says them
        print(f"lz: error: {exc}", file=sys.stderr)
        sys.exit(ExitCode.USAGE)
    sys.exit(0)


def quick_submit(params: Mapping[str, Any]) -> None:
    from lz.core.errors import UserError

    path = params["paths"][0]
    if not path.exists():  # as the click command
        raise UserError(f"{path}: no such file or directory (nothing was submitted)")
    loaded = settings(params.get("config_file"), {"db": params.get("db"), "workdir": params.get("workdir")})
    wanted = {k: params.get(k) for k in ("name", "cpus", "memory", "gpus", "partition", "tasks", "nodes",
                                         "tasks_per_node", "array")}
    submit_here(loaded, path, {**wanted, "time": params.get("time_"), "after": params["after"]}, wait=False,
                as_json=bool(params.get("as_json")))


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
        print(f"lz: error: {exc}", file=sys.stderr)
        print(f"lz: job {exc.job.id if exc.job else '?'} recorded as rejected", file=sys.stderr)
        sys.exit(ExitCode.USAGE)
    if not client.landing_zone_running():
        print(f"lz: no landing zone is running on {loaded.db}; the job starts when one does", file=sys.stderr)
    elif not wait:
        print(f"lz: job {submitted.id} received", file=sys.stderr)
    if not wait:
        if as_json:
            print(json.dumps(submitted.data, indent=2))
        print(submitted.id)
    return submitted
