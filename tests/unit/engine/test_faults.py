"""The crash-point hook: every registered point is in the code exactly once, every call names a
registered point, an armed point kills the process as SIGKILL would, an unarmed one costs nothing."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lz.host import faults
from tests.paths import ROOT

CALL = re.compile(r'crash_point\("([^"]+)"\)')


def calls_in_code() -> list[str]:
    found = []
    for path in [*sorted((ROOT / "lz").rglob("*.py")), *sorted((ROOT / "migrations").rglob("*.py"))]:
        if path.name != "faults.py":
            found += CALL.findall(path.read_text())
    return found


def test_every_point_is_placed_once_and_every_call_is_registered() -> None:
    calls = calls_in_code()
    assert sorted(calls) == sorted(faults.POINTS)


@pytest.mark.parametrize("spec", ["nowhere", "build.done:x", "build.done:0"])
def test_a_wrong_spec_is_one_line(spec: str) -> None:
    with pytest.raises(ValueError, match="LZ_CRASH_AT"):
        faults.parse(spec)


def test_the_nth_passage_kills_at_once_without_cleanup(tmp_path: Path) -> None:
    flag = tmp_path / "finally-ran"
    script = (
        "from lz.host import faults\n"
        "import sys\n"
        "try:\n"
        "    for i in range(5):\n"
        "        faults.crash_point('build.done')\n"
        "        print(i, flush=True)\n"
        "finally:\n"
        f"    open({str(flag)!r}, 'w').close()\n"
    )
    env = {"LZ_CRASH_AT": "build.done:3", "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == faults.EXIT_STATUS
    assert result.stdout.split() == ["0", "1"]
    assert "crash point build.done reached" in result.stderr
    assert not flag.exists()


def test_the_daemon_refuses_an_unknown_point(tmp_path: Path) -> None:
    env = {"LZ_CRASH_AT": "nowhere", "LZ_DB": str(tmp_path / "lz.db"), "LZ_WORKDIR": str(tmp_path / "w"),
           "XDG_CONFIG_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "lz.cli", "run", "--container", "none"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "unknown crash point 'nowhere'" in result.stderr
    assert "Traceback" not in result.stderr


def test_unarmed_points_cost_next_to_nothing() -> None:
    faults.arm(None)
    try:
        start = time.perf_counter()
        for _ in range(100_000):
            faults.crash_point("build.done")
        assert (time.perf_counter() - start) / 100_000 < 2e-6
    finally:
        faults.arm(None)
