"""`lz submit -n/--ntasks, -N/--nodes, --ntasks-per-node` as sbatch spells them: a local landing
zone refuses a job of several tasks in one line (it runs each job once, as one process)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lz.cli import main


def test_local_zone_refuses_several_tasks(tmp_path: Path) -> None:
    env = {"LZ_DB": str(tmp_path / "state" / "lz.db"), "LZ_WORKDIR": str(tmp_path / "work"),
           "LZ_CONTAINER": "none", "LZ_CONFIG": "", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "c")}
    job = tmp_path / "job"
    job.mkdir()
    (job / "lz.toml").write_text('command = ["hostname"]\n')
    result = CliRunner().invoke(main, ["submit", str(job), "-n", "2", "-N", "2"], env=env)
    assert result.exit_code == 2, result.output
    assert "2 tasks on 2 node(s): this landing zone runs each job as one task on this machine" in result.output
    result = CliRunner().invoke(main, ["submit", str(job), "--ntasks-per-node", "x"], env=env)
    assert "tasks_per_node 'x' is not a whole number" in result.output
    result = CliRunner().invoke(main, ["submit", str(job), "-n", "2", "--station", "s", "--hub", "http://h"], env=env)
    assert "through a hub, write them in lz.toml's [resources]" in result.output
