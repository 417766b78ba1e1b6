"""The tick and the steps it hands to workers: the only place where decisions meet side effects.

Each step commits its intent before its side effect and is safe to run again after a crash:
- build: ``build`` is fired (work_dir recorded) before anything is written; a rebuild starts from
  an empty directory, so a half-built image is simply built again.
- submit: ``submit_attempted_at`` is committed before ``sbatch``; a restart finds the job by its
  name (or its exit file) instead of submitting it twice (see ``rules._queued``).
- collect: results are written to a temporary directory and renamed into the results store; only
  then is the work directory removed, and only then is ``clean`` fired.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from lz import manifest as manifests
from lz.backoff import Backoff
from lz.collect import collect
from lz.config import Settings
from lz.errors import BuildError, ControllerUnavailable, InvalidTransition, SubmitRejected
from lz.executors.base import Executor, Tracked
from lz.fs import kill_processes_using, remove_tree
from lz.layout import JobPaths
from lz.machine import Outcome, State
from lz.rules import Action, Cancel, Fire, Record, StopWork, TickContext, Work, decide, submitted
from lz.runtimes.base import JobContext, Runtime
from lz.store.jobs import Job, JobStore
from lz.workpool import WorkPool

log = logging.getLogger(__name__)

_LANES = {"build": "build", "submit": "submit", "collect": "collect"}


class Engine:
    def __init__(
        self,
        store: JobStore,
        executor: Executor,
        runtime: Runtime,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        wake: Callable[[], None] = lambda: None,
    ):
        self.store = store
        self.executor = executor
        self.runtime = runtime
        self.settings = settings
        self.clock = clock
        self.wake = wake
        self.backoff = Backoff(cap_s=settings.slurm.backoff_max_s)
        self.pool = WorkPool(
            {"build": settings.workers, "submit": 2, "collect": settings.workers}, on_done=self._worker_done
        )
        self._last_usage = 0.0
        self._last_purge = 0.0

    # -- paths -----------------------------------------------------------------------------------
    def paths(self, job: Job) -> JobPaths:
        if job.work_dir:
            return JobPaths(Path(job.work_dir))
        return JobPaths.under(self.settings.workdir, job.id, self.settings.slurm.job_prefix)

    def context(self, job: Job) -> JobContext:
        return JobContext(job.id, job.spec, self.paths(job))

    def tracked(self, job: Job) -> Tracked:
        return Tracked(job.id, job.executor_id, self.paths(job), job.spec.resources.time_s)

    # -- the tick --------------------------------------------------------------------------------
    def tick(self) -> None:
        now = self.clock()
        jobs = self.store.active()
        busy = self.pool.busy()
        watched = [j for j in jobs if j.state in _WATCHED and submitted(j) and j.id not in busy]
        seen = {}
        observed = False
        if self.backoff.ready(now):
            observed = True
            if watched:
                try:
                    seen = self.executor.observe([self.tracked(j) for j in watched])
                except ControllerUnavailable as exc:
                    self._controller_failed(now, exc)
                    observed = False
                else:
                    self._controller_ok()
        ctx = TickContext(
            now=now,
            observed=observed,
            busy=busy,
            submit_grace_s=max(30.0, 3 * self.settings.tick_s),
            lost_after_s=self.settings.slurm.lost_after_s,
        )
        actions = [action for job in jobs for action in decide(job, seen.get(job.id), ctx)]
        self._apply(actions, {j.id: j for j in jobs}, observed)
        self._usage(now, [j for j in jobs if j.state == State.RUNNING and j.id not in busy])
        self._heartbeat(now)
        if now - self._last_purge > 3600:
            self._last_purge = now
            self.purge_expired_results(now)

    def _apply(self, actions: Sequence[Action], jobs: dict[str, Job], observed: bool) -> None:
        records: dict[str, dict[str, object]] = {}
        cancels: list[Job] = []
        submits = self._submit_budget(jobs.values()) if observed else 0
        for action in actions:
            if isinstance(action, Record):
                records.setdefault(action.job_id, {}).update(action.facts)
            elif isinstance(action, Fire):
                self._fire(action)
            elif isinstance(action, Cancel):
                cancels.append(jobs[action.job_id])
            elif isinstance(action, StopWork):
                if kill_processes_using(self.paths(jobs[action.job_id]).root):
                    log.info("job %s: cancelled, stopped its build", action.job_id)
            elif isinstance(action, Work):
                if action.kind == "submit":
                    if submits <= 0:
                        continue
                    submits -= 1
                self.pool.submit(_LANES[action.kind], action.job_id, self._step(action))
        self.store.record_many(records)
        if cancels:
            try:
                self.executor.cancel([self.tracked(j) for j in cancels])
            except ControllerUnavailable as exc:
                self._controller_failed(self.clock(), exc)

    def _submit_budget(self, jobs: Iterable[Job]) -> int:
        """How many submissions this tick: the local executor's free slots; SLURM queues itself."""
        capacity = getattr(self.executor, "capacity", lambda: None)()
        if capacity is None:
            return 1_000_000
        holding = sum(1 for j in jobs if j.state in _WATCHED and submitted(j))
        return max(0, capacity - holding)

    def _fire(self, action: Fire) -> None:
        try:
            self.store.fire(action.job_id, action.event, expect=action.expect, detail=action.detail, **action.facts)
        except InvalidTransition as exc:  # the job moved meanwhile (a cancel won the race): next tick
            log.info("job %s: %s", action.job_id, exc)
        else:
            if action.event in ("ended", "built"):
                self.wake()

    def _step(self, work: Work) -> Callable[[], None]:
        step = {"build": self.build, "submit": self.submit, "collect": self.collect_and_clean}[work.kind]
        return lambda: step(work.job_id)

    def _worker_done(self) -> None:
        self.wake()

    # -- controller health -------------------------------------------------------------------------
    def _controller_failed(self, now: float, exc: Exception) -> None:
        first = self.backoff.healthy
        self.backoff.failed(now, str(exc))
        if first:
            log.warning("controller unreachable: %s (backing off, jobs keep their state)", exc)
        self.store.set_status(controller_down_since=str(self.backoff.down_since), controller_error=str(exc))

    def _controller_ok(self) -> None:
        if not self.backoff.healthy:
            log.warning("controller answers again")
            self.backoff.succeeded()
            self.store.set_status(controller_down_since=None, controller_error=None)

    def _heartbeat(self, now: float) -> None:
        self.store.set_status(last_tick=str(now))

    def _usage(self, now: float, running: list[Job]) -> None:
        if not running or now - self._last_usage < self.settings.slurm.sstat_interval_s:
            return
        self._last_usage = now
        try:
            usage = self.executor.usage([self.tracked(j) for j in running])
        except ControllerUnavailable:
            return
        by_id = {j.id: j for j in running}
        self.store.record_many({
            job_id: {
                "cpu_seconds": u.cpu_seconds,
                "max_rss_bytes": max(u.max_rss_bytes or 0, by_id[job_id].max_rss_bytes or 0) or None,
            }
            for job_id, u in usage.items()
            if job_id in by_id
        })

    # -- steps (run on workers) ------------------------------------------------------------------
    def build(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job.state == State.RECEIVED:
            root = JobPaths.under(self.settings.workdir, job.id, self.settings.slurm.job_prefix).root
            try:
                job = self.store.fire(job_id, "build", expect=State.RECEIVED, work_dir=str(root))
            except InvalidTransition:
                return
        if job.state != State.BUILDING:
            return
        ctx = self.context(job)
        try:
            self._stage(ctx)
            with open(ctx.paths.build_log, "a", encoding="utf-8", errors="replace") as build_log:
                self.runtime.build(ctx, build_log, timeout_s=self.settings.build_timeout_s)
            self._snapshot(ctx)
        except BuildError as exc:
            self._fire_quietly(job_id, "build_failed", State.BUILDING, outcome=Outcome.FAILED.value,
                               reason=f"build failed: {exc}", ended_at=self.clock())
            return
        except OSError as exc:
            self._fire_quietly(job_id, "build_failed", State.BUILDING, outcome=Outcome.FAILED.value,
                               reason=f"staging failed: {exc}", ended_at=self.clock())
            return
        self._fire_quietly(job_id, "built", State.BUILDING, executor=self.executor.name)

    def _stage(self, ctx: JobContext) -> None:
        """A fresh copy of the spooled job in its work directory (from scratch: idempotent)."""
        spooled = self.settings.spool_dir / ctx.job_id
        if not spooled.is_dir():
            raise BuildError("the job's files are missing from the spool")
        kill_processes_using(ctx.paths.root)  # a build orphaned by a crashed daemon must not write on
        remove_tree(ctx.paths.root)
        ctx.paths.meta.mkdir(parents=True)
        ctx.paths.runtime.mkdir()
        shutil.copytree(spooled, ctx.paths.work, symlinks=True)

    def _snapshot(self, ctx: JobContext) -> None:
        """The manifest of every tree the job can write, taken after the build, before the run."""
        manifests.snapshot(ctx.paths.work).save(ctx.paths.manifest)
        for prefix, root in self.runtime.writable_roots(ctx).items():
            manifests.snapshot(root).save(ctx.paths.meta / f"manifest-{prefix}.json")

    def submit(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job.state != State.QUEUED or job.executor_id is not None:
            return
        ctx = self.context(job)
        self.store.record(job_id, submit_attempted_at=self.clock())  # intent before sbatch
        try:
            executor_id = self.executor.submit(ctx, self.runtime.run_argv(ctx))
        except ControllerUnavailable as exc:
            self._controller_failed(self.clock(), exc)
            return
        except (SubmitRejected, ValueError) as exc:
            self._fire_quietly(job_id, "submit_failed", State.QUEUED, outcome=Outcome.FAILED.value,
                               reason=f"submission refused: {exc}", ended_at=self.clock())
            return
        self.store.record(job_id, executor_id=executor_id)
        self.wake()

    def collect_and_clean(self, job_id: str) -> None:
        job = self.store.get(job_id)
        if job.state != State.COLLECTING:
            return
        ctx = self.context(job)
        trees = {}
        if job.work_dir and ctx.paths.manifest.exists():
            trees[""] = (ctx.paths.work, manifests.Manifest.load(ctx.paths.manifest))
            for prefix, root in self.runtime.writable_roots(ctx).items():
                saved = ctx.paths.meta / f"manifest-{prefix}.json"
                if saved.exists():
                    trees[prefix] = (root, manifests.Manifest.load(saved))
        logs = {"stdout": ctx.paths.stdout, "stderr": ctx.paths.stderr, "build.log": ctx.paths.build_log}
        summary = collect(trees, self.results_path(job_id), logs)
        self.store.record(job_id, results_at=self.clock())
        self.runtime.cleanup(ctx)
        if job.work_dir:
            remove_tree(ctx.paths.root)
        remove_tree(self.settings.spool_dir / job_id)
        self._fire_quietly(job_id, "clean", State.COLLECTING, detail=_summary_line(summary))

    def _fire_quietly(self, job_id: str, event: str, expect: str, detail: str | None = None, **facts: object) -> None:
        try:
            self.store.fire(job_id, event, expect=expect, detail=detail, **facts)
        except InvalidTransition as exc:
            log.info("job %s: %s", job_id, exc)

    # -- results and housekeeping ------------------------------------------------------------------
    def results_path(self, job_id: str) -> Path:
        return self.settings.results_dir / job_id

    def purge_expired_results(self, now: float) -> None:
        horizon = now - self.settings.retention_days * 86400
        for job in self.store.jobs([State.CLEANED.value]):
            if job.results_at is not None and job.results_at < horizon:
                remove_tree(self.results_path(job.id))

    def recover(self, orphan_age_s: float = 3600.0) -> list[str]:
        """Remove what a crash may have left: spool entries of cleaned jobs, work directories of
        cleaned jobs, and spool entries with no job at all once they are old (an intake that died
        before its commit; a young one may be an intake committing right now)."""
        removed: list[str] = []
        known = {j.id: j for j in self.store.jobs()}
        spool = self.settings.spool_dir
        now = time.time()
        if spool.is_dir():
            for entry in spool.iterdir():
                job = known.get(entry.name)
                if job is not None:
                    stale = job.state == State.CLEANED
                else:
                    try:
                        stale = now - entry.lstat().st_mtime > orphan_age_s
                    except FileNotFoundError:
                        continue
                if stale:
                    remove_tree(entry)
                    removed.append(str(entry))
        for job in known.values():
            if job.state == State.CLEANED and job.work_dir and Path(job.work_dir).exists():
                remove_tree(Path(job.work_dir))
                removed.append(job.work_dir)
        return removed

    def shutdown(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait)


_WATCHED = (State.QUEUED, State.RUNNING, State.CANCELLING)


def _summary_line(summary: object) -> str:
    to_dict = getattr(summary, "to_dict", None)
    data = to_dict() if callable(to_dict) else {}
    return ", ".join(f"{k} {v}" for k, v in data.items()) or "results stored"
