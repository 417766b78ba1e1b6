"""``lz run``: the composition root. Everything is wired here, once; nothing else builds adapters.

Signals: SIGUSR1 wakes the tick (sent by ``lz submit`` and ``lz cancel``); SIGTERM and SIGINT stop
taking work, let running steps finish (up to a grace period) and exit. Every step is crash-safe,
so a step cut short is simply redone on the next start.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from apscheduler.schedulers.background import BackgroundScheduler

from lz.config import Settings
from lz.engine import Engine
from lz.errors import UserError
from lz.executors.base import Executor
from lz.hub.options import AgentOptions, start_agent
from lz.runtimes.base import Runtime
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import upgrade

log = logging.getLogger("lz")

_SIGNALS = {signal.SIGUSR1, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def build_runtime(settings: Settings) -> Runtime:
    from lz.runtimes.catalogue import ImageCatalogue
    from lz.runtimes.select import pick_runtime

    requested = settings.runtime if settings.container == "slurm" else settings.container
    catalogue = ImageCatalogue({k: Path(v) for k, v in settings.images.items()}, allow_pull=settings.allow_pull)
    return pick_runtime(None if requested == "auto" else requested, catalogue=catalogue)


def build_executor(settings: Settings) -> Executor:
    if settings.container == "slurm":
        from lz.executors.slurm import SlurmExecutor, SlurmOptions

        s = settings.slurm
        return SlurmExecutor(SlurmOptions(
            prefix=s.job_prefix, account=s.account, qos=s.qos, partition=s.partition,
            extra_sbatch_args=tuple(s.extra_sbatch_args), gpu_flag=s.gpu_flag, command_timeout=s.command_timeout_s,
        ))
    from lz.executors.local import LocalExecutor

    return LocalExecutor(slots=settings.local_slots or os.cpu_count() or 1)


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


def run_daemon(settings: Settings, out: IO[str] | None = None, shutdown_grace_s: float = 60.0,
               hub: AgentOptions | None = None) -> int:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    settings.workdir.mkdir(parents=True, exist_ok=True)
    lock = _lock_landing_zone(settings)
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)  # before any thread starts: they inherit it
    db = make_engine(settings.db)
    upgrade(db)
    store = JobStore(db)
    runtime = build_runtime(settings)
    executor = build_executor(settings)
    ticker: Ticker | None = None
    engine = Engine(store, executor, runtime, settings, wake=lambda: ticker.wake() if ticker else None)
    ticker = Ticker(engine, settings.tick_s)
    removed = engine.recover()
    store.set_status(daemon_pid=str(os.getpid()), daemon_started=str(time.time()), runtime=runtime.name,
                     executor=executor.name, name=settings.name, workdir=str(settings.workdir))
    log.warning(
        "landing zone %r: executor %s, runtime %s (%s), work root %s, database %s%s",
        settings.name, executor.name, runtime.name, runtime.describe(), settings.workdir, settings.db,
        f", removed {len(removed)} leftovers" if removed else "",
    )
    ticker.start()
    agent = start_agent(hub, store, settings, wake=ticker.wake)  # the hub's jobs come in through intake
    try:
        while True:
            sig = signal.sigwait(_SIGNALS)
            if sig == signal.SIGUSR1:
                ticker.wake()
                continue
            log.warning("%s: finishing running steps, then stopping", signal.Signals(sig).name)
            break
    finally:
        if agent is not None:
            agent.stop()
        ticker.stop()
        _shutdown_pool(engine, shutdown_grace_s)
        store.set_status(daemon_pid=None)
        settings.pid_file.unlink(missing_ok=True)
        lock.close()
    return 0


def _shutdown_pool(engine: Engine, grace_s: float) -> None:
    done = threading.Event()

    def _wait() -> None:
        engine.shutdown(wait=True)
        done.set()

    threading.Thread(target=_wait, daemon=True).start()
    if not done.wait(grace_s):
        log.warning("steps still running after %.0fs; they will be redone on the next start", grace_s)


def _lock_landing_zone(settings: Settings) -> IO[str]:
    """One daemon per database: an flock held for the daemon's life; the pid file is for wake-ups."""
    handle = open(settings.state_dir / "lz.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserError(f"another landing zone is already running on {settings.db}") from None
    tmp = settings.pid_file.with_suffix(".tmp")
    tmp.write_text(f"{os.getpid()}\n")
    os.replace(tmp, settings.pid_file)
    return handle


def wake_daemon(settings: Settings) -> bool:
    """Nudge a running daemon so a new job or a cancel does not wait for the next tick.

    Only while the daemon holds its lock: a stale pid file must never signal a stranger."""
    if not daemon_running(settings):
        return False
    try:
        pid = int(settings.pid_file.read_text().strip())
        os.kill(pid, signal.SIGUSR1)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return False
    return True


def daemon_running(settings: Settings) -> bool:
    """True when some process holds the landing zone's lock."""
    path = settings.state_dir / "lz.lock"
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
