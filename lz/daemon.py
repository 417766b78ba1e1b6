"""``lz run``: the composition root. The landing zone is wired here, once (from ``lz.engine.assembly``);
nothing else builds adapters for the daemon.

Signals: SIGUSR1 wakes the tick (sent by ``lz submit`` and ``lz cancel``); SIGHUP reopens the log
file (logrotate, ``systemctl reload``); SIGTERM and SIGINT stop
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from lz.config import Settings
from lz.core.errors import ConfigError, StoreBusy
from lz.core.events import Listeners
from lz.engine import assembly
from lz.engine.tick import Engine
from lz.engine.zone_lock import lock_landing_zone, write_pid_file
from lz.host.faults import arm_from_environment
from lz.host.fs import private_directory
from lz.host.process import ReportingRunner, run_command
from lz.hub.agent.agent import start_agent
from lz.hub.agent.options import AgentOptions
from lz.ops.logfile import TransitionLog, log_files, reopen
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import upgrade

if TYPE_CHECKING:
    from lz.metrics.server import Endpoint
    from lz.runtimes.base import Runtime

log = logging.getLogger("lz")

_SIGNALS = {signal.SIGUSR1, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
MIN_WAKE_S = 0.2


class Ticker:
    """Runs the engine's tick on APScheduler, never overlapping itself; a wake-up during a tick
    makes the tick run once more right after, so no submission or cancel waits a full period.

    APScheduler 3 plans on the wall clock: after the clock is set back an hour its next run is an
    hour away. A watchdog measures on the monotonic clock and wakes the tick when a period has
    passed without one, so a clock step delays a tick by one period at most."""

    def __init__(self, engine: Engine, period_s: float, monotonic: Callable[[], float] = time.monotonic):
        self.engine = engine
        self.period_s = period_s
        self.monotonic = monotonic
        # one thread for every job: a tick on a fresh thread would grow a fresh malloc arena (at
        # 10,000 jobs a tick's allocations are ~15 MiB, kept per arena), and nothing here needs two
        self.scheduler = BackgroundScheduler(timezone=UTC, executors={"default": ThreadPoolExecutor(1)})
        self._again = threading.Event()
        self._running = threading.Lock()
        self._stopping = threading.Event()
        self.last_tick = monotonic()
        self.scheduler.add_job(self._tick, "interval", seconds=period_s, id="tick", max_instances=1,
                               coalesce=True, misfire_grace_time=None, next_run_time=datetime.now(UTC))
        self._watchdog = threading.Thread(target=self._watch, name="tick-watchdog", daemon=True)

    def _watch(self) -> None:
        while not self._stopping.wait(self.period_s):
            if self.monotonic() - self.last_tick > 2 * self.period_s and not self._running.locked():
                log.warning("no tick for %.0fs (the wall clock stepped?): ticking now",
                            self.monotonic() - self.last_tick)
                self.wake()

    def _tick(self) -> None:
        if not self._running.acquire(blocking=False):
            self._again.set()
            return
        self.last_tick = self.monotonic()
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
        self._wake_for_look()

    def _wake_for_look(self) -> None:
        """A look due before the next periodic tick (the watcher's gap is shorter right after a
        submission) gets a tick of its own then; at least MIN_WAKE_S away, so a tick that could not
        look (a busy database) never turns into a busy loop. A job of its own that calls ``wake``,
        not the tick job brought forward: APScheduler skips a run that finds the tick still running
        (max_instances), and the look would wait a whole period; ``wake`` sets the again flag."""
        due = self.engine.next_look_in()
        if due is None or due >= self.period_s:
            return
        try:
            self.scheduler.add_job(self.wake, "date", id="look", replace_existing=True, misfire_grace_time=None,
                                   run_date=datetime.now(UTC) + timedelta(seconds=max(due, MIN_WAKE_S)))
        except Exception:  # scheduler shutting down
            pass

    def wake(self) -> None:
        self._again.set()
        try:
            self.scheduler.modify_job("tick", next_run_time=datetime.now(UTC))
        except Exception:  # scheduler shutting down
            pass

    def start(self) -> None:
        self.scheduler.start()
        self._watchdog.start()

    def stop(self) -> None:
        self._stopping.set()
        self.scheduler.shutdown(wait=True)


@dataclass
class Ready:
    """What ``get_ready`` checked and holds: the landing zone's lock and its runtime."""

    lock: IO[str]
    runtime: Runtime
    pid_file: Path

    def release(self) -> None:
        """Give the zone back without having run it (a login that failed): lock and pid file."""
        self.pid_file.unlink(missing_ok=True)
        self.lock.close()


def get_ready(settings: Settings) -> Ready:
    """Everything that can refuse a start, done before anything asks a person for anything (a
    hub login): the fault hook, the state folder and work root, the zone's lock, the runtime."""
    os.umask(settings.umask)
    try:
        arm_from_environment()  # a test hook (LZ_CRASH_AT): a wrong point name must not pass unnoticed
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        private_directory(settings.state_dir, group=settings.group_access)
        settings.workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {exc.filename}: {exc.strerror}") from None
    lock = lock_landing_zone(settings, pid_file=False)  # the pid file says "running": written by run_daemon
    try:
        return Ready(lock, assembly.runtime(settings), settings.pid_file)
    except BaseException:
        lock.close()
        raise


def run_daemon(settings: Settings, out: IO[str] | None = None, shutdown_grace_s: float | None = None,
               hub: AgentOptions | None = None, ready: Ready | None = None) -> int:
    grace_s = settings.stop_grace_s if shutdown_grace_s is None else shutdown_grace_s
    ready = ready or get_ready(settings)
    lock = ready.lock
    # before the pid file says "running" and before any thread starts (they inherit the mask): a
    # SIGTERM from then on waits for sigwait below and stops the daemon in order, pid file removed
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        write_pid_file(settings)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        lock.close()
        raise
    try:
        return _serve(settings, ready, grace_s, hub)
    finally:  # whatever failed, at start or at the end: no pid file says "running" once it is gone
        settings.pid_file.unlink(missing_ok=True)


def _serve(settings: Settings, ready: Ready, grace_s: float, hub: AgentOptions | None) -> int:
    """The daemon's life once its pid file is written: recover, tick, wait for a signal, stop."""
    lock = ready.lock
    db = make_engine(settings.db, settings.busy_timeout_s)
    upgrade(db)
    listeners = Listeners(TransitionLog())
    store = JobStore(db, listeners=listeners)
    runtime = ready.runtime
    executor = assembly.executor(settings, runner=ReportingRunner(run_command, listeners.controller))
    endpoint = _serve_metrics(settings, store, listeners, runtime.name, executor.name)
    ticker: Ticker | None = None
    zone = assembly.landing_zone(settings, store, runtime_=runtime, executor_=executor, listeners=listeners,
                                 wake=lambda: ticker.wake() if ticker else None)
    ticker = Ticker(zone.engine, settings.tick_s)
    removed = zone.housekeeping.recover()
    store.set_status(daemon_pid=os.getpid(), daemon_started=time.time(), runtime=runtime.name,
                     executor=executor.name, name=settings.name, workdir=str(settings.workdir),
                     log_file=next(iter(log_files()), None), metrics=endpoint.address if endpoint else None)
    log.warning(
        "landing zone %r: executor %s, runtime %s (%s), work root %s, database %s%s",
        settings.name, executor.name, runtime.name, runtime.describe(), settings.workdir, settings.db,
        f", removed {len(removed)} leftovers" if removed else "",
    )
    ticker.start()
    agent = start_agent(hub, store, settings, wake=ticker.wake)  # the hub's jobs come in through intake
    if agent is not None:
        listeners.add(agent)  # a job's end frees room for the next claim, its clean starts the upload
    sig = None
    try:
        while True:
            sig = signal.sigwait(_SIGNALS)
            if sig == signal.SIGUSR1:
                ticker.wake()
                continue
            if sig == signal.SIGHUP:
                log.warning("SIGHUP: reopened %s", ", ".join(reopen()) or "no log file (logging to stderr)")
                continue
            log.warning("%s: finishing running steps, then stopping", signal.Signals(sig).name)
            break
    finally:
        drained = agent is not None and hub is not None and hub.pilot is not None and sig == signal.SIGTERM
        if drained and agent is not None:
            from lz.hub.agent.drain import drain

            drain(agent)  # scancel: hand everything back while the ticker still runs the cancels
        if agent is not None:
            agent.stop(timeout_s=0.5 if drained else 5.0)  # after a drain: no waiting on a long poll
        ticker.stop()
        finished = _shutdown_pool(zone.engine, grace_s)
        store.set_status(daemon_pid=None)
        if endpoint is not None:
            endpoint.close()
        settings.pid_file.unlink(missing_ok=True)  # here too: os._exit below skips the finally
        if not finished:
            # Workers still run: leave with them, holding the lock to the last instant. Their steps
            # are crash-safe and are redone by the next daemon, exactly as after SIGKILL.
            log.warning("steps still running after %.0fs; they will be redone on the next start", grace_s)
            logging.shutdown()
            os._exit(0)
        lock.close()
        if hub is not None and hub.pilot is not None:
            _remove_pilot_scratch(settings, hub.pilot, store, db)
    return 0


def _remove_pilot_scratch(settings: Settings, pilot: Any, store: JobStore, db: Any) -> None:
    from lz.hub.agent import outbox
    from lz.hub.agent.pilot import remove_scratch

    try:
        active = {k: v for k, v in store.count_by_state().items() if k != "cleaned"}
        unfinished = len(outbox.claims(db))
        db.dispose()
        if remove_scratch(settings, pilot, active, unfinished):
            log.warning("pilot's state folder %s removed: every job is cleaned and reported", settings.state_dir)
        else:
            log.warning("pilot's state folder %s kept (%s)", settings.state_dir,
                        f"{sum(active.values())} jobs not cleaned, {unfinished} claims open"
                        if active or unfinished else "not one the pilot chose")
    except Exception:  # never let tidying up turn a clean exit into a failure
        log.exception("could not remove the pilot's state folder %s", settings.state_dir)


def _serve_metrics(settings: Settings, store: JobStore, listeners: Listeners, runtime: str,
                   executor: str) -> Endpoint | None:
    """With ``--metrics HOST:PORT``: a metrics listener and the ``/metrics`` endpoint."""
    if not settings.metrics:
        return None
    from prometheus_client import CollectorRegistry

    from lz import __version__
    from lz.metrics.server import serve
    from lz.metrics.zone import ZoneMetrics

    registry = CollectorRegistry()
    info = {"name": settings.name, "executor": executor, "runtime": runtime, "version": __version__}
    listeners.add(ZoneMetrics(registry, store.count_by_state_and_outcome, info=info))
    endpoint = serve(settings.metrics, registry)
    log.warning("metrics on http://%s/metrics", endpoint.address)
    return endpoint


def _shutdown_pool(engine: Engine, grace_s: float) -> bool:
    done = threading.Event()

    def _wait() -> None:
        engine.shutdown(wait=True)
        done.set()

    threading.Thread(target=_wait, daemon=True).start()
    return done.wait(grace_s)
