"""The command line in-process (click's CliRunner) against a real database: one-line errors,
the documented output, private files (defect 10) and an unusable database (defect 12)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lz.cli import main


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    old = os.umask(0o022)  # a typical login umask: lz must not rely on it
    try:
        yield {"LZ_DB": str(tmp_path / "state" / "lz.db"), "LZ_WORKDIR": str(tmp_path / "work"),
               "LZ_CONTAINER": "none", "LZ_CONFIG": "", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "c")}
    finally:
        os.umask(old)


def lz(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def job_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "run.sh").write_text("echo hi\n")
    (folder / "lz.toml").write_text('command = ["sh", "run.sh"]\nenv = { TOKEN = "s3cret" }\n')
    return folder


def test_submit_status_and_cancel(env: dict[str, str], tmp_path: Path) -> None:
    submitted = lz(env, "submit", str(job_folder(tmp_path)))
    assert submitted.exit_code == 0, submitted.output
    job_id = submitted.stdout.strip().splitlines()[-1]
    table = lz(env, "status")
    assert "daemon not running" in table.stdout and job_id in table.stdout and "received 1" in table.stdout
    one = json.loads(lz(env, "status", job_id[:6], "--json").stdout)
    assert one["id"] == job_id and one["state"] == "received" and one["history"][0]["to"] == "received"
    assert lz(env, "cancel", job_id).stdout.strip() == f"job {job_id} collecting"
    assert json.loads(lz(env, "status", "--json").stdout)[0]["state"] == "collecting"


def test_mistakes_are_one_line(env: dict[str, str], tmp_path: Path) -> None:
    missing = lz(env, "status", "nosuchjob")
    assert missing.exit_code == 2 and missing.stderr.strip() == "lz: error: no job 'nosuchjob' in this landing zone"
    bad = lz({**env, "LZ_TICK": "fast"}, "status")
    assert bad.exit_code == 2 and bad.stderr.count("\n") == 1 and "LZ_TICK" in bad.stderr


def test_defect_10_state_is_private_whatever_the_umask(env: dict[str, str], tmp_path: Path) -> None:
    lz(env, "submit", str(job_folder(tmp_path)))
    state = tmp_path / "state"
    for path in (state, state / "spool"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700, path
    for path in state.glob("lz.db*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_defect_12_a_database_that_cannot_be_used_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    result = lz({**env, "LZ_DB": str(not_a_dir / "lz.db")}, "status")
    assert result.exit_code == 2 and result.stderr.startswith("lz: error: ") and result.stderr.count("\n") == 1


def test_defect_12_a_read_only_database_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    source, mount = tmp_path / "rw", tmp_path / "ro"
    source.mkdir()
    mount.mkdir()
    assert lz({**env, "LZ_DB": str(source / "lz.db")}, "status").exit_code == 0
    if os.geteuid() != 0 or subprocess.run(["mount", "--bind", str(source), str(mount)]).returncode != 0:
        pytest.skip("needs root to mount a read-only filesystem")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], check=True)
        ro_env = {**env, "LZ_DB": str(mount / "lz.db")}
        assert lz(ro_env, "status").exit_code in (0, 2)  # reading may work; never a traceback
        for args in (["submit", str(job_folder(tmp_path))], ["run"]):
            result = lz(ro_env, *args)
            assert result.exit_code == 2, result.output
            assert result.stderr.startswith("lz: error: ") and result.stderr.count("\n") == 1, result.stderr
    finally:
        subprocess.run(["umount", "-l", str(mount)])


def test_help_lists_the_commands(env: dict[str, str]) -> None:
    text = lz(env, "--help").stdout
    for command in ("run", "submit", "status", "cancel", "logs", "results", "db", "diagram", "deps"):
        assert f"  {command}" in text


def test_a_mistyped_path_is_a_usage_error_and_records_no_job(env: dict[str, str], tmp_path: Path) -> None:
    """Issue 24 (13): `lz submit` of a missing path recorded a failed job."""
    missing = lz(env, "submit", str(tmp_path / "no-such-folder"))
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"lz: error: {tmp_path / 'no-such-folder'}: no such file or directory (nothing was submitted)"
    assert json.loads(lz(env, "status", "--json").stdout) == []


def test_slurm_habits_short_options_and_dash_h(env: dict[str, str], tmp_path: Path) -> None:
    """`sbatch -c 4 -t 1:00:00 -p gpu -J name --mem 8G -G 1` reads the same with `lz submit`."""
    folder = job_folder(tmp_path)
    (folder / "lz.toml").write_text('command = ["sh", "run.sh"]\n')
    done = lz(env, "submit", "-c", "2", "-t", "90", "-J", "habits", "--mem", "1G", "-G", "0", str(folder), "--json")
    assert done.exit_code == 0, done.output
    job = json.loads(done.stdout[: done.stdout.rindex("}") + 1])
    assert job["name"] == "habits" and job["resources"]["cpus"] == 2 and job["resources"]["time_s"] == 5400
    for args in (["-h"], ["submit", "-h"], ["status", "-h"], ["hub", "-h"], ["station", "-h"]):
        shown = lz(env, *args)
        assert shown.exit_code == 0 and "Usage:" in shown.stdout, args
