"""``lz.cli.entry``: a plain ``lz submit DIR`` without click (issue 23), read exactly as click reads
it, and everything else left to click."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from lz.cli import main
from lz.cli.common import COMMAND_MODULES
from lz.cli.entry import FLAGS, REPEATED, VALUES, parse_submit, run
from tests.unit.cli.test_cli import env, job_folder, lz  # noqa: F401 - the fixture

__all__ = ["env"]
ROOT = Path(__file__).resolve().parents[3]

READ_HERE = [
    ["job"],
    ["job", "-c", "2", "--mem", "4G", "-G", "1", "-t", "1:00:00", "-p", "gpu", "-J", "x"],
    ["--cpus-per-task=2", "--memory=1G", "--job-name", "a b", "job", "--json"],
    ["-n", "4", "-N", "2", "--ntasks-per-node", "2", "--array", "0-9%2", "job"],
    ["--after", "abc:ok", "job", "--after=def:any", "--db", "x.db", "--workdir", "w", "--config", "c.toml"],
    ["--tasks", "2", "--tasks-per-node=1", "--nodes", "1", "--time=90", "--partition=p", "--gpus=2", "-a", "1,3", "job"],
    ["--name=", "job"],
]
LEFT_TO_CLICK = [
    [], ["-h"], ["--help"], ["job", "--wait"], ["job", "--station", "s"], ["a", "b"], ["-c2", "job"],
    ["job", "-c"], ["job", "-c", "-1"], ["job", "-c", "1", "-c", "2"], ["--json", "--json", "job"],
    ["--json=1", "job"], ["--", "job"], ["-"], ["job", "--hub", "https://h"], ["job", "--max-attempts", "2"],
    ["job", "--template", "t"], ["job", "--bogus"], ["job", "--allow-insecure-hub"], ["job", "-x"],
]


def clicks_params(args: list[str]) -> dict[str, object]:
    command = main.get_command(click.Context(main), "submit")
    assert command is not None
    return dict(command.make_context("submit", list(args)).params)


@pytest.mark.parametrize("args", READ_HERE, ids=" ".join)
def test_what_it_reads_it_reads_as_click_does(args: list[str]) -> None:
    ours = parse_submit(args)
    assert ours is not None
    theirs = clicks_params(args)
    assert {k: v for k, v in theirs.items() if v not in (None, False)} == \
        {k: v for k, v in ours.items() if v not in (None, False)}


@pytest.mark.parametrize("args", LEFT_TO_CLICK, ids=" ".join)
def test_anything_else_is_left_to_click(args: list[str]) -> None:
    assert parse_submit(args) is None


def test_every_flag_it_reads_is_one_of_submits_with_the_same_meaning() -> None:
    command = main.get_command(click.Context(main), "submit")
    assert command is not None
    options = {opt: param for param in command.params if isinstance(param, click.Option) for opt in param.opts}
    for table, kind in ((VALUES, "value"), (REPEATED, "multiple"), (FLAGS, "flag")):
        for flag, dest in table.items():
            param = options[flag]
            assert param.name == dest, flag
            assert (param.is_flag, param.multiple) == (kind == "flag", kind == "multiple"), flag


def test_a_submission_through_the_entry_point(env: dict[str, str], tmp_path: Path,  # noqa: F811
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    folder = job_folder(tmp_path)
    with pytest.raises(SystemExit) as exited:
        run(["submit", str(folder), "-c", "1", "--json"])
    out, err = capsys.readouterr()
    assert exited.value.code == 0 and "no landing zone is running" in err
    job_id = out.split()[-1]
    assert json.loads(out[: out.rindex("}") + 1])["id"] == job_id
    listed = json.loads(lz(env, "status", "--json").stdout)
    assert [(j["id"], j["state"], j["name"]) for j in listed] == [(job_id, "received", "job")]

    (folder / "lz.toml").write_text("command = 3\n")  # a bad lz.toml: refused, said, recorded
    with pytest.raises(SystemExit) as exited:
        run(["submit", str(folder)])
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == "" and err.startswith("lz: error: ") and "recorded as rejected" in err
    with pytest.raises(SystemExit) as exited:
        run(["submit", str(tmp_path / "nope")])
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"lz: error: {tmp_path / 'nope'}: no such file or directory (nothing was submitted)\n"
    (tmp_path / "big").mkdir()
    with pytest.raises(SystemExit) as exited:  # over capacity: refused at submit time, as through click
        run(["submit", str(job_folder(tmp_path / "big")), "--cpus", str((os.cpu_count() or 1) + 1)])
    assert exited.value.code == 2 and "more than this landing zone can give one job" in capsys.readouterr().err


def test_the_fast_path_never_imports_click_and_the_rest_goes_through_it(env: dict[str, str],  # noqa: F811
                                                                        tmp_path: Path) -> None:
    folder = job_folder(tmp_path)
    code = ("import atexit, sys; atexit.register(lambda: print('click' in sys.modules, file=sys.stderr)); "
            "from lz.cli.entry import run; run(sys.argv[1:])")
    run_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    for args, clicked in ((["submit", str(folder)], False), (["status"], True)):
        done = subprocess.run([sys.executable, "-c", code, *args], env=run_env, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stderr.splitlines()[-1] == str(clicked), (args, done.stderr)


@pytest.mark.parametrize("name", ["main", "galileod"])
def test_the_packages_commands_are_the_commands_not_their_modules(name: str) -> None:
    """``from lz.cli import galileod`` (the original's scripts) gives the command, though a
    submodule of the same name is imported on the way."""
    code = f"import types; from lz.cli import {name}; print(callable({name}) and not isinstance({name}, types.ModuleType))"
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "True", done.stderr


def test_every_module_that_registers_commands_is_in_the_lazy_table() -> None:
    """A command whose module is not in the table would never be imported, so never be there."""
    registering = {f"lz.cli.{p.stem}" for p in (ROOT / "lz" / "cli").glob("*.py")
                   if re.search(r"@main\.(command|group)\(|\bmain\.add_command\(", p.read_text())}
    assert registering == {where.partition(":")[0] for where in COMMAND_MODULES.values()}
    assert set(main.commands) == set(COMMAND_MODULES)  # and each name in it is that module's


OFF_THE_SUBMIT_PATH = (
    "click", "sqlalchemy", "alembic",  # the CLI framework; the full store and its migrations (schema at head)
    "shutil", "threading", "signal", "getpass", "lz.core.records", "lz.core.machine",  # earlier cuts (issue 23)
    "lz.core.array", "lz.core.dependencies", "lz.core.volumes",  # only for a sweep, --after, volumes
    "lz.core.layout", "lz.core.tables", "lz.core.timeline",  # a job's paths, the status table, its history
    "lz.hub.protocol.transport", "lz.host.faults",  # a hub's URL check (none configured); crash points (migrations)
    "dataclasses", "inspect",  # the value classes' methods are shared, not compiled per class (lz.core.value_class)
)


def test_a_plain_submission_imports_none_of_what_it_does_not_use(env: dict[str, str],  # noqa: F811
                                                                  tmp_path: Path) -> None:
    """Each module here costs every ``lz submit`` of a sweep (issue 23): a plain folder, no array,
    no dependencies, no volumes, in a fresh process, leaves all of them unimported; a job that uses
    them still imports and works (the second submission)."""
    folder = job_folder(tmp_path)
    code = ("import atexit, sys; atexit.register(lambda: print(' '.join(m for m in sys.argv[1].split(',') "
            "if m in sys.modules), file=sys.stderr)); from lz.cli.entry import run; run(sys.argv[2:])")
    run_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    assert lz(env, "status").exit_code == 0  # the database at its head: the plain store is not needed
    plain = subprocess.run([sys.executable, "-c", code, ",".join(OFF_THE_SUBMIT_PATH), "submit", str(folder)],
                           env=run_env, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    assert plain.stderr.splitlines()[-1] == "", plain.stderr
    job_id = plain.stdout.split()[-1]
    (folder / "lz.toml").write_text('command = ["true"]\nenv = {A = "1"}\n')
    swept = subprocess.run([sys.executable, "-c", code, "lz.core.array,lz.core.dependencies", "submit", str(folder),
                            "--array", "0-3", "--after", job_id, "--mem", "1G"],
                           env=run_env, capture_output=True, text=True, timeout=60)
    assert swept.returncode == 0, swept.stderr
    assert swept.stderr.splitlines()[-1] == "lz.core.array lz.core.dependencies", swept.stderr
    listed = {j["id"]: j for j in json.loads(lz(env, "status", "--json").stdout)}
    assert listed[swept.stdout.split()[-1]]["resources"]["memory_mb"] == 1024
