"""``lz submit --wait`` under a pseudo-terminal shows every state as it happens (rich); without a
terminal it prints the outcome alone, and stdout is the job id either way."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_wait_under_a_terminal_and_without_one(landing_zone: LandingZone, example_job: Path) -> None:
    landing_zone.start()
    master, slave = pty.openpty()
    env = {**landing_zone.env, "TERM": "xterm-256color", "COLUMNS": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "lz.cli", "submit", str(example_job), "--wait"], env=env,
                            stdin=slave, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    stdout, _ = proc.communicate(timeout=120)
    shown = _read_all(master).decode(errors="replace")
    os.close(master)
    assert proc.returncode == 0
    job_id = stdout.decode().strip()
    assert re.fullmatch(r"[0-9a-f]{10}", job_id), stdout  # stdout: the id alone
    assert ANSI.search(shown), "a terminal gets rich's styled, live output"
    text = ANSI.sub("", shown)
    states = re.findall(rf"job {job_id} (\w+)", text)
    history = [h["to"] for h in landing_zone.status(job_id)["history"]]
    assert [s for s in states if s in history] == history[: len(states)] and states[-1] == "cleaned"
    assert "building" in states and "collecting" in states  # each state, in order, as it happened
    assert re.search(r"cleaned \(succeeded: exit code 0\); results: 2 files, [0-9.]+ (B|kB)", text), text

    piped = landing_zone.cli("submit", str(example_job), "--wait")
    second = piped.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{10}", second)
    assert piped.stderr == f"lz: job {second} cleaned (succeeded: exit code 0); results: 2 files, " \
                           f"{piped.stderr.rsplit(', ', 1)[1]}"
    assert piped.stderr.count("\n") == 1 and not ANSI.search(piped.stderr)
