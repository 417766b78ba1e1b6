"""`lz pilots list` reports a failing squeue (issue 24, item 8): it used to print an empty table
and exit 0, which reads as "no pilots"."""

import os
from pathlib import Path

from click.testing import CliRunner

from lz.cli import main


def _shim(tmp_path: Path, exit_code: int, output: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    squeue = bin_dir / "squeue"
    squeue.write_text(f"#!/bin/sh\necho '{output}' >&2\nexit {exit_code}\n" if exit_code else
                      f"#!/bin/sh\necho '{output}'\n")
    squeue.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "LZ_HUB": "", "HOME": str(tmp_path)}


def test_a_failing_squeue_is_an_error(tmp_path: Path) -> None:
    env = _shim(tmp_path, 1, "slurm_load_jobs error: Unable to contact slurm controller (connect failure)")
    result = CliRunner().invoke(main, ["pilots", "list"], env=env)
    assert result.exit_code == 2
    assert result.stderr.strip() == ("lz: error: squeue: slurm_load_jobs error: Unable to contact slurm controller "
                                     "(connect failure)")


def test_pilots_are_listed(tmp_path: Path) -> None:
    env = _shim(tmp_path, 0, "4242|3|RUNNING|59:00")
    result = CliRunner().invoke(main, ["pilots", "list"], env=env)
    assert result.exit_code == 0, result.output
    assert "pilot_3" in result.stdout and "RUNNING" in result.stdout and "59:00" in result.stdout
