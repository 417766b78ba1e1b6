"""Shell completion: click's scripts for bash, zsh and fish (generated and syntax-checked by
each shell where it is installed), and job ids completed from the store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from lz.cli import main
from lz.cli.complete import SHELLS
from tests.paths import ROOT

LZ = str(Path(sys.executable).parent / "lz")  # the installed script: completion keys on the program name


@pytest.mark.parametrize("shell", SHELLS)
def test_completion_scripts_are_generated_and_parse(shell: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["completion", shell])
    assert result.exit_code == 0 and "_LZ_COMPLETE" in result.stdout
    script = tmp_path / f"lz.{shell}"
    script.write_text(result.stdout)
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (scripts/bootstrap installs it)")
    checked = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr


def test_job_ids_complete_from_the_store(tmp_path: Path) -> None:
    env = {**os.environ, "LZ_DB": str(tmp_path / "state" / "lz.db"), "LZ_WORKDIR": str(tmp_path / "w"),
           "LZ_CONFIG": "", "LZ_CONTAINER": "none", "PYTHONPATH": str(ROOT)}
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "lz.toml").write_text('command = ["true"]\n')
    ids = [subprocess.run([sys.executable, "-m", "lz.cli", "submit", str(folder), "--name", name], env=env,
                          capture_output=True, text=True, check=True).stdout.split()[-1] for name in ("a", "b")]

    def complete(words: str) -> list[str]:
        out = subprocess.run([LZ], capture_output=True, text=True, timeout=60, env={**env, "_LZ_COMPLETE": "bash_complete", "COMP_WORDS": words,
                                  "COMP_CWORD": str(len(words.split(" ")) - 1)})
        return [line.split(",", 1)[1] for line in out.stdout.splitlines()]

    assert sorted(complete("lz status ")) == sorted(ids)
    assert complete(f"lz cancel {ids[0][:4]}") == [i for i in ids if i.startswith(ids[0][:4])]
    assert "logs" in complete("lz lo")
    missing = {**env, "LZ_DB": str(tmp_path / "none" / "lz.db")}
    out = subprocess.run([LZ], capture_output=True, text=True, timeout=60, env={**missing, "_LZ_COMPLETE": "bash_complete", "COMP_WORDS": "lz status ", "COMP_CWORD": "2"})
    assert out.stdout.strip() == "" and out.stderr == "" and not (tmp_path / "none").exists()  # never creates anything
