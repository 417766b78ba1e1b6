"""How a landing zone is put together from its settings: runtime, image catalogue, executor,
workspace and the engine around them. The daemon wires a landing zone from here once; the runtime
choice and the image catalogue themselves live in ``lz.runtimes.select``, where intake takes them too.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lz.config import Settings
from lz.core.errors import ConfigError
from lz.engine.workspace import Workspace

if TYPE_CHECKING:  # the CLI takes only the light half of this module: imports stay in the functions
    from lz.core.events import Listeners
    from lz.engine.housekeeping import Housekeeping
    from lz.engine.notify_channel import NotificationReader
    from lz.engine.notify_tcp import TcpListener
    from lz.engine.tick import Engine
    from lz.executors.base import Executor
    from lz.host.process import CommandRunner
    from lz.runtimes.base import Runtime
    from lz.runtimes.catalogue import ImageCatalogue
    from lz.store.jobs import JobStore

log = logging.getLogger(__name__)

def catalogue(settings: Settings) -> ImageCatalogue:
    from lz.runtimes.select import catalogue_from

    return catalogue_from(settings.images, settings.allow_pull)


def runtime_name(settings: Settings) -> str:
    """The runtime this landing zone's settings choose (``auto``: the first one installed)."""
    from lz.runtimes.select import runtime_name as choose

    return choose(settings.runtime)


def runtime(settings: Settings) -> Runtime:
    from lz.runtimes.select import pick_runtime

    return pick_runtime(settings.runtime, catalogue=catalogue(settings), sandbox=settings.apptainer_sandbox)


def executor(settings: Settings, runner: CommandRunner | None = None) -> Executor:
    from lz.host.process import run_command

    runner = runner or run_command
    if settings.executor == "slurm":
        from lz.executors.slurm import SlurmExecutor

        return SlurmExecutor(settings.slurm, prefix=settings.job_prefix, runner=runner)
    from lz.executors.local import LocalExecutor

    return LocalExecutor(slots=settings.local_slots or os.cpu_count() or 1, gpus=gpu_devices(settings),
                         gpu_dir=settings.state_dir / "gpus")


def gpu_devices(settings: Settings) -> list[str]:
    """The GPUs local jobs share: ``gpus = N`` as configured (a pilot sets it from its
    allocation), else the NVIDIA devices found on this machine."""
    from lz.intake.capacity import local_capacity

    count = settings.gpus if settings.gpus >= 0 else (local_capacity().gpus or 0)
    return [str(i) for i in range(count)]


def workspace(settings: Settings) -> Workspace:
    return Workspace(settings.workdir, settings.spool_dir, settings.results_dir, settings.job_prefix)


def notification_reader(settings: Settings, store: JobStore, space: Workspace,
                        tcp: TcpListener | None = None) -> NotificationReader:
    from functools import partial

    from lz.core.notifications import Limits
    from lz.engine.notify_channel import NotificationReader
    from lz.store import notifications

    return NotificationReader(partial(notifications.add, store.engine), partial(notifications.counts, store.engine),
                              lambda job: space.paths(job).work, Limits(per_minute=settings.notify_per_minute), tcp)


def notify_listener(settings: Settings) -> TcpListener | None:
    """With ``notify_tcp``: the TCP channel's listener, started (its key kept in the state folder)."""
    if not settings.notify_tcp:
        return None
    from lz.engine.notify_tcp import TcpListener, load_key
    from lz.metrics.address import parse_address

    host, port = parse_address(settings.notify_tcp, "notify_tcp")
    try:
        listener = TcpListener(host, port, load_key(settings.state_dir))
    except OSError as exc:
        raise ConfigError(f"notify_tcp {settings.notify_tcp}: {exc.strerror or exc}") from None
    log.warning("job notifications over TCP at %s", listener.address)
    return listener.start()


@dataclass
class LandingZone:
    """Everything a running landing zone is made of (the daemon's, a pilot's)."""

    store: JobStore
    engine: Engine
    runtime: Runtime
    executor: Executor
    housekeeping: Housekeeping


def landing_zone(settings: Settings, store: JobStore, *, runtime_: Runtime, executor_: Executor,
                 listeners: Listeners, wake: Callable[[], None], clock: Callable[[], float] = time.time) -> LandingZone:
    from lz.engine.housekeeping import Housekeeping
    from lz.engine.steps import Steps
    from lz.engine.tick import Engine, TickSettings
    from lz.engine.watcher import Watcher
    from lz.host.workpool import WorkPool

    space = workspace(settings)
    watcher = Watcher(executor_, clock=clock, interval_s=max(settings.tick_s, settings.observe_interval_s),
                      min_interval_s=settings.observe_min_interval_s,
                      usage_interval_s=settings.usage_interval_s, backoff_max_s=settings.backoff_max_s,
                      listeners=listeners)

    def ended() -> None:  # a job's end is seen at once, where the executor can tell
        watcher.nudge()
        wake()

    executor_.notify_ends(ended)
    from lz.results.collect_tree import ResultLimits

    tcp = notify_listener(settings)
    steps = Steps(store, executor_, runtime_, space, watcher, clock, wake, settings.build_timeout_s, listeners,
                  ResultLimits(settings.results_max_bytes, settings.results_max_files), notify_tcp=tcp)
    pool = WorkPool({"build": settings.workers, "submit": 2, "collect": settings.workers}, on_done=wake)
    housekeeping = Housekeeping(store, space, clock, settings.retention_days)
    tick = TickSettings(submit_grace_s=max(settings.submit_grace_s, 3 * settings.tick_s), lost_after_s=settings.lost_after_s,
                        capacity=executor_.capacity(),
                        queue_memory_s=300.0 if settings.executor == "slurm" else float("inf"),
                        retry_backoff_s=settings.retry_backoff_s, retry_backoff_max_s=settings.retry_backoff_max_s,
                        native_dependencies=settings.executor == "slurm")
    engine = Engine(store, watcher, steps, pool, space, clock=clock, settings=tick, housekeeping=housekeeping,
                    listeners=listeners, notifications=notification_reader(settings, store, space, tcp))
    return LandingZone(store, engine, runtime_, executor_, housekeeping)
