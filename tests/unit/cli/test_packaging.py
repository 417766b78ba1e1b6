"""Packaging (issue 24): the CLI and the gateway load no web framework, ``lz --version`` says the
installed version, and a hub command on an install without the ``[hub]`` extra says what to
install in one line (it used to end in a traceback: ModuleNotFoundError: No module named 'uvicorn')."""

from __future__ import annotations

import importlib.metadata as md
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from lz.cli import main
from tests.paths import ROOT

WEB_STACK = ("fastapi", "starlette", "uvicorn", "jinja2")


def test_version_comes_from_the_installed_metadata() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"lz {md.version('lz')}\n"


def test_the_cli_and_the_gateway_import_no_web_stack() -> None:
    probe = ("import sys, lz.cli, lz.daemon, lz.hub.agent.agent; "
             f"print(sorted(m for m in sys.modules if m.split('.')[0] in {WEB_STACK!r}))")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_a_hub_command_without_the_hub_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: object) -> None:
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
