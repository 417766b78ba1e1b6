"""Running external commands: argv lists only, always with a timeout, never through a shell.

Adapters take a ``CommandRunner`` so tests can swap in captured output or a counting runner
without monkeypatching.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from lz.host.fs import write_atomically


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


GROUP_MARKER = "LZ_PROCESS_GROUP"
"""Environment variable that tags every process of a group lz started (inherited by children)."""

_recording = threading.local()


@contextmanager
def recording_groups(directory: Path) -> Iterator[None]:
    """While active in this thread, every process group ``run_logged`` starts is recorded under
    ``directory/groups``, so ``kill_recorded_groups`` can later stop exactly those and nothing else
    (a user's ``tail -f`` of the build log is not lz's to kill)."""
    previous = getattr(_recording, "directory", None)
    _recording.directory = directory
    try:
        yield
    finally:
        _recording.directory = previous


def run_logged(argv: Sequence[str], log: IO[str], *, timeout: float | None,
               env: Mapping[str, str] | None = None, cwd: str | None = None) -> int:
    """Run a long command (a container build) with its output streamed into ``log``.

    It runs in its own process group, so a timeout kills the whole build (ch-image, its RUN
    steps, their children), not just the first process. Under ``recording_groups`` the group is
    written down before it starts (intent before effect): a daemon killed at any moment leaves a
    record naming what to stop.
    """
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    marker = secrets.token_hex(8)
    environment = dict(env if env is not None else os.environ)
    environment[GROUP_MARKER] = marker
    record = _record_intent(marker)
    proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=environment, cwd=cwd, start_new_session=True)
    if record is not None:
        _record(record, f"{marker} {proc.pid} {_start_ticks(proc.pid)}\n")
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise CommandTimeout(f"{argv[0]} did not finish within {timeout:g}s") from None
    except BaseException:
        _kill_group(proc)
        raise


def _record_intent(marker: str) -> Path | None:
    directory = getattr(_recording, "directory", None)
    if directory is None:
        return None
    groups = Path(directory) / "groups"
    groups.mkdir(mode=0o700, exist_ok=True)
    record = groups / marker
    _record(record, f"{marker}\n")
    return record


def _record(path: Path, text: str) -> None:
    """Not fsynced: process groups do not outlive a reboot, so neither need their records."""
    write_atomically(path, text, 0o666, durable=False)


def kill_recorded_groups(directory: Path) -> list[int]:
    """SIGKILL every process group recorded under ``directory/groups`` that is still lz's: one of
    its processes carries the group's marker, or its leader is the very process recorded (pid and
    kernel start time). Also kills marked processes that left their group. Returns the pids found."""
    import psutil

    groups = Path(directory) / "groups"
    try:
        records = [r.read_text().split() for r in groups.iterdir() if not r.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []
    markers = {r[0] for r in records if r}
    leaders = {(int(r[1]), r[2]) for r in records if len(r) == 3 and r[1].isdigit()}
    if not markers:
        return []
    marked: list[psutil.Process] = []
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == os.getpid():
            continue
        try:
            if proc.environ().get(GROUP_MARKER) in markers:
                marked.append(proc)
        except (psutil.Error, OSError):
            continue
    pgids = set()
    for proc in marked:
        try:
            pgids.add(os.getpgid(proc.pid))
        except ProcessLookupError:
            pass
    pgids |= {pid for pid, ticks in leaders if _start_ticks(pid) == ticks}
    pgids.discard(os.getpgid(0))
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for proc in marked:
        try:
            proc.kill()
        except psutil.Error:
            pass
    if marked:
        psutil.wait_procs(marked, timeout=5)
    return sorted({p.pid for p in marked} | {pid for pid, ticks in leaders if pid in pgids})


def _start_ticks(pid: int) -> str:
    """Field 22 of /proc/PID/stat: with the pid, a name for a process that is never reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    return stat.rsplit(")", 1)[1].split()[19]


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the group, give the leader a moment, then SIGKILL whatever is left of the group
    (children in a container may outlive a leader that exits on SIGTERM)."""
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


class ReportingRunner:
    """Wraps a runner and reports every call (program, seconds, success) as a controller event,
    for metrics and logs; the adapter that runs the command knows nothing of listeners."""

    def __init__(self, inner: CommandRunner, report: Callable[[Any], None]):
        self.inner = inner
        self.report = report

    def __call__(self, argv: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> Completed:
        from lz.core.events import ControllerEvent

        started = time.monotonic()
        program = argv[0].rsplit("/", 1)[-1]
        try:
            result = self.inner(argv, timeout=timeout, env=env)
        except Exception:
            self.report(ControllerEvent("call", time.time(), program, time.monotonic() - started, ok=False))
            raise
        self.report(ControllerEvent("call", time.time(), program, time.monotonic() - started,
                                    ok=result.returncode == 0))
        return result
