"""The daemon's log: a file with one JSON line per transition (job id on each), reopened on SIGHUP
after logrotate moved it (SIGHUP no longer stops the daemon), and ``lz logs --daemon``."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_json_log_reopened_on_sighup(tmp_path: Path, example_job: Path) -> None:
    log = tmp_path / "logs" / "lz.log"
    log.parent.mkdir()
    zone = LandingZone(tmp_path / "lz", run_args=["--log", str(log), "--log-format", "json"])
    try:
        zone.start()
        first = zone.submit(example_job)
        zone.wait_all_cleaned([first])
        history = zone.status(first)["history"]
        wait_until(lambda: sum(1 for r in _lines(log) if r.get("job") == first) >= len(history) - 1, 10, "lines")
        records = _lines(log)  # every line is one JSON object
        mine = [r for r in records if r.get("job") == first and r.get("event")]
        # received is recorded by lz submit (another process); every later transition is one line
        assert [(r["from_state"], r["to_state"], r["event"]) for r in mine] == \
            [(h["from"], h["to"], h["event"]) for h in history[1:]]
        assert all(first in str(r["message"]) for r in mine)
        assert log.stat().st_mode & 0o777 == 0o600

        log.rename(log.with_suffix(".log.1"))  # what logrotate does, then it sends SIGHUP
        assert zone.proc is not None
        zone.proc.send_signal(signal.SIGHUP)
        wait_until(log.exists, 10, "the log to be reopened")
        second = zone.submit(example_job)
        zone.wait_all_cleaned([second])
        assert zone.proc.poll() is None, "SIGHUP must not stop the daemon"
        wait_until(lambda: any(r.get("job") == second and r.get("to_state") == "cleaned" for r in _lines(log)),
                   10, "the second job's lines in the new file")
        assert not any(r.get("job") == second for r in _lines(log.with_suffix(".log.1")))
        shown = zone.cli("logs", "--daemon").stdout
        assert shown == log.read_text()
    finally:
        zone.stop()


def test_logs_daemon_without_a_log_file_says_where_to_look(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path / "lz")
    try:
        zone.start()
        result = zone.cli("logs", "--daemon", check=False)
        assert result.returncode == 2 and "journalctl" in result.stderr and result.stderr.count("\n") == 1
    finally:
        zone.stop()
