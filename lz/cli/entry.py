"""The ``lz`` command's entry point (the console script and ``python -m lz``): the usual ``lz submit
DIR`` without click (issue 23), everything else through click.

A sweep runs ``lz submit`` once per job, and importing click is a third of such a process. So a
plain submission of one folder to this landing zone, with the flags listed below, is parsed here
by ``parse_submit`` (pure; ``tests/unit/cli/test_entry.py`` checks it against click's own parse
of the same command line) and carried out by ``lz.cli.plain.submit_here``, which the click
command calls too. Anything else (help, a hub's ``--station``, ``--wait``, several folders, a flag
not listed, a flag given twice, anything this parser does not read exactly as click would) goes to
click unchanged, which answers as it always did.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lz.cli.exit_codes import ExitCode

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
    except KeyboardInterrupt:  # as click says it
        print("\nAborted!", file=sys.stderr)
        sys.exit(ExitCode.FAILED)
    sys.exit(ExitCode.OK)


def quick_submit(params: Mapping[str, Any]) -> None:
    from lz.core.errors import UserError

    path = params["paths"][0]
    if not path.exists():  # as the click command
        raise UserError(f"{path}: no such file or directory (nothing was submitted)")
    from lz.cli.plain import settings, submit_here

    loaded = settings(params.get("config_file"), {"db": params.get("db"), "workdir": params.get("workdir")})
    wanted = {k: params.get(k) for k in ("name", "cpus", "memory", "gpus", "partition", "tasks", "nodes",
                                         "tasks_per_node", "array")}
    submit_here(loaded, path, {**wanted, "time": params.get("time_"), "after": params["after"]}, wait=False,
                as_json=bool(params.get("as_json")))
