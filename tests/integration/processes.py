"""The one harness for the long-running processes the integration tests start (a landing zone's
daemon, a hub): each in its own session with a private environment and a log file per start, waited
for until it answers, stopped with SIGTERM then SIGKILL, and its log at hand when a test fails."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any


class Process:
    """``name`` names the log files (``base/NAME-N.log``, one per start) and the failure lines."""

    def __init__(self, base: Path, name: str, env: Mapping[str, str]):
        self.base = base
        self.name = name
        self.env = env  # the owner's own dict, not a copy: a test changes it between starts (PATH shims)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def launch(self, argv: Sequence[str], env: Mapping[str, str] | None = None, **popen: Any) -> None:
        """Start it and return at once (a test that expects it to crash waits on its own terms).
        Its own session: a signal for the test's process group never reaches it by accident."""
        self.starts += 1
        with open(self.base / f"{self.name}-{self.starts}.log", "wb") as log:  # the child keeps its copy
            self.proc = subprocess.Popen(list(argv), env=dict(env if env is not None else self.env), stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True, **popen)

    def start(self, argv: Sequence[str], ready: Callable[[], bool], timeout: float = 30, **popen: Any) -> None:
        """Start it and wait until ``ready()``; a process that exits first fails with its log."""
        self.launch(argv, **popen)
        self.wait_ready(ready, timeout)

    def wait_ready(self, ready: Callable[[], bool], timeout: float = 30) -> None:
        assert self.proc is not None
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log()}")
            if ready():
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.name} did not start")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL the process alone (what it started keeps running, as after a real crash)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def kill_group(self) -> None:
        """SIGKILL its whole process group (its session: it and everything it started)."""
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)

    def stop(self, grace: float) -> None:
        """SIGTERM, and SIGKILL when it has not exited within ``grace`` seconds."""
        if self.running():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def log(self) -> str:
        """Every start's log, in order."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.base.glob(f"{self.name}-*.log")))

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the log, for a failure message."""
        return self.log()[-chars:]
