"""``galileod`` with the original daemon's flags: short aliases, --work-dir, --log, --token FILE,
--stations joined at start; --help lists them; an unknown flag is one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lz.cli.galileod import default_token
from tests.integration.hub_server import HubServer

GALILEOD = [sys.executable, "-c", "from lz.cli import galileod; galileod()"]


def test_help_lists_the_original_flags_and_unknown_is_one_line() -> None:
    help_text = subprocess.run([*GALILEOD, "--help"], capture_output=True, text=True, check=True).stdout
    for flag in ("-c, --container", "-n, --name", "-t, --token", "--config ", "--config-dir", "-o, --log",
                 "-w, --work-dir", "--stations"):
        assert flag in help_text
    bad = subprocess.run([*GALILEOD, "--frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--frobnicate" in bad.stderr


def test_default_token_is_the_originals_when_it_exists(tmp_path: Path) -> None:
    assert default_token(tmp_path) is None
    (tmp_path / ".galileod").mkdir()
    (tmp_path / ".galileod" / "token").write_text("lzh_x\n")
    assert default_token(tmp_path) == str(tmp_path / ".galileod" / "token")


@pytest.mark.integration
@pytest.mark.slow
def test_galileod_joins_its_stations_at_start(tmp_path: Path) -> None:
    hub = HubServer(tmp_path / "hub")
    hub.start()
    proc = None
    try:
        alice = hub.user("alice")
        hub.client(alice, "station", "create", "S")
        work, log = tmp_path / "work", tmp_path / "galileod.log"
        env = {**hub.env, "LZ_DB": str(tmp_path / "state" / "lz.db"), "HOME": str(tmp_path)}
        proc = subprocess.Popen([*GALILEOD, "-c", "none", "-n", "G1", "-t", str(alice), "-w", str(work), "-o", str(log),
                                 "--stations", "S", "--hub", hub.url, "--tick", "0.3"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 40
        zones: list[dict[str, object]] = []
        while time.time() < deadline:
            zones = hub.client_json(alice, "zones")
            if zones and zones[0]["stations"] == ["S"]:
                break
            time.sleep(0.3)
        assert zones and zones[0]["name"] == "G1" and zones[0]["stations"] == ["S"], zones
        assert work.is_dir() and "joined station 'S'" in log.read_text()
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        hub.stop()
