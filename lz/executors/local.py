"""The local executor: runs each job detached on this machine (also what a pilot uses inside its
allocation).

A job runs as ``sh job.sh META ARGV...`` in its own session and process group, so it survives the
daemon. The wrapper writes its pid and kernel start time, and later its exit status, into the
job's meta directory; a restarted daemon adopts a live job by (pid, start time) and a finished one
by its exit file. Cancel and time-limit kills leave a marker file first (intent before effect), so
the reason survives a crash between the kill and the next look.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from lz.core.errors import ControlRefused, SubmitRejected
from lz.core.layout import JobPaths
from lz.core.records import JobContext, Observation, ProcessInfo, Tracked, Usage
from lz.executors.array_tasks import array_argv, finished_array, mark_cancelled
from lz.executors.base import Executor, read_exit_code, wrapper_script
from lz.executors.gpus import GPU_FILE, GpuRegistry, job_environment

CANCEL_MARK = "cancel-requested"
TIMEOUT_MARK = "time-limit-reached"


class LocalExecutor(Executor):
    name = "local"

    def __init__(
        self,
        slots: int,
        *,
        kill_grace_s: float = 10.0,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        gpus: Sequence[str] | None = None,
        gpu_dir: Path | None = None,
    ):
        self.slots = max(1, slots)
        self.gpus = GpuRegistry(gpus, gpu_dir, _job_alive) if gpus and gpu_dir is not None else None
        self.kill_grace_s = kill_grace_s
        self.env = dict(env) if env is not None else _job_environment()
        self.clock = clock
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._on_end: Callable[[], None] | None = None

    free_looks = True

    def notify_ends(self, callback: Callable[[], None]) -> None:
        self._on_end = callback

    def capacity(self) -> int | None:
        return self.slots

    def submit(self, job: JobContext, argv: Sequence[str]) -> str:
        paths = job.paths
        for stale in (paths.exit_file, paths.pid_file, paths.meta / CANCEL_MARK, paths.meta / TIMEOUT_MARK):
            stale.unlink(missing_ok=True)
        ids = self.gpus.take(paths.meta, job.spec.resources.gpus) if self.gpus else []  # NoGpusFree: next tick
        try:
            proc = subprocess.Popen(
                ["/bin/sh", str(wrapper_script()), str(paths.meta), *array_argv(job, argv, self.slots)],
                cwd=paths.work,
                env={**self.env, **job_environment(ids)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            if self.gpus:
                self.gpus.release(paths.meta)
            raise SubmitRejected(f"cannot start the job: {exc}") from exc
        self._children[proc.pid] = proc
        handle = f"{proc.pid}:{_start_time(proc.pid)}"
        if self._on_end is not None:
            threading.Thread(target=self._wait_end, args=(proc, self._on_end), name=f"lz-end-{proc.pid}",
                             daemon=True).start()
        return handle

    @staticmethod
    def _wait_end(proc: subprocess.Popen[bytes], callback: Callable[[], None]) -> None:
        """The wrapper writes the exit file before it exits: when ``wait`` returns, a look finds it."""
        proc.wait()
        callback()

    def observe(self, jobs: Sequence[Tracked]) -> dict[str, Observation]:
        self._reap()
        return {job.job_id: finished_array(job, self._observe_one(job)) for job in jobs}

    def _observe_one(self, job: Tracked) -> Observation:
        paths = job.paths
        handle = job.executor_id or _read_handle(paths)
        code = read_exit_code(paths)
        if code is not None:
            return Observation("ended", handle, _ended_state(paths), exit_code=code)
        pid = _alive(handle)
        if pid is not None:
            if _stopped(pid):  # SIGSTOPped (lz pause): suspended time does not count toward the limit
                return Observation("running", handle, "SUSPENDED")
            self._enforce(job, pid)
            return Observation("running", handle, "RUNNING")
        code = read_exit_code(paths)  # it may have finished between the two looks
        if code is not None:
            return Observation("ended", handle, _ended_state(paths), exit_code=code)
        if handle is not None and ((paths.meta / TIMEOUT_MARK).exists() or (paths.meta / CANCEL_MARK).exists()):
            return Observation("ended", handle, _ended_state(paths))
        return Observation("absent", handle, seen_before=handle is not None)

    def _enforce(self, job: Tracked, pid: int) -> None:
        """Kill a job past its time limit; escalate to SIGKILL when a stop takes too long."""
        marks = [job.paths.meta / CANCEL_MARK, job.paths.meta / TIMEOUT_MARK]
        ran_s = _run_time(pid)
        if ran_s is not None:  # as SLURM counts: time suspended is not run time
            ran_s -= job.paused_s + (max(0.0, self.clock() - job.paused_since) if job.paused_since else 0.0)
        limit = None if job.array else job.time_limit_s  # a sweep's limit is each task's (its runner's)
        if limit and ran_s is not None and ran_s > limit and not marks[1].exists():
            marks[1].write_text(f"{self.clock()}\n")
            _signal_group(pid, signal.SIGTERM)
            return
        for mark in marks:
            if mark.exists() and self.clock() - mark.stat().st_mtime > self.kill_grace_s:
                _signal_group(pid, signal.SIGKILL)
                return

    def cancel(self, jobs: Sequence[Tracked]) -> None:
        for job in jobs:
            mark = job.paths.meta / CANCEL_MARK
            pid = _alive(job.executor_id or _read_handle(job.paths))
            if pid is None:
                continue
            if not mark.exists():
                mark.write_text(f"{self.clock()}\n")
                _signal_group(pid, signal.SIGTERM)
                _signal_group(pid, signal.SIGCONT)  # a paused job must run to hear it

    def cancel_tasks(self, job: Tracked, indices: Sequence[int]) -> None:
        """The marks alone: the sweep's runner skips a marked task or signals it (lz/executors/array_runner.py)."""
        for index in indices:
            mark_cancelled(job.paths, index, self.clock())

    def stop(self, jobs: Sequence[Tracked]) -> None:
        """SIGTERM, then SIGKILL after ``kill_grace_s`` (``_enforce``): the cancel itself, since a
        local cancel already lets the job end gracefully."""
        self.cancel(jobs)

    def kill(self, jobs: Sequence[Tracked]) -> None:
        """The mark first (the outcome survives a crash), then SIGKILL to the whole group."""
        for job in jobs:
            pid = _alive(job.executor_id or _read_handle(job.paths))
            if pid is None:
                continue
            mark = job.paths.meta / CANCEL_MARK
            if not mark.exists():
                mark.write_text(f"{self.clock()}\n")
            _signal_group(pid, signal.SIGKILL)

    def pause(self, job: Tracked, *, started: bool) -> None:
        _signal_group(self._pid(job, "pause"), signal.SIGSTOP)

    def resume(self, job: Tracked, *, started: bool) -> None:
        _signal_group(self._pid(job, "resume"), signal.SIGCONT)

    def _pid(self, job: Tracked, what: str) -> int:
        pid = _alive(job.executor_id or _read_handle(job.paths))
        if pid is None:
            raise ControlRefused(f"cannot {what} job {job.job_id}: it has no running process")
        return pid

    def processes(self, job: Tracked) -> list[ProcessInfo]:
        """Every process of the job's process group (the wrapper leads it), by psutil."""
        pid = _alive(job.executor_id or _read_handle(job.paths))
        return [] if pid is None else group_processes(pid)

    def usage(self, jobs: Sequence[Tracked]) -> dict[str, Usage]:
        import psutil

        found: dict[str, Usage] = {}
        for job in jobs:
            pid = _alive(job.executor_id)
            if pid is None:
                continue
            try:
                root = psutil.Process(pid)
                procs = [root, *root.children(recursive=True)]
                cpu = sum(p.cpu_times().user + p.cpu_times().system for p in procs)
                rss = sum(p.memory_info().rss for p in procs)
            except psutil.Error:
                continue
            found[job.job_id] = Usage(cpu_seconds=cpu, max_rss_bytes=rss)
        return found

    def _reap(self) -> None:
        """Collect our own finished children so they do not linger as zombies."""
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:
                del self._children[pid]


def _job_alive(meta: Path) -> bool:
    """Does the job of this meta directory still hold its GPUs? Until it has ended: no exit
    file, and its process alive (or just starting: no pid file yet, for at most a minute)."""
    paths = JobPaths(meta.parent)
    if not meta.is_dir() or paths.exit_file.exists():
        return False
    handle = _read_handle(paths)
    if handle is not None:
        return _alive(handle) is not None
    try:
        return time.time() - (meta / GPU_FILE).stat().st_mtime < 60
    except FileNotFoundError:
        return True  # taking them right now


def _job_environment() -> dict[str, str]:
    """A small, predictable environment for jobs: no daemon secrets leak into user code."""
    keep = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.setdefault("USER", _user_name())
    return env


def _user_name() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _ended_state(paths: JobPaths) -> str:
    if (paths.meta / TIMEOUT_MARK).exists():
        return "TIMEOUT"
    if (paths.meta / CANCEL_MARK).exists():
        return "CANCELLED"
    return "EXITED"


def _read_handle(paths: JobPaths) -> str | None:
    try:
        pid, start = paths.pid_file.read_text().split()
    except (FileNotFoundError, ValueError):
        return None
    return f"{pid}:{start}"


def _start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat: with the pid, a name for the process that is never reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(handle: str | None) -> int | None:
    """The pid if the process named by ``pid:starttime`` is still that process and not a zombie."""
    if not handle or ":" not in handle:
        return None
    pid_text, start = handle.split(":", 1)
    try:
        stat = Path(f"/proc/{int(pid_text)}/stat").read_text()
    except (OSError, ValueError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X") or fields[19] != start:
        return None
    return int(pid_text)


def _run_time(pid: int) -> float | None:
    """Seconds the process has run, by the kernel's clock since boot: a wall clock stepped by NTP
    or ``date -s`` neither ages a job past its time limit nor makes it younger."""
    start = _start_time(pid)
    try:
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return None if start == "0" else uptime - int(start) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None


def group_processes(pgid: int) -> list[ProcessInfo]:
    """The processes of one process group with CPU (percent, over a short sample) and memory."""
    import psutil

    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid:
                proc.cpu_percent(None)
                members.append(proc)
        except (psutil.Error, OSError):
            continue
    time.sleep(0.2)
    found = []
    for proc in members:
        try:
            with proc.oneshot():
                found.append(ProcessInfo(proc.pid, " ".join(proc.cmdline()) or proc.name(), proc.cpu_percent(None),
                                         proc.memory_info().rss, proc.status()))
        except psutil.Error:
            continue
    return found


def _stopped(pid: int) -> bool:
    """Whether the process is stopped by a signal (state T in /proc/PID/stat)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
    except (OSError, IndexError):
        return False


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
