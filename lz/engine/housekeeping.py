"""What keeps a landing zone tidy over months: removing what a crash left behind (at start) and
results past their retention period (hourly)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lz.core.machine import State
from lz.engine.workspace import Workspace
from lz.host.fs import remove_tree
from lz.host.intake_lock import no_intake_in_flight
from lz.host.process import kill_recorded_groups
from lz.store.jobs import JobStore


@dataclass
class Housekeeping:
    store: JobStore
    workspace: Workspace
    clock: Callable[[], float]
    retention_days: float = 30.0
    purge_every_s: float = 3600.0
    orphan_age_s: float = 3600.0
    _last_purge: float = float("-inf")

    def tick(self, now: float) -> None:
        if now - self._last_purge >= self.purge_every_s:
            self._last_purge = now
            self.purge_expired_results(now)

    def purge_expired_results(self, now: float) -> list[str]:
        horizon = now - self.retention_days * 86400
        purged = []
        for job in self.store.jobs([State.CLEANED.value]):
            if job.results_at is not None and job.results_at < horizon:
                path = self.workspace.results(job.id)
                if path.exists():
                    remove_tree(path)
                    purged.append(job.id)
        return purged

    def recover(self) -> list[str]:
        """Remove what a crash may have left: spool entries and work directories of cleaned jobs,
        and spool entries with no job at all (an intake that died before its commit): at once when
        no intake holds the intake lock, else once they are old (a young one may be committing)."""
        removed: list[str] = []
        spool = self.workspace.spool_dir
        with no_intake_in_flight(spool) as quiet:  # rows read under the lock: no intake commits meanwhile
            known = {j.id: j for j in self.store.jobs()}
            now = self.clock()
            for entry in spool.iterdir() if spool.is_dir() else ():
                job = known.get(entry.name)
                if job is not None:
                    stale = job.state == State.CLEANED
                elif quiet:
                    stale = True  # no intake runs: a dead one's copy (killed between its copy and its row)
                else:
                    try:
                        stale = now - entry.lstat().st_mtime > self.orphan_age_s
                    except FileNotFoundError:
                        continue
                if stale:
                    remove_tree(entry)
                    removed.append(str(entry))
        for job in known.values():
            if job.state == State.CLEANED and job.work_dir and Path(job.work_dir).exists():
                kill_recorded_groups(self.workspace.paths(job).meta)
                remove_tree(Path(job.work_dir))
                removed.append(job.work_dir)
        return removed
