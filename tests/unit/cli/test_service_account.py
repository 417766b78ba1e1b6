"""`lz service install` checks the unit's account (issue 24, item 7): it used to write `User=lz`
with ExecStart inside root's home (a venv of a checkout there), and nothing created the account."""

import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lz.service.account import create_argv, exists, unreachable

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make files another account cannot read")


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A folder every account can enter (pytest's own are 0700 up the tree), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="lz-account-"))
    folder.chmod(0o755)
    if any(not (p.stat().st_mode & 0o001) for p in folder.parents):
        shutil.rmtree(folder)
        pytest.skip(f"{tempfile.gettempdir()} is not searchable by other accounts")
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def _program(folder: Path, interpreter: str = "/bin/sh") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / "lz"
    program.write_text(f"#!{interpreter}\necho hi\n")
    program.chmod(0o755)
    return program


def test_a_program_in_a_private_home_is_refused_with_the_folder(open_tmp: Path) -> None:
    home = open_tmp / "home"
    program = _program(home / "venv" / "bin")
    home.chmod(0o700)
    why = unreachable(program, "nobody")
    assert why is not None and str(home) in why and "0700" in why


def test_an_interpreter_out_of_reach_is_refused(open_tmp: Path) -> None:
    hidden = open_tmp / "pyenv"
    python = _program(hidden / "bin")
    hidden.chmod(0o700)
    program = _program(open_tmp / "opt" / "bin", interpreter=str(python))
    why = unreachable(program, "nobody")
    assert why is not None and str(hidden) in why


def test_a_program_it_can_reach_passes(open_tmp: Path) -> None:
    assert unreachable(_program(open_tmp / "opt" / "bin"), "nobody") is None


def test_the_account_is_made_as_a_system_account() -> None:
    assert exists(pwd.getpwuid(0).pw_name) and not exists("no-such-lz-account")
    assert create_argv("lz")[:2] == ["useradd", "--system"] and create_argv("lz")[-1] == "lz"
