"""A landing zone inside a SLURM allocation (a *pilot*): it claims from the hub only what fits
what its allocation has free (CPUs, memory, GPUs) and what ends before the allocation does, and
on SIGTERM (``scancel``) it drains: hands every claim back and marks itself offline.

Claimed jobs run directly under the pilot (the local executor), not as ``srun`` steps: a step per
job is one more controller RPC per job (the queue cost pilots exist to skip), steps inside a
batch allocation need ``--overlap``/``--exact`` handling that differs across Slurm versions, and
the allocation's cgroup already confines everything the pilot starts; ``sstat`` on the batch
step shows the pilot and its jobs together. The pilot does the accounting the step would have
done (it never claims more than is free).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from lz.config import Settings, default_db
from lz.core import value_class
from lz.hub.agent.options import AgentOptions
from lz.hub.protocol.fit import Room
from lz.slurm.allocation import Allocation, from_environment, parse_squeue_end, squeue_end_argv

log = logging.getLogger("lz.hub.agent.pilot")

DEFAULT_MARGIN_S = 60.0


def free(allocation: Allocation, held: Iterable[Mapping[str, Any]], time_left_s: float | None,
         margin_s: float) -> Room | None:
    """What is left once the jobs still held (their ``resources``) are counted; ``None`` when
    the allocation ends too soon to claim anything (time left at most the margin)."""
    if time_left_s is not None and time_left_s <= margin_s:
        return None
    room = Room(cpus=allocation.cpus, memory_mb=allocation.memory_mb, gpus=len(allocation.gpus),
                time_left_s=None if time_left_s is None else time_left_s - margin_s)
    for res in held:
        room = room.minus(dict(res))
    return room


def as_claim(room: Room) -> dict[str, Any]:
    """The claim call's fields (``ClaimIn``); negative means nothing free."""
    return {"free_cpus": None if room.cpus is None else max(0, room.cpus),
            "free_memory_mb": None if room.memory_mb is None else max(0, room.memory_mb),
            "free_gpus": None if room.gpus is None else max(0, room.gpus), "time_left_s": room.time_left_s}


class Pilot:
    """The allocation, and when it ends (Slurm's end time, else asked of ``squeue`` once). The
    end is an epoch time (what the hub shows); the time left is counted down on ``monotonic``
    from the moment it was learnt, so a wall clock stepped back never lengthens it."""

    def __init__(self, allocation: Allocation, margin_s: float = DEFAULT_MARGIN_S,
                 run: Callable[[list[str]], tuple[int, str]] | None = None,
                 clock: Callable[[], float] = time.time, group: str | None = None,
                 monotonic: Callable[[], float] = time.monotonic):
        self.allocation = allocation
        # what the hub groups pilots by (``group_of``); by default the allocation's own job
        self.group = group_of(allocation, {}) if group is None else group
        self.margin_s = margin_s
        self.clock = clock
        self.monotonic = monotonic
        self._end = allocation.end_time
        if self._end is None and run is not None:
            code, out = run(squeue_end_argv(allocation.job_id))
            self._end = parse_squeue_end(out, clock()) if code == 0 else None
        self._end_mono = None if self._end is None else monotonic() + (self._end - clock())

    @property
    def ends_at(self) -> float | None:
        """When the allocation ends (epoch seconds), ``None`` when Slurm did not say."""
        return self._end

    def facts(self) -> dict[str, Any]:
        """What the pilot adds to its landing zone's registration (``ZoneFacts``): its group, its
        end, and its allocation's CPUs, memory and GPUs in place of the node's (where Slurm said)."""
        given = {"cpus": self.allocation.cpus, "memory_mb": self.allocation.memory_mb}
        return {"pilot_group": self.group, "ends_at": self.ends_at, "gpus": len(self.allocation.gpus),
                **{k: v for k, v in given.items() if v is not None}}

    def time_left_s(self) -> float | None:
        return None if self._end_mono is None else max(0.0, self._end_mono - self.monotonic())

    def room(self, held: Iterable[Mapping[str, Any]]) -> Room | None:
        return free(self.allocation, held, self.time_left_s(), self.margin_s)


def detect(environ: Mapping[str, str] = os.environ) -> Pilot | None:
    """A pilot when this process runs inside a SLURM allocation (``LZ_PILOT=0`` turns it off)."""
    if environ.get("LZ_PILOT", "1") == "0":
        return None
    allocation = from_environment(environ)
    if allocation is None:
        return None
    return Pilot(allocation, DEFAULT_MARGIN_S, run=_run, group=group_of(allocation, environ))


def group_of(allocation: Allocation, environ: Mapping[str, str]) -> str | None:
    """The SLURM job the pilot belongs to, for the hub to group pilots by: the array's job id
    (``SLURM_ARRAY_JOB_ID``, shared by its tasks) or, for a lone pilot job, its own job id;
    ``None`` when that is not a plain job id (the hub would refuse the registration)."""
    group = environ.get("SLURM_ARRAY_JOB_ID") or allocation.job_id
    return group if re.fullmatch(r"[0-9][0-9_]{0,63}", group) else None  # schemas.PILOT_GROUP


def pilot_settings(settings: Settings, pilot: Pilot, environ: Mapping[str, str] = os.environ) -> Settings:
    """A state folder of the pilot's own (database, spool, results, lock), whatever the
    submitting shell's environment held: on node-local storage (``$SLURM_TMPDIR``, else /tmp on
    the node), or, where a database was chosen (an ``LZ_DB`` that ``sbatch`` passed on to every
    task of an array), in a folder for this allocation beside it; pilots of one array landing on
    one node never share a database. Job work directories are named by job id under the work root
    (shared, on the shared filesystem). As many local slots as the allocation has CPUs (what fits
    is the claimer's rule); a 0.5 s tick unless one was chosen."""
    changes: dict[str, Any] = {"db": state_db(settings.db, pilot, settings.name, environ)}
    if pilot.allocation.cpus and settings.local_slots == 0:
        changes["local_slots"] = pilot.allocation.cpus
    if pilot.allocation.gpus and settings.gpus < 0:
        changes["gpus"] = len(pilot.allocation.gpus)
    if settings.tick_s == Settings.tick_s and settings.observe_interval_s == Settings.observe_interval_s:
        # the local executor's look is a few /proc reads, no controller: a fast tick costs little and a
        # job's end is seen at once (the 5 s default made a pilot's trivial job take ~6 s)
        changes["tick_s"] = changes["observe_interval_s"] = 0.5
    return value_class.replace(settings, **changes) if changes else settings


def state_db(db: Path, pilot: Pilot, name: str, environ: Mapping[str, str]) -> Path:
    """The pilot's database (pure): in a folder named for its allocation (``scratch_name``)."""
    if db == default_db(environ):
        base = pilot.allocation.node_tmp or Path(environ.get("TMPDIR") or "/tmp")
        return base / scratch_name(pilot, name) / "lz.db"
    if db.parent.name == scratch_name(pilot, name):  # already the pilot's own (a restart in the same allocation)
        return db
    return db.parent / scratch_name(pilot, name) / db.name


def running_limit(max_running: int, allocation: Allocation) -> int:
    """Jobs at once: no more than the allocation's CPUs (a job takes at least one)."""
    return max(1, min(max_running, allocation.cpus)) if allocation.cpus else max_running


def scratch_name(pilot: Pilot, name: str) -> str:
    """The folder of a pilot's own state on node-local storage (one per allocation and name)."""
    return f"lz-pilot-{pilot.allocation.job_id}-{name}"


def own_state_folder(settings: Settings, pilot: Pilot) -> Settings:
    """The pilot's state folder made private before anything is written there. Its name is
    predictable (a restart in the same allocation finds it), and a shared /tmp lets anyone make
    it first: a folder this account does not own, that others may write to, or a link, is never
    used (it would stop the pilot, or hold the database, every job's secrets, where someone else
    controls it); the pilot takes a fresh private folder of an unpredictable name beside it."""
    folder = settings.db.parent
    if folder.name != scratch_name(pilot, settings.name) or _private(folder):
        return settings
    import tempfile

    fresh = Path(tempfile.mkdtemp(prefix=f"{folder.name}.", dir=folder.parent))
    log.warning("pilot: %s is not a private folder of this account (made by someone else?); using %s",
                folder, fresh)
    return value_class.replace(settings, db=fresh / settings.db.name)


def _private(folder: Path) -> bool:
    """Made now (0700), or found as a real folder this account owns that nobody else may write to."""
    import stat

    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(folder, 0o700)
        return True
    except FileExistsError:
        pass
    info = os.lstat(folder)
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022


def _chosen(folder: Path, pilot: Pilot, name: str) -> bool:
    """A state folder the pilot chose for itself: its own name, or a fresh one beside it."""
    own = scratch_name(pilot, name)
    return folder.name == own or folder.name.startswith(f"{own}.")


def remove_scratch(settings: Settings, pilot: Pilot, active: Mapping[str, int], unfinished_claims: int) -> bool:
    """At a clean exit, the node-local state folder the pilot chose for itself goes: every job is
    cleaned and every claim finished with the hub, so nothing in it is needed again (the next
    pilot is another allocation, with a folder of its own). Anything still open keeps it."""
    folder = settings.state_dir
    if not _chosen(folder, pilot, settings.name) or unfinished_claims or any(active.values()):
        return False
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()


def as_pilot(settings: Settings, options: AgentOptions,
             environ: Mapping[str, str] = os.environ) -> tuple[Settings, AgentOptions]:
    """``lz run --hub`` inside an allocation: the pilot's settings and agent options (short
    long-polls, so a drain never waits long for a claim in flight); unchanged outside SLURM."""
    pilot = detect(environ)
    if pilot is None:
        return settings, options
    pilot.margin_s = settings.pilot_margin_s  # setting pilot_margin_s (env LZ_PILOT_MARGIN_S)
    settings = own_state_folder(pilot_settings(settings, pilot, environ), pilot)
    log.warning("pilot in SLURM job %s: %s CPUs, %s MB, %d GPUs, %s left; database %s",
                pilot.allocation.job_id, pilot.allocation.cpus, pilot.allocation.memory_mb,
                len(pilot.allocation.gpus), _left(pilot.time_left_s()), settings.db)
    return settings, dataclasses.replace(options, pilot=pilot, claim_wait_s=5.0,
                                         max_running=running_limit(options.max_running, pilot.allocation))


def _left(seconds: float | None) -> str:
    return "unlimited time" if seconds is None else f"{seconds:.0f}s"


def _run(argv: list[str]) -> tuple[int, str]:
    import subprocess

    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("%s: %s; the pilot's end time is unknown", argv[0], exc)
        return 1, ""
    return done.returncode, done.stdout
