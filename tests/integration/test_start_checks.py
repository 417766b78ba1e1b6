"""A landing zone that cannot start says so before anyone logs in for it (issue 24, item 1): the
database lock (and the settings, the work root, the runtime) are checked before the device flow;
it used to print the code, wait for the approval, and only then die on the lock."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.hub_server import free_port
from tests.integration.landing_zone import LandingZone

pytestmark = pytest.mark.integration


def test_the_lock_is_checked_before_the_login(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path / "zone")
    zone.start()
    try:
        token = tmp_path / "no-token-yet"
        second = subprocess.run([sys.executable, "-m", "lz.cli", "run", "--container", "none", "--name", "x",
                                 "--hub", f"http://127.0.0.1:{free_port()}", "--token", str(token)],
                                env={**zone.env, "LZ_HUB": ""}, capture_output=True, text=True, timeout=60)
    finally:
        zone.stop()
    assert second.returncode == 2, second
    assert "another landing zone is already running" in second.stderr
    assert "Code:" not in second.stdout and "activate" not in second.stdout
