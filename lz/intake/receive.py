"""Receiving jobs: the one door every source of jobs (the CLI now; a station API and the upstream
hub later) goes through. A job is either fully stored (spool directory and database row) or
rejected with a one-line reason; never half-stored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lz.config import Settings
from lz.core.errors import BundleError, ConfigError, JobNotFound, ResourceError, UserError
from lz.core.job import Job, JobSpec
from lz.core.value_class import replace
from lz.host.fs import fsync_dir, remove_tree
from lz.host.intake_lock import intake_in_flight
from lz.intake.bundle import IntakeLimits, stage_bundle
from lz.intake.capacity import Capacity, check_capacity, local_capacity
from lz.intake.spec_file import load_spec
from lz.store.intake_store import new_job_id

if TYPE_CHECKING:
    from lz.core.dependencies import Dependency
    from lz.core.volumes import Volume
    from lz.core.zone import LandingZoneStatus


class Store(Protocol):
    """What intake needs of a store: ``lz.store.jobs.JobStore`` (the daemon's, SQLAlchemy) or
    ``lz.store.intake_store.IntakeStore`` (``lz submit``'s, the standard library's sqlite3)."""

    def create(self, spec: JobSpec, *, job_id: str, source: str = ...) -> Job: ...

    def create_rejected(self, spec: JobSpec, *, job_id: str, reason: str, detail: str | None = ...,
                        source: str = ...) -> Job: ...

    def get(self, job_id: str) -> Job: ...

    def find(self, prefix: str) -> Job: ...

    def status(self) -> LandingZoneStatus: ...


class Rejected(UserError):
    """Intake refused the job; ``job`` is its record (cleaned, failed, with the reason)."""

    def __init__(self, message: str, job: Job):
        super().__init__(message)
        self.job = job


def receive(
    store: Store,
    settings: Settings,
    source: Path,
    *,
    name: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    origin: str = "cli",
    capacity: Capacity | None = None,
    volumes: Sequence[Volume] = (),
    after: Sequence[str] = (),
) -> Job:
    """Copy and validate the job folder or tarball into the spool, then record the job.

    The copy is staged under a hidden name, fsynced and renamed into place before the commit; a
    crash in between leaves a spool entry with no row, which the daemon's recovery removes.
    ``capacity``: what this landing zone can ever give one job (default: ``intake_capacity``).
    ``after``: ``--after`` values (``JOB[:ok|:any|:failed]``), added to the ``after`` of lz.toml.
    """
    spool = settings.spool_dir
    spool.mkdir(parents=True, exist_ok=True)
    with intake_in_flight(spool):  # from before the copy to the row: recovery then knows a dead intake's copy
        return _receive(store, settings, source, spool, name=name, overrides=overrides, origin=origin,
                        capacity=capacity, volumes=volumes, after=after)


def _receive(store: Store, settings: Settings, source: Path, spool: Path, *, name: str | None,
             overrides: Mapping[str, Any] | None, origin: str, capacity: Capacity | None,
             volumes: Sequence[Volume], after: Sequence[str]) -> Job:
    job_id = new_job_id()
    staging = spool / f".incoming-{job_id}-{os.urandom(3).hex()}"
    try:
        stage_bundle(Path(source), staging, IntakeLimits(max_bytes=settings.max_bundle_bytes,
                                                        max_files=settings.max_bundle_files),
                     settle=False)  # renamed to the job's id below, and that rename's folder fsynced
        spec = load_spec(staging, name=name or _default_name(source), overrides=overrides,
                         limits=settings.limits, require_command=False,
                         max_array_tasks=settings.max_array_tasks, retry_default=settings.retry_policy)
        spec = replace(spec, after=_prerequisites(store, job_id, (*spec.after, *_parsed(after)), origin))
        for volume in volumes:  # a hub's: bound only where this zone allows it (its own allow-list)
            from lz.core.volumes import hub_volume_refusal

            refusal = hub_volume_refusal(volume, os.path.realpath(volume.host_path), settings.hub_volume_roots,
                                         _protected(settings), (os.path.realpath(settings.workdir),))
            if refusal:
                raise ConfigError(refusal)
        if settings.volumes or volumes:  # this zone's and a hub Station's volumes (lz.core.volumes), in the spec
            spec = replace(spec, volumes=(*spec.volumes, *settings.volumes, *volumes))
        _within(spec, capacity if capacity is not None else intake_capacity(settings))
        _require_runnable(spec, settings, staging, _daemon_runtime(store))
    except UserError as exc:
        remove_tree(staging)
        raise Rejected(str(exc), _record_rejection(store, job_id, name or _default_name(source), exc, origin)) from None
    except BaseException:
        remove_tree(staging)
        raise
    os.rename(staging, spool / job_id)
    fsync_dir(spool)
    try:
        return store.create(spec, job_id=job_id, source=origin)
    except BaseException:
        remove_tree(spool / job_id)
        raise


def intake_capacity(settings: Settings) -> Capacity:
    """What this landing zone can ever give one job: the machine, when jobs run here; unknown
    under SLURM (the cluster's ``[limits]`` and sbatch decide there)."""
    if settings.executor == "slurm":
        return Capacity()
    return local_capacity(gpus=None if settings.gpus < 0 else settings.gpus)


def _within(spec: JobSpec, capacity: Capacity) -> None:
    try:
        check_capacity(spec.resources, capacity)
    except ResourceError as exc:
        raise ResourceError(f"lz.toml or flags: {exc}") from None


def _prerequisites(store: Store, job_id: str, wanted: Sequence[Dependency], origin: str) -> tuple[Dependency, ...]:
    """The dependencies with whole ids, each a job of this landing zone, and no cycle. A hub's
    job comes without: the hub held it until its prerequisites (hub jobs) ended."""
    if origin.startswith("hub:") or not wanted:
        return ()
    resolved = []
    for dep in wanted:
        try:
            resolved.append(replace(dep, job_id=store.find(dep.job_id).id))
        except JobNotFound as exc:
            raise BundleError(f"--after {dep}: {exc}") from None
    found = tuple(dict.fromkeys(resolved))
    from lz.core.dependencies import find_cycle

    cycle = find_cycle(job_id, found, lambda other: store.get(other).spec.after)
    if cycle:
        raise BundleError(f"--after: a cycle of dependencies ({' -> '.join(cycle)})")
    return found


def _parsed(after: Sequence[str]) -> tuple[Dependency, ...]:
    """``--after`` values; lz.core.dependencies is imported only for a job that has some (issue 23)."""
    if not after:
        return ()
    from lz.core.dependencies import parse_all

    return parse_all(after)


def _default_name(source: Path) -> str:
    base = Path(source).name
    for suffix in (".tar.gz", ".tgz", ".tar"):
        if base.endswith(suffix):
            return base[: -len(suffix)] or "job"
    return base or "job"


def _daemon_runtime(store: Store) -> str | None:
    """The runtime the landing zone's daemon chose when it last started (it may be down now)."""
    return store.status().runtime


def _require_runnable(spec: JobSpec, settings: Settings, folder: Path, runtime: str | None) -> None:
    """Refuse now what the daemon could never run: no command without a container, or a base
    image the site's catalogue does not have."""
    if runtime is None and settings.runtime != "none":
        from lz.runtimes import select  # here: a job run without a container needs no runtime code

        runtime = select.runtime_name(settings.runtime)
    if runtime in (None, "none"):
        if spec.command is None:
            raise BundleError("lz.toml: this landing zone runs jobs without a container, so `command` is required")
        return
    if spec.recipe is None:
        raise BundleError(f"this landing zone runs jobs in {runtime} containers: add a Dockerfile or a definition")
    text = (folder / spec.recipe).read_text(encoding="utf-8", errors="replace")
    from lz.runtimes import select

    select.catalogue_from(settings.images, settings.allow_pull).check_recipe(text, spec.recipe_kind or "dockerfile")


def _record_rejection(store: Store, job_id: str, name: str, exc: Exception, origin: str) -> Job:
    """Rejected jobs still get a record, so ``lz status`` shows what was refused and why; it is
    written already ended, in one transaction, so no tick can ever pick it up."""
    safe_name = name if name and all(c.isascii() and (c.isalnum() or c in "._-") for c in name) else "rejected"
    return store.create_rejected(JobSpec(name=safe_name[:64]), job_id=job_id, reason=f"rejected at intake: {exc}",
                                 detail=str(exc), source=origin)


def _protected(settings: Settings) -> tuple[str, ...]:
    """Folders a hub's volume may never bind, nor anything in or around them: the zone's home, its
    state folder (database, spool, results), its configuration folder and its hub token's."""
    home = os.path.expanduser("~")
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    folders = [home, str(settings.state_dir), os.path.join(config_home, "lz")]
    if settings.token_file and settings.token_file != "none":
        folders.append(os.path.dirname(os.path.abspath(os.path.expanduser(settings.token_file))))
    return tuple(os.path.realpath(f) for f in folders)
