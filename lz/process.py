"""Running external commands: argv lists only, always with a timeout, never through a shell.

Adapters take a ``CommandRunner`` so tests can swap in captured output or a counting runner
without monkeypatching.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Protocol


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class CommandRunner(Protocol):
    def __call__(
        self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None
    ) -> Completed: ...


class CommandTimeout(Exception):
    """The command did not finish within its timeout (it was killed)."""


def run_command(argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> Completed:
    """Run ``argv`` and capture its output; raise CommandTimeout or FileNotFoundError."""
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandTimeout(f"{argv[0]} did not answer within {timeout:g}s") from exc
    return Completed(tuple(argv), proc.returncode, proc.stdout, proc.stderr)


class CountingRunner:
    """Wraps a runner and counts calls per program name (for benchmarks and tests)."""

    def __init__(self, inner: CommandRunner = run_command, hook: Callable[[Sequence[str]], None] | None = None):
        self.inner = inner
        self.calls: dict[str, int] = {}
        self.hook = hook

    def __call__(self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> Completed:
        name = argv[0].rsplit("/", 1)[-1]
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.hook:
            self.hook(argv)
        return self.inner(argv, timeout=timeout, env=env)


def run_logged(argv: Sequence[str], log: IO[str], *, timeout: float | None,
               env: Mapping[str, str] | None = None, cwd: str | None = None) -> int:
    """Run a long command (a container build) with its output streamed into ``log``.

    It runs in its own process group, so a timeout kills the whole build (ch-image, its RUN
    steps, their children), not just the first process.
    """
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise CommandTimeout(f"{argv[0]} did not finish within {timeout:g}s") from None
    except BaseException:
        _kill_group(proc)
        raise


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the group, give the leader a moment, then SIGKILL whatever is left of the group
    (children in a container may outlive a leader that exits on SIGTERM)."""
    import os
    import signal

    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
