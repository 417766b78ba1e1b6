"""Defect 9: stopping a build kills exactly the process groups lz started for it, never a
stranger whose command line happens to name the job's files (a user's ``tail -f build.log``)."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import psutil

from lz.host.process import kill_recorded_groups, recording_groups, run_logged


def _wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_only_recorded_groups_die(tmp_path: Path) -> None:
    meta = tmp_path / "lz-job" / "lz"
    meta.mkdir(parents=True)
    log = meta / "build.log"
    log.write_text("")
    stranger = subprocess.Popen(["tail", "-f", str(log)], start_new_session=True, stdout=subprocess.DEVNULL)
    pids = tmp_path / "pids"

    def build() -> None:
        with recording_groups(meta):
            try:
                with open(tmp_path / "out.log", "w") as out:
                    run_logged(["sh", "-c", f"sleep 300 & echo $! > {pids}; wait"], out, timeout=60)
            except Exception:
                pass

    worker = threading.Thread(target=build, daemon=True)
    worker.start()
    try:
        _wait_for(lambda: pids.exists() and pids.read_text().strip())
        child = int(pids.read_text())
        killed = kill_recorded_groups(meta)
        assert child in killed
        _wait_for(lambda: not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE)
        assert stranger.poll() is None, "a process that only names the job's path was killed"
    finally:
        stranger.kill()
        stranger.wait()
        kill_recorded_groups(meta)
        worker.join(10)


def test_a_group_orphaned_by_a_killed_daemon_is_found_from_its_record(tmp_path: Path) -> None:
    """The record is written before the group starts: whatever moment the daemon died at, the
    next one finds and stops what is left (here: a detached grandchild that kept the marker)."""
    meta = tmp_path / "meta"
    meta.mkdir()
    pids = tmp_path / "pids"
    script = f"setsid sleep 300 & echo $! > {pids}"
    with recording_groups(meta), open(tmp_path / "out.log", "w") as out:
        run_logged(["sh", "-c", script], out, timeout=30)
    _wait_for(lambda: pids.exists() and pids.read_text().strip())
    escaped = int(pids.read_text())
    assert psutil.pid_exists(escaped)
    assert escaped in kill_recorded_groups(meta)
    _wait_for(lambda: not psutil.pid_exists(escaped) or psutil.Process(escaped).status() == psutil.STATUS_ZOMBIE)


def test_nothing_recorded_nothing_killed(tmp_path: Path) -> None:
    assert kill_recorded_groups(tmp_path / "nowhere") == []
