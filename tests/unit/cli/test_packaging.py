"""Packaging (issue 24): the API, ``lz --help`` and the gateway load none of the hub's server stack, ``lz --version`` says the
installed version, and a hub command on an install without the ``[hub]`` extra says what to
install in one line (it used to end in a traceback: ModuleNotFoundError: No module named 'uvicorn')."""

from __future__ import annotations

import importlib.metadata as md
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lz.cli import main
from tests.paths import ROOT

SERVER_STACK = ("fastapi", "starlette", "uvicorn", "jinja2", "boto3", "botocore", "alembic", "psycopg", "psycopg2",
                "sqlalchemy.dialects.postgresql", "lz.hub.server")
"""The hub's web and database server (and cloud SDKs): what neither the API, nor ``lz --help``, nor
a landing zone loads (the base install has none of it: ``pip install 'lz[hub]'`` for a hub)."""

HELP = ("import contextlib, io, runpy, sys; sys.argv = ['lz', '--help']\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    runpy.run_module('lz.cli', run_name='__main__')")


@pytest.mark.parametrize(("probe", "also_not"), [
    ("import lz.client", ("requests", "sqlalchemy", "click")),  # the API: HTTP and database code only when used
    (HELP, ("requests", "lz.config")),  # `lz --help` (as the console script runs lz.cli.entry:run); no settings read
    ("import lz.cli, lz.daemon, lz.hub.agent.agent", ()),  # the gateway and the hub agent a landing zone runs
], ids=["import lz.client", "lz --help", "the gateway"])
def test_the_api_the_help_and_the_gateway_load_no_server_stack(probe: str, also_not: tuple[str, ...]) -> None:
    """One fresh interpreter each; a module counts as loaded with any of its submodules."""
    forbidden = SERVER_STACK + also_not
    code = (f"{probe}\nimport sys\nprint(sorted(m for m in sys.modules "
            f"if any(m == f or m.startswith(f + '.') for f in {forbidden!r})))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_a_hub_command_without_the_hub_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # import uvicorn -> ModuleNotFoundError, as when not installed
    result = CliRunner().invoke(main, ["hub", "serve", "--db", f"sqlite:///{tmp_path}/hub.db"], prog_name="lz")
    assert result.exit_code == 2
    assert result.stderr == ("lz: error: lz hub: the hub's packages are not installed (no module uvicorn): "
                             "pip install 'lz[hub]'\n")


def test_other_missing_modules_are_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    monkeypatch.setattr("lz.cli.common.HUB_PACKAGES", frozenset())
    result = CliRunner().invoke(main, ["hub", "serve"])
    assert isinstance(result.exception, ModuleNotFoundError)


def test_the_image_wheel_of_the_running_lz_is_whole(tmp_path: Path) -> None:
    """``lz pilots image build`` installs this wheel in the image: made from the running lz (a
    checkout's ``migrations/`` folder lands in ``lz/migrations``), every file listed with its hash."""
    import base64
    import hashlib
    import zipfile

    from lz.ops.pilot_image import DEFINITION, lz_wheel

    assert DEFINITION.is_file() and DEFINITION.parent.name == "ops"  # shipped as package data (setup.cfg)
    wheel = lz_wheel(tmp_path)
    assert wheel.name == f"lz-{md.version('lz')}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {"lz/ops/landing-zone-daemon.def", "lz/migrations/env.py", "lz/wrapper/job.sh",
                "lz/__init__.py"} <= names
        assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
        info = f"lz-{md.version('lz')}.dist-info"
        (script,) = md.entry_points(group="console_scripts", name="lz")  # the installed one (lz.cli.entry:run)
        assert f"lz = {script.value}" in archive.read(f"{info}/entry_points.txt").decode()
        record = archive.read(f"{info}/RECORD").decode().splitlines()
        assert len(record) == len(names)
        for line in record:
            name, digest, _size = line.rsplit(",", 2)
            if digest:
                data = archive.read(name)
                assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
