"""Jobs seen ended on disk between two scheduler looks: the wrapper's exit file, polled.

The batch script's last act is to rename its exit status into place. A thread stats the exit files
of the jobs the scheduler last listed (and of new submissions), a few times a second, and wakes
the daemon when one appears: a 1-s job is collected as it ends, not at the next ``squeue`` (one
look a second at best, and spaced wider while nothing moves). It never calls the controller.

Only a clean end (exit status 0) is taken from the disk alone. Any other status waits for the
scheduler's look, whose state says why (``TIMEOUT``, ``OUT_OF_MEMORY``, ``PREEMPTED``), which the
exit status cannot. The watch is an early hint, never the only path: a file system that caches a
missing file (NFS's negative lookups) only delays it, and the next ``squeue`` finds the end.

The scheduler may still list the job (COMPLETING) while lz collects and cleans it. Should it requeue
the job then (its node declared down before it reported the end), the rerun cannot start: its
output folder is gone, and Slurm fails the launch (``JobLaunchFailure``, seen on 22.05).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable

from lz.core.records import Tracked
from lz.executors.base import read_exit_code

log = logging.getLogger(__name__)

WATCHED_AT_MOST = 64
"""Exit files stat'ed per round: the file server's load stays small (128 stats a second at 0.5 s)
however many jobs are out; beyond it the scheduler's looks find the rest."""


class ExitWatch:
    """Exit files of jobs out, polled every ``interval_s`` on a thread of its own while any are."""

    def __init__(self, interval_s: float, on_end: Callable[[], None] | None = None):
        self.interval_s = interval_s
        self.on_end = on_end
        self._lock = threading.Lock()
        self._watched: dict[tuple[str, int], Tracked] = {}  # (job id, attempt): the job
        self._clean: set[tuple[str, int]] = set()  # found ended with status 0
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.interval_s > 0

    def watch(self, jobs: Iterable[Tracked], *, replace: bool = False) -> None:
        """Add jobs out (a submission), or, with ``replace``, watch exactly these (a look's list:
        jobs it no longer lists are dropped). Arrays are left to the scheduler (their tasks have
        files of their own)."""
        if not self.enabled:
            return
        wanted = {(job.job_id, job.attempt): job for job in jobs if not job.array}
        with self._lock:
            if replace:
                self._watched = dict(list(wanted.items())[:WATCHED_AT_MOST])
                self._clean &= set(self._watched)
            else:
                for key, job in wanted.items():
                    if len(self._watched) < WATCHED_AT_MOST:
                        self._watched[key] = job
            if self._watched and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=_poll, args=(weakref.ref(self), self.interval_s),
                                                name="exit-watch", daemon=True)
                self._thread.start()

    def ended_clean(self, jobs: Iterable[Tracked]) -> set[str]:
        """Which of these jobs (this attempt) the watch found ended with exit status 0."""
        with self._lock:
            return {job.job_id for job in jobs if (job.job_id, job.attempt) in self._clean}

    def _round(self) -> bool:
        """One look at the pending exit files; False once there are none (the thread ends)."""
        with self._lock:
            pending = [(key, job) for key, job in self._watched.items() if key not in self._clean]
            if not pending:
                self._thread = None
                return False
        found = [(key, code) for key, job in pending if (code := read_exit_code(job.paths)) is not None]
        with self._lock:
            for key, code in found:
                if code == 0:
                    self._clean.add(key)
                else:  # the scheduler's look says why it failed
                    self._watched.pop(key, None)
        if any(code == 0 for _, code in found) and self.on_end is not None:
            try:
                self.on_end()
            except Exception:  # the daemon shutting down; the next squeue finds the end anyway
                log.debug("exit watch: wake failed", exc_info=True)
        return True


def _poll(ref: weakref.ref[ExitWatch], interval_s: float) -> None:
    """The thread holds its watch weakly: a dropped executor's thread ends at its next round."""
    while True:
        time.sleep(interval_s)
        watch = ref()
        if watch is None or not watch._round():
            return
        del watch
