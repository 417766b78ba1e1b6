"""The worker pool: one worker per job at a time, lanes that do not starve each other, a failing
step that does not kill its worker."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from lz.host.fs import private_directory, remove_tree
from lz.host.workpool import WorkPool


def test_one_worker_per_job_and_lanes_run_side_by_side() -> None:
    release = threading.Event()
    started = threading.Event()
    done: list[str] = []
    pool = WorkPool({"build": 1, "collect": 1}, on_done=lambda: done.append("wake"))
    assert pool.submit("build", "a", lambda: (started.set(), release.wait(10)))
    started.wait(10)
    assert not pool.submit("collect", "a", lambda: None)  # job a already has a worker
    finished = threading.Event()
    assert pool.submit("collect", "b", finished.set)  # the build lane being full does not block collect
    assert finished.wait(10)
    deadline = time.time() + 10
    while pool.busy() != frozenset({"a"}) and time.time() < deadline:
        time.sleep(0.01)
    assert pool.busy() == frozenset({"a"})
    release.set()
    pool.shutdown(wait=True)
    assert pool.busy() == frozenset() and done.count("wake") == 2


def test_a_failing_step_is_logged_and_the_worker_goes_on(caplog) -> None:  # type: ignore[no-untyped-def]
    pool = WorkPool({"build": 1})
    ran = threading.Event()
    pool.submit("build", "a", lambda: 1 / 0)
    pool.submit("build", "b", ran.set)
    assert ran.wait(10)
    pool.shutdown(wait=True)
    assert "work for job a failed" in caplog.text


def test_closed_pool_takes_no_work() -> None:
    pool = WorkPool({"build": 1})
    pool.shutdown(wait=True)
    assert not pool.submit("build", "a", lambda: None)


def test_remove_tree_handles_read_only_trees_links_and_absence(tmp_path: Path) -> None:
    tree = tmp_path / "t"
    (tree / "ro").mkdir(parents=True)
    (tree / "ro" / "f").write_text("x")
    (tree / "ro").chmod(0o500)
    outside = tmp_path / "outside"
    outside.write_text("keep")
    (tree / "link").symlink_to(outside)
    remove_tree(tree)
    remove_tree(tree)
    assert not tree.exists() and outside.read_text() == "keep"


def test_private_directory_tightens_an_existing_one(tmp_path: Path) -> None:
    path = tmp_path / "state"
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    assert private_directory(path).stat().st_mode & 0o777 == 0o700
    assert private_directory(path, group=True).stat().st_mode & 0o777 == 0o750
