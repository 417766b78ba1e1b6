"""The long steps a worker runs for one job: build, submit, collect-and-clean.

Each commits its intent before its side effect and is safe to run again after a crash:
- build: ``build`` is fired (work_dir recorded) before anything is written; a rebuild starts from an
  empty directory after stopping whatever an earlier build left running, so a half-built image is
  simply built again.
- submit: ``submit_attempted_at`` is committed before ``sbatch``; a restart finds the job by its
  name (or its exit file) instead of submitting it twice (see ``rules._queued``).
- collect: results are written to a temporary directory and renamed into the results store; only
  then is the work directory removed, and only then is ``clean`` fired, with ``results_at``. No commit
  sits between the rename and the removal: a complete result in the store is its own record, and
  collecting again after a crash returns it unchanged (``lz.results.collect``), work directory or not.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from lz.core import value_class
from lz.core.backoff import Backoff
from lz.core.dependencies import Dependency
from lz.core.errors import BuildError, CollectionError, ControllerUnavailable, InvalidTransition, SubmitRejected
from lz.core.events import Listeners, StepEvent
from lz.core.job import Job
from lz.core.machine import Outcome, State
from lz.core.records import JobContext, Tracked
from lz.core.rules import past_attempts, prerequisite
from lz.engine import notify_channel
from lz.engine.watcher import Watcher
from lz.engine.workspace import LOG_NAMES, Workspace, archive_attempt, attempt_logs
from lz.executors.array_tasks import TASKS_FILE, write_tasks_file
from lz.executors.base import Executor
from lz.executors.gpus import NoGpusFree
from lz.host.faults import crash_point
from lz.host.fs import remove_tree
from lz.host.process import kill_recorded_groups, recording_groups
from lz.results import manifest as manifests
from lz.results.collect import collect
from lz.results.collect_tree import ResultLimits
from lz.runtimes.base import Runtime
from lz.store.jobs import JobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Done:
    """What a step that acted reports to listeners (``None`` from a step: nothing to do)."""

    ok: bool
    bytes: int | None = None
    files: int | None = None


@dataclass
class Steps:
    store: JobStore
    executor: Executor
    runtime: Runtime
    workspace: Workspace
    watcher: Watcher
    clock: Callable[[], float]
    wake: Callable[[], None] = lambda: None
    build_timeout_s: float = 3600.0
    listeners: Listeners = field(default_factory=Listeners)
    result_limits: ResultLimits = field(default_factory=ResultLimits)
    notify_tcp: notify_channel.TcpChannel | None = None  # ``notify_tcp``: jobs are told its address and their token
    _resting: dict[str, Backoff] = field(default_factory=dict)  # jobs waiting for space (work root, results)

    def run(self, kind: str, job_id: str) -> None:
        """Run one step; listeners hear of each step that did something (duration, success, bytes)."""
        started, cpu = time.monotonic(), time.thread_time()
        done = {"build": self.build, "submit": self.submit, "collect": self.collect_and_clean}[kind](job_id)
        if done is not None:
            seconds = time.monotonic() - started
            log.info("job %s: %s step %.3f s, CPU %.3f s", job_id, kind, seconds, time.thread_time() - cpu)
            self.listeners.step(StepEvent(kind, job_id, seconds, done.ok, done.bytes, done.files))

    # -- build -----------------------------------------------------------------------------------
    def build(self, job_id: str) -> Done | None:
        job = self.store.get(job_id)
        if job.state == State.RECEIVED:
            root = self.workspace.fresh_paths(job.id).root
            try:
                job = self.store.fire(job_id, "build", expect=State.RECEIVED, work_dir=str(root))
            except InvalidTransition:
                return None
            crash_point("build.fired")
        if job.state != State.BUILDING:
            return None
        ctx = self.workspace.context(job)
        try:
            self._stage(ctx)
            with open(ctx.paths.build_log, "a", encoding="utf-8", errors="replace") as build_log, \
                    recording_groups(ctx.paths.meta):
                self.runtime.build(ctx, build_log, timeout_s=self.build_timeout_s)
            self._snapshot(ctx)
            notify_channel.open_channel(ctx.paths.work)  # after the snapshot: never a result
        except BuildError as exc:
            self._end(job_id, "build_failed", State.BUILDING, f"build failed: {exc}")
            return Done(ok=False)
        except OSError as exc:
            if _no_space(exc):
                self._wait_for_space(ctx)
                return Done(ok=False)
            self._end(job_id, "build_failed", State.BUILDING, f"staging failed: {exc}")
            return Done(ok=False)
        crash_point("build.done")
        self._resting.pop(job_id, None)
        self._fire(job_id, "built", State.BUILDING, executor=self.executor.name, reason=None)
        return Done(ok=True)

    def resting(self, now: float) -> frozenset[str]:
        """Jobs whose step waits for space again (the work root for a build, the results store for a
        collection): the tick leaves them alone until their per-job back-off expires."""
        return frozenset(job_id for job_id, rest in self._resting.items() if not rest.ready(now))

    def _wait_for_space(self, ctx: JobContext) -> None:
        """A full work root is the landing zone's fault, not the job's: free what this try used,
        say why in the job's reason, and try again later (backing off per job, up to a minute)."""
        remove_tree(ctx.paths.root)
        rest = self._resting.setdefault(ctx.job_id, Backoff(base_s=2.0, cap_s=60.0))
        rest.failed(self.clock())
        reason = (f"waiting for space in the work root {self.workspace.work_root} (no space left on device); "
                  f"trying again in {rest.next_try - self.clock():.0f}s")
        self.store.record(ctx.job_id, reason=reason)
        log.warning("job %s: %s", ctx.job_id, reason)

    def stop_build(self, job_id: str) -> bool:
        """Kill what a build of this job started (only the process groups lz recorded for it)."""
        job = self.store.get(job_id)
        return bool(job.work_dir) and bool(kill_recorded_groups(self.workspace.paths(job).meta))

    def _stage(self, ctx: JobContext) -> None:
        """A fresh copy of the spooled job in its work directory (from scratch: idempotent)."""
        spooled = self.workspace.spooled(ctx.job_id)
        if not spooled.is_dir():
            raise BuildError("the job's files are missing from the spool")
        kill_recorded_groups(ctx.paths.meta)  # a build orphaned by a crashed daemon must not write on
        remove_tree(ctx.paths.root)
        ctx.paths.meta.mkdir(parents=True, mode=0o700)
        ctx.paths.root.chmod(0o700)
        ctx.paths.runtime.mkdir(mode=0o700)
        shutil.copytree(spooled, ctx.paths.work, symlinks=True)

    def _snapshot(self, ctx: JobContext) -> None:
        """The manifest of every tree the job can write, taken after the build, before the run."""
        manifests.snapshot(ctx.paths.work).save(ctx.paths.manifest_for(""))
        for tree, root in self.runtime.writable_roots(ctx).items():
            manifests.snapshot(root).save(ctx.paths.manifest_for(tree))

    # -- submit ----------------------------------------------------------------------------------
    def submit(self, job_id: str) -> Done | None:
        job = self.store.get(job_id)
        if job.state != State.QUEUED or job.executor_id is not None:
            return None
        ctx = self.workspace.context(job)
        missing = [v for v in job.spec.volumes if not v.host_path or not os.path.isdir(v.host_path)]
        if missing:  # before it runs, as the original did: the job would find an empty mount point
            v = missing[0]
            why = (f"host path {v.host_path} does not exist on this landing zone" if v.host_path else
                   "not mapped on this landing zone (lz station volume map … --lz)")
            self._end(job_id, "submit_failed", State.QUEUED, f"volume {v.name}: {why}")
            return Done(ok=False)
        if job.attempt > 1 and not self._end_attempt(job, ctx):
            return Done(ok=False)
        if job.spec.after:
            ctx = replace(ctx, after=self._scheduler_ids(job))
        self.store.record(job_id, submit_attempted_at=self.clock())  # intent before sbatch
        crash_point("submit.intent")
        try:
            executor_id = self.executor.submit(ctx, self.runtime.run_argv(self._with_channel(ctx)))
        except ControllerUnavailable as exc:
            self.watcher.failed(exc)
            return Done(ok=False)
        except NoGpusFree as exc:  # the GPUs it asked for are busy: it stays queued for the next tick
            log.info("job %s: %s", job_id, exc)
            return Done(ok=False)
        except (SubmitRejected, ValueError) as exc:
            self._forget_submission(ctx)
            self._end(job_id, "submit_failed", State.QUEUED, f"submission refused: {exc}")
            return Done(ok=False)
        crash_point("submit.answered")
        self.store.record(job_id, executor_id=executor_id)
        crash_point("submit.recorded")
        self.watcher.nudge()  # the local executor: seen running (or ended) at the next tick, not an interval later
        return Done(ok=True)  # the pool wakes the tick as the step returns

    def _end_attempt(self, job: Job, ctx: JobContext) -> bool:
        """Before attempt N is submitted, attempt N-1 (recorded when the job was queued again) is
        cancelled, should the scheduler still hold it (a requeued copy), and its logs and exit
        record are moved to ``attempt-(N-1)/``: the new attempt starts with none of its files. Both
        idempotent, so a crash anywhere here just repeats them. False: the controller did not answer."""
        previous = (past_attempts(job) or [{}])[-1]
        if previous.get("executor_id"):
            old = Tracked(job.id, previous["executor_id"], ctx.paths, attempt=job.attempt - 1)
            try:
                self.executor.cancel([old])
            except ControllerUnavailable as exc:
                self.watcher.failed(exc)
                return False
        archive_attempt(ctx.paths, job.attempt - 1)
        crash_point("submit.archived")
        return True

    def _scheduler_ids(self, job: Job) -> tuple[tuple[Dependency, str], ...]:
        """The prerequisites still to end that the scheduler can wait for itself (their SLURM ids:
        the rules let the job be submitted only once each unfinished one has its final id)."""
        found = self.store.some(d.job_id for d in job.spec.after)
        pairs = []
        for dep in job.spec.after:
            known = prerequisite(found[dep.job_id]) if dep.job_id in found else None
            if known is not None and known.outcome is None and known.scheduler_id:
                pairs.append((dep, known.scheduler_id))
        return tuple(pairs)

    def _with_channel(self, ctx: JobContext) -> JobContext:
        """The job as it runs: ``$LZ_NOTIFY`` in its environment where it has a channel (the
        stored spec is unchanged; the job's own variable of that name wins)."""
        if not notify_channel.is_ours(ctx.paths.work):
            return ctx
        env = {**notify_channel.environment(self.runtime.work_inside(ctx), ctx.job_id, self.notify_tcp), **ctx.spec.env}
        return dataclasses.replace(ctx, spec=value_class.replace(ctx.spec, env=env))

    def _forget_submission(self, ctx: JobContext) -> None:
        """A refused submission may still have queued something (an answer cut short): cancel
        whatever carries the job's name before failing it. Best effort; nothing found is fine."""
        try:
            self.executor.cancel([Tracked(ctx.job_id, None, ctx.paths)])
        except ControllerUnavailable:
            pass

    # -- collect and clean -------------------------------------------------------------------------
    def collect_and_clean(self, job_id: str) -> Done | None:
        job = self.store.get(job_id)
        if job.state != State.COLLECTING:
            return None
        ctx = self.workspace.context(job)
        if job.work_dir:
            notify_channel.close_channel(ctx.paths.work)  # lz's, not a result
        trees = {}
        if job.work_dir and ctx.paths.manifest_for("").exists():
            trees[""] = (ctx.paths.work, manifests.Manifest.load(ctx.paths.manifest_for("")))
            for tree, root in self.runtime.writable_roots(ctx).items():
                saved = ctx.paths.manifest_for(tree)
                if saved.exists():
                    trees[tree] = (root, manifests.Manifest.load(saved))
        logs = {name: ctx.paths.meta / name for name in LOG_NAMES} | attempt_logs(ctx.paths, job.attempt)
        if job.spec.array and ctx.paths.meta.is_dir():  # a sweep: each task's end is kept with the logs
            logs[TASKS_FILE] = write_tasks_file(ctx.paths, job.spec.array, cancelled=job.outcome == Outcome.CANCELLED)
        try:
            summary = collect(trees, self.workspace.results(job_id), logs, limits=self.result_limits)
        except CollectionError as exc:
            rest = self._resting.setdefault(job_id, Backoff(base_s=2.0, cap_s=300.0))
            rest.failed(self.clock())
            log.warning("job %s: collection waits: %s", job_id, exc)
            self.store.record(job_id, pending_reason=f"collection waits: {exc}")
            return Done(ok=False)
        crash_point("collect.archived")
        self._resting.pop(job_id, None)
        results_at = self.clock()  # recorded with ``clean``: the stored result is its own record (see collect)
        crash_point("collect.stored")
        self.runtime.cleanup(ctx)
        if job.work_dir:
            kill_recorded_groups(ctx.paths.meta)
            remove_tree(ctx.paths.root)
        remove_tree(self.workspace.spooled(job_id))
        crash_point("clean.removed")
        note = summary.reason()
        self._fire(job_id, "clean", State.COLLECTING, detail=_summary_line(summary) + (f"; {note}" if note else ""),
                   results_at=results_at, pending_reason=None)
        return Done(ok=True, bytes=summary.bytes_archived, files=summary.added + summary.modified)

    # -- transitions -----------------------------------------------------------------------------
    def _end(self, job_id: str, event: str, expect: str, reason: str) -> None:
        self._fire(job_id, event, expect, outcome=Outcome.FAILED.value, reason=reason, ended_at=self.clock())

    def _fire(self, job_id: str, event: str, expect: str, detail: str | None = None, **facts: Any) -> None:
        try:
            self.store.fire(job_id, event, expect=expect, detail=detail, **facts)
        except InvalidTransition as exc:  # the job moved meanwhile (a cancel won the race)
            log.info("job %s: %s", job_id, exc)


def _summary_line(summary: object) -> str:
    to_dict = getattr(summary, "to_dict", None)
    data = to_dict() if callable(to_dict) else {}
    return ", ".join(f"{k} {v}" for k, v in data.items()) or "results stored"


def _no_space(exc: OSError) -> bool:
    """Out of space or quota, also inside the list of errors ``shutil.copytree`` gathers."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    gathered = exc.args[0] if isinstance(exc, shutil.Error) and exc.args else []
    marks = (f"[Errno {errno.ENOSPC}]", f"[Errno {errno.EDQUOT}]")
    return any(mark in str(item) for item in gathered for mark in marks)
