"""The pilots' batch file and the argv around it (pure)."""

from __future__ import annotations

import shlex

import pytest

from lz.core.errors import UserError
from lz.slurm.pilot_array import PilotArray, batch_script, parse_array_id, parse_squeue, scancel_argv, slurm_job_name


def _array(**changes: object) -> PilotArray:
    base = dict(count=3, name_pattern="pilot_{index}", hub="http://hub:8750", token_file="/home/a b/token",
                lz=["/opt/venv/bin/python", "-m", "lz"], time="1:00:00", cpus=2, memory="4G", partition="gpu")
    return PilotArray(**{**base, **changes})  # type: ignore[arg-type]


def test_the_batch_file_is_one_array_whose_tasks_exec_the_pilot() -> None:
    script = batch_script(_array())
    assert "#SBATCH --array=1-3" in script and "#SBATCH --job-name=pilot" in script
    assert "#SBATCH --time=1:00:00" in script and "#SBATCH --cpus-per-task=2" in script
    assert "#SBATCH --mem=4G" in script and "#SBATCH --partition=gpu" in script
    last = script.splitlines()[-1]
    assert last.startswith("exec /opt/venv/bin/python -m lz run --container none --name pilot_\"$SLURM_ARRAY_TASK_ID\"")
    assert shlex.split(last)[-2:] == ["--token", "/home/a b/token"]  # quoted, one argument


def test_with_an_image_the_pilot_runs_through_apptainer() -> None:
    last = batch_script(_array(image="/sif/lz.sif")).splitlines()[-1]
    assert last.startswith("exec apptainer run --fakeroot /sif/lz.sif --name ")


def test_user_input_never_becomes_shell() -> None:
    script = batch_script(_array(hub="http://h/$(rm -rf ~)", time="1:00; rm -rf /", partition="a`b`"))
    assert "'http://h/$(rm -rf ~)'" in script and "--time='1:00; rm -rf /'" in script
    with pytest.raises(UserError):
        slurm_job_name("p$(x)_{index}")
    with pytest.raises(UserError):
        slurm_job_name("pilot")  # no {index}


def test_outputs_of_sbatch_squeue_and_scancel() -> None:
    assert parse_array_id("1234\n") == "1234" and parse_array_id("77;cluster\n") == "77"
    assert parse_squeue("12|1|RUNNING|9:58\n12|2|PENDING|10:00\nbad\n") == [
        {"job_id": "12", "index": "1", "state": "RUNNING", "time_left": "9:58"},
        {"job_id": "12", "index": "2", "state": "PENDING", "time_left": "10:00"}]
    assert scancel_argv("pilot") == ["scancel", "--name", "pilot"]
