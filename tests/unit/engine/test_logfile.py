"""The daemon's log handler: rotation by size, reopening by name, JSON lines with job fields."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lz.cli import main
from lz.core.records import Transition
from lz.ops import logfile
from tests.unit.fakes import job_snapshot as _job


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_transitions_are_logged_even_when_quiet_with_the_job_id(tmp_path: Path, restore_logging: None) -> None:
    path = tmp_path / "lz.log"
    logfile.configure(path=path, fmt="text", verbose=0)
    logfile.TransitionLog().on_transition(_job(), Transition("received", "building", "build", 0.0, None))
    logging.getLogger("lz.engine.tick").info("not shown without -v")
    assert path.read_text().splitlines()[-1].endswith("lz.transitions: job abc123: received -> building (build)")
    assert "not shown" not in path.read_text()


def test_json_lines_carry_the_job_fields(tmp_path: Path, restore_logging: None) -> None:
    path = tmp_path / "lz.log"
    logfile.configure(path=path, fmt="json")
    logfile.TransitionLog().on_transition(_job(), Transition("running", "collecting", "ended", 0.0, "exit 0"))
    record = json.loads(path.read_text())
    assert record["job"] == "abc123" and record["to_state"] == "collecting" and record["detail"] == "exit 0"
    assert record["level"] == "info" and record["time"].endswith("Z")


def test_log_max_rotates_and_reopen_follows_a_moved_file(tmp_path: Path, restore_logging: None) -> None:
    path = tmp_path / "lz.log"
    logfile.configure(path=path, max_bytes=2000, fmt="text")
    for i in range(100):
        logging.getLogger("lz").warning("line %d with some padding to fill the file up", i)
    assert (tmp_path / "lz.log.1").exists() and path.stat().st_size <= 2000
    assert not (tmp_path / "lz.log.6").exists()  # five backups at most
    path.rename(tmp_path / "moved")
    assert logfile.reopen() == [str(path)]
    logging.getLogger("lz").warning("after reopen")
    assert path.read_text().strip().endswith("after reopen")


def test_a_log_file_that_cannot_be_opened_is_one_line(tmp_path: Path, restore_logging: None) -> None:
    env = {"LZ_DB": str(tmp_path / "s" / "lz.db"), "LZ_WORKDIR": str(tmp_path / "w"), "LZ_CONFIG": ""}
    result = CliRunner().invoke(main, ["run", "--container", "none", "--log", str(tmp_path / "no" / "dir" / "x.log")],
                                env=env)
    assert result.exit_code == 2 and result.stderr.startswith("lz: error: --log ") and result.stderr.count("\n") == 1
    bad = CliRunner().invoke(main, ["run", "--container", "none", "--log-max", "lots"], env=env)
    assert bad.exit_code == 2 and "--log-max" in bad.stderr
