"""The exit watch: a job's clean end is known from its exit file between two squeue looks, and
only a clean one; the watch follows the scheduler's list and never outlives its executor."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

from lz.core.job import JobSpec
from lz.core.layout import JobPaths
from lz.core.machine import State
from lz.core.records import JobContext, Observation, Tracked
from lz.core.value_class import replace
from lz.engine.tick import _ended_early
from lz.engine.watcher import Look, Watcher
from lz.executors.base import Executor
from lz.executors.exit_watch import WATCHED_AT_MOST, ExitWatch
from tests.unit.core.test_rules import job
from tests.unit.engine.test_slurm_executor import Script, done, executor

POLL_S = 0.05


def submitted(tmp_path: Path, job_id: str = "abc", attempt: int = 1):  # type: ignore[no-untyped-def]
    """An executor polling every 50 ms, one job submitted to it (SLURM id 77), and a wake counter."""
    woken = threading.Event()
    ex = executor(Script({"sbatch": [done("77\n")], "squeue": [done("")]}), exit_poll_s=POLL_S)
    ex.notify_ends(woken.set)
    paths = JobPaths(tmp_path / f"lz-{job_id}")
    paths.meta.mkdir(parents=True)
    assert ex.submit(JobContext(job_id, JobSpec(name="x", command=("true",)), paths, attempt=attempt), ["true"]) == "77"
    return ex, Tracked(job_id, "77", paths, attempt=attempt), woken


def exits(paths: JobPaths, code: int) -> None:
    """As the wrapper does: a temporary name, then a rename."""
    (paths.meta / "exit.tmp").write_text(f"{code}\n")
    (paths.meta / "exit.tmp").rename(paths.exit_file)


def test_a_clean_end_wakes_the_daemon_and_is_known_without_a_squeue(tmp_path: Path) -> None:
    ex, job_, woken = submitted(tmp_path)
    assert ex.ended_between_looks([job_]) == {}
    exits(job_.paths, 0)
    assert woken.wait(5)
    assert ex.ended_between_looks([job_]) == {
        "abc": Observation("ended", "77", "EXITED", exit_code=0, seen_before=True)}
    assert ex.runner.programs() == ["sbatch"]  # type: ignore[attr-defined]


def test_a_failed_end_waits_for_the_schedulers_word(tmp_path: Path) -> None:
    """Exit 137 may be an out-of-memory kill or a time limit: only squeue's state tells which."""
    ex, job_, woken = submitted(tmp_path)
    exits(job_.paths, 137)
    assert not woken.wait(20 * POLL_S)
    assert ex.ended_between_looks([job_]) == {}


def test_another_attempts_end_is_not_this_attempts(tmp_path: Path) -> None:
    ex, job_, woken = submitted(tmp_path, attempt=1)
    exits(job_.paths, 0)
    assert woken.wait(5)
    assert ex.ended_between_looks([replace(job_, attempt=2)]) == {}


def test_a_job_the_scheduler_no_longer_lists_is_left_to_the_next_look(tmp_path: Path) -> None:
    """A look replaces the watched list with the jobs it found out (pending or running)."""
    ex, job_, woken = submitted(tmp_path)
    assert ex.observe([job_])["abc"].phase == "absent"  # squeue lists nothing
    exits(job_.paths, 0)
    assert not woken.wait(20 * POLL_S)


def test_the_watch_is_bounded_and_skips_arrays(tmp_path: Path) -> None:
    watch = ExitWatch(3600)
    jobs = [Tracked(f"j{i}", str(i), JobPaths(tmp_path / f"j{i}")) for i in range(WATCHED_AT_MOST + 10)]
    watch.watch([Tracked("sweep", "9", JobPaths(tmp_path / "sweep"), array="0-9")])
    watch.watch(jobs)
    assert len(watch._watched) == WATCHED_AT_MOST and ("sweep", 1) not in watch._watched
    assert not ExitWatch(0).enabled


def test_a_dropped_executors_watch_thread_ends(tmp_path: Path) -> None:
    ex, _job, _woken = submitted(tmp_path)
    thread = ex.exits._thread
    assert thread is not None and thread.is_alive()
    del ex
    gc.collect()
    thread.join(5)
    assert not thread.is_alive()


class _Ended(Executor):
    """Knows one job ended cleanly between looks; a look would fail the test."""

    def submit(self, job: JobContext, argv: object) -> str:  # type: ignore[override]
        raise AssertionError

    def observe(self, jobs: object) -> dict[str, Observation]:  # type: ignore[override]
        raise AssertionError("no look is due")

    def cancel(self, jobs: object) -> None:  # type: ignore[override]
        raise AssertionError

    def ended_between_looks(self, jobs: object) -> dict[str, Observation]:  # type: ignore[override]
        return {"a": Observation("ended", "1", "EXITED", exit_code=0, seen_before=True)}


def test_a_stale_look_carries_the_clean_ends_to_the_rules_of_plain_jobs_only(tmp_path: Path) -> None:
    now = [1000.0]
    watcher = Watcher(_Ended(), clock=lambda: now[0], interval_s=10, usage_interval_s=60, backoff_max_s=60)
    watcher._last_look = now[0]  # a look just now: the next is not due
    look = watcher.look([Tracked("a", "1", JobPaths(tmp_path / "a"))])
    assert not look.fresh and set(look.seen) == {"a"}
    plain = job("running", id="a", executor_id="1")
    assert set(_ended_early([plain], look)) == {"a"}
    assert set(_ended_early([job("queued", id="a", executor_id="1")], look)) == {"a"}
    for other in (replace(plain, control="pause"), replace(plain, state=State.CANCELLING),
                  replace(plain, state=State.PAUSED)):
        assert _ended_early([other], look) == {}  # a request of its own waits for the scheduler's word
    assert _ended_early([plain], Look(fresh=True, seen=look.seen)) == {}  # a fresh look is the rules' as it is
