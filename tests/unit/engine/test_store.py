"""The job store on a real SQLite file."""

import multiprocessing
from pathlib import Path

import pytest

from lz.core.errors import InvalidTransition, JobNotFound
from lz.core.job import JobSpec
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import upgrade


def open_store(path: Path) -> JobStore:
    engine = make_engine(path)
    upgrade(engine)
    return JobStore(engine)


def test_create_fire_and_history(tmp_path: Path) -> None:
    store = open_store(tmp_path / "lz.db")
    job = store.create(JobSpec(name="a", command=("true",)))
    store.fire(job.id, "build", work_dir="/w/x")
    store.fire(job.id, "built", expect="building", executor="local")
    got = store.get(job.id)
    assert (got.state, got.work_dir, got.executor) == ("queued", "/w/x", "local")
    assert [(t.from_state, t.to_state, t.event) for t in store.history(job.id)] == [
        ("", "received", "receive"), ("received", "building", "build"), ("building", "queued", "built")]


def test_expect_guards_against_a_race(tmp_path: Path) -> None:
    store = open_store(tmp_path / "lz.db")
    job = store.create(JobSpec(name="a", command=("true",)))
    store.fire(job.id, "cancel")
    with pytest.raises(InvalidTransition):
        store.fire(job.id, "build", expect="received")
    assert store.get(job.id).state == "collecting"


def test_find_by_prefix_and_unknown_ids(tmp_path: Path) -> None:
    store = open_store(tmp_path / "lz.db")
    job = store.create(JobSpec(name="a", command=("true",)))
    assert store.find(job.id[:4]).id == job.id
    with pytest.raises(JobNotFound):
        store.find("zz")
    with pytest.raises(JobNotFound):
        store.fire("nope", "cancel")


def _race(db: str, job_id: str, results: "multiprocessing.Queue[str]") -> None:
    store = JobStore(make_engine(Path(db)))
    try:
        store.fire(job_id, "build", expect="received")
        results.put("won")
    except InvalidTransition:
        results.put("lost")


def test_two_processes_cannot_both_take_one_transition(tmp_path: Path) -> None:
    db = tmp_path / "lz.db"
    store = open_store(db)
    for _ in range(5):
        job = store.create(JobSpec(name="a", command=("true",)))
        results: multiprocessing.Queue[str] = multiprocessing.Queue()
        procs = [multiprocessing.Process(target=_race, args=(str(db), job.id, results)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        outcomes = sorted(results.get(timeout=5) for _ in procs)
        assert outcomes == ["lost", "lost", "lost", "won"]
        assert [t.event for t in store.history(job.id)].count("build") == 1


def test_status_values(tmp_path: Path) -> None:
    store = open_store(tmp_path / "lz.db")
    store.set_status(controller_down_since=12.5, controller_calls={"observe": 2})
    store.set_status(controller_down_since=None, last_tick=3.0, runtime="none")
    status = store.status()
    assert status.controller_down_since is None and status.last_tick == 3.0 and status.runtime == "none"
    assert status.controller_calls == {"observe": 2}
    with pytest.raises(ValueError):
        store.set_status(colour="red")


class Heard:
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_transition(self, job: object, transition: object) -> None:
        self.events.append(transition.event)  # type: ignore[attr-defined]


def commits_of(store: JobStore) -> list[str]:
    from sqlalchemy import event

    seen: list[str] = []
    event.listen(store.engine, "commit", lambda conn: seen.append("w" if conn.get_execution_options().get("lz_write") else "r"))
    return seen


def test_a_batch_is_one_commit_and_listeners_hear_after_it(tmp_path: Path) -> None:
    store = open_store(tmp_path / "lz.db")
    heard = Heard()
    store.listeners.add(heard)
    a, b, c = (store.create(JobSpec(name=n, command=("true",))) for n in "abc")
    store.fire(c.id, "cancel")
    commits = commits_of(store)
    with store.batch():
        store.fire(a.id, "build", work_dir="/w/a")
        with pytest.raises(InvalidTransition):  # refused for one job: the others still go
            store.fire(c.id, "build", expect="received")
        store.fire(b.id, "build", work_dir="/w/b")
        store.record_many({a.id: {"pending_reason": "x"}})
        assert heard.events == ["cancel"]  # nothing told before the commit
    assert commits == ["w"] and heard.events == ["cancel", "build", "build"]
    assert (store.get(a.id).state, store.get(a.id).pending_reason, store.get(b.id).work_dir) == ("building", "x", "/w/b")


def test_a_batch_that_fails_writes_nothing_and_tells_nobody(tmp_path: Path) -> None:
    store = open_store(tmp_path / "lz.db")
    heard = Heard()
    store.listeners.add(heard)
    job = store.create(JobSpec(name="a", command=("true",)))
    with pytest.raises(RuntimeError), store.batch():
        store.fire(job.id, "build", work_dir="/w/a")
        raise RuntimeError("the tick failed")
    assert store.get(job.id).state == "received" and heard.events == []
    store.fire(job.id, "build", work_dir="/w/a")  # the store is usable again, outside any batch
    assert store.get(job.id).state == "building" and heard.events == ["build"]
