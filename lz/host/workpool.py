"""A bounded worker pool that advances each job with at most one worker at a time.

Separate lanes keep kinds of work from starving each other: a long build never delays a
submission or a collection.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from lz.core.errors import StoreBusy

log = logging.getLogger(__name__)


class WorkPool:
    def __init__(self, lanes: dict[str, int], on_done: Callable[[], None] = lambda: None):
        self._pools = {lane: ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"lz-{lane}")
                       for lane, size in lanes.items()}
        self._busy: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._on_done = on_done
        self._closed = False

    def busy(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._busy)

    def submit(self, lane: str, job_id: str, work: Callable[[], None]) -> bool:
        """Start ``work`` for ``job_id`` unless that job already has a worker; False if skipped."""
        with self._lock:
            if self._closed or job_id in self._busy:
                return False
            future = self._pools[lane].submit(self._guard, job_id, work)
            self._busy[job_id] = future
            return True

    def _guard(self, job_id: str, work: Callable[[], None]) -> None:
        try:
            work()
        except StoreBusy as exc:  # every step is redone from its last commit by a later tick
            log.warning("job %s: step put off: %s", job_id, exc)
        except Exception:  # a bug in one job's step must not kill the worker or the daemon
            log.exception("work for job %s failed", job_id)
        finally:
            with self._lock:
                self._busy.pop(job_id, None)
            self._on_done()

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
        for pool in self._pools.values():
            pool.shutdown(wait=wait, cancel_futures=True)
