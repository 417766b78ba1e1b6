"""``lz run``: the composition root. The landing zone is wired here, once (from ``lz.assembly``);
nothing else builds adapters for the daemon.

Signals: SIGUSR1 wakes the tick (sent by ``lz submit`` and ``lz cancel``); SIGTERM and SIGINT stop
taking work, let running steps finish (up to a grace period) and exit. Every step is crash-safe,
so a step cut short is simply redone on the next start; the landing zone's lock is held until the
process has really exited, so no second daemon can start while a worker of this one still writes.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import UTC, datetime
from typing import IO

from apscheduler.schedulers.background import BackgroundScheduler

from lz import assembly
from lz.config import Settings
from lz.engine import Engine
from lz.errors import ConfigError, StoreBusy
from lz.events import ControllerEvent, Listeners
from lz.faults import arm_from_environment
from lz.job import Job, Transition
from lz.process import ReportingRunner, run_command
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import upgrade
from lz.zone_lock import lock_landing_zone

log = logging.getLogger("lz")

_SIGNALS = {signal.SIGUSR1, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


class Ticker:
    """Runs the engine's tick on APScheduler, never overlapping itself; a wake-up during a tick
    makes the tick run once more right after, so no submission or cancel waits a full period."""

    def __init__(self, engine: Engine, period_s: float):
        self.engine = engine
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self._again = threading.Event()
        self._running = threading.Lock()
        self.scheduler.add_job(self._tick, "interval", seconds=period_s, id="tick", max_instances=1,
                               coalesce=True, misfire_grace_time=None, next_run_time=datetime.now(UTC))

    def _tick(self) -> None:
        if not self._running.acquire(blocking=False):
            self._again.set()
            return
        try:
            for _ in range(100):
                self._again.clear()
                try:
                    self.engine.tick()
                except StoreBusy as exc:  # the next tick retries; nothing was written
                    log.warning("tick skipped: %s", exc)
                except Exception:  # a bug in one tick must not stop the daemon; the next tick retries
                    log.exception("tick failed")
                if not self._again.is_set():
                    break
        finally:
            self._running.release()

    def wake(self) -> None:
        self._again.set()
        try:
            self.scheduler.modify_job("tick", next_run_time=datetime.now(UTC))
        except Exception:  # scheduler shutting down
            pass

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.shutdown(wait=True)


class TransitionLog:
    """One log line per transition, with the job id on it (a listener, like any other)."""

    def on_transition(self, job: Job, transition: Transition) -> None:
        log.info("job %s: %s -> %s (%s)%s", job.id, transition.from_state or "-", transition.to_state,
                 transition.event, f": {transition.detail}" if transition.detail else "")

    def on_controller(self, event: ControllerEvent) -> None:
        if event.kind == "call" and not event.ok:
            log.info("controller: %s failed after %.1fs", event.program, event.seconds)


def run_daemon(settings: Settings, out: IO[str] | None = None, shutdown_grace_s: float = 60.0) -> int:
    os.umask(settings.umask)
    try:
        arm_from_environment()  # a test hook (LZ_CRASH_AT): a wrong point name must not pass unnoticed
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        settings.workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {exc.filename}: {exc.strerror}") from None
    lock = lock_landing_zone(settings)
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)  # before any thread starts: they inherit it
    db = make_engine(settings.db, settings.busy_timeout_s)
    upgrade(db)
    listeners = Listeners(TransitionLog())
    store = JobStore(db, listeners=listeners)
    runtime = assembly.runtime(settings)
    executor = assembly.executor(settings, runner=ReportingRunner(run_command, listeners.controller))
    ticker: Ticker | None = None
    zone = assembly.landing_zone(settings, store, runtime_=runtime, executor_=executor, listeners=listeners,
                                 wake=lambda: ticker.wake() if ticker else None)
    ticker = Ticker(zone.engine, settings.tick_s)
    removed = zone.housekeeping.recover()
    store.set_status(daemon_pid=os.getpid(), daemon_started=time.time(), runtime=runtime.name,
                     executor=executor.name, name=settings.name, workdir=str(settings.workdir))
    log.warning(
        "landing zone %r: executor %s, runtime %s (%s), work root %s, database %s%s",
        settings.name, executor.name, runtime.name, runtime.describe(), settings.workdir, settings.db,
        f", removed {len(removed)} leftovers" if removed else "",
    )
    ticker.start()
    try:
        while True:
            sig = signal.sigwait(_SIGNALS)
            if sig == signal.SIGUSR1:
                ticker.wake()
                continue
            log.warning("%s: finishing running steps, then stopping", signal.Signals(sig).name)
            break
    finally:
        ticker.stop()
        finished = _shutdown_pool(zone.engine, shutdown_grace_s)
        store.set_status(daemon_pid=None)
        settings.pid_file.unlink(missing_ok=True)
        if not finished:
            # Workers still run: leave with them, holding the lock to the last instant. Their steps
            # are crash-safe and are redone by the next daemon, exactly as after SIGKILL.
            log.warning("steps still running after %.0fs; they will be redone on the next start", shutdown_grace_s)
            logging.shutdown()
            os._exit(0)
        lock.close()
    return 0


def _shutdown_pool(engine: Engine, grace_s: float) -> bool:
    done = threading.Event()

    def _wait() -> None:
        engine.shutdown(wait=True)
        done.set()

    threading.Thread(target=_wait, daemon=True).start()
    return done.wait(grace_s)
