"""Pilots: the allocation read from Slurm's environment, the room a pilot claims with, the hub's
fit filter, and the release a draining pilot makes (the API with a real SQLite database)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lz.hub.agent.pilot import Pilot, as_claim, free
from lz.hub.server.domain.claims import Room
from lz.slurm.allocation import Allocation, from_environment, gpu_ids, parse_duration, parse_squeue_end
from tests.unit.hub_helpers import HubApp, hub_app


def test_outside_slurm_there_is_no_allocation() -> None:
    assert from_environment({"HOME": "/root"}) is None


def test_the_allocation_comes_from_slurms_environment() -> None:
    env = {"SLURM_JOB_ID": "42", "SLURM_CPUS_ON_NODE": "4", "SLURM_MEM_PER_CPU": "1000",
           "SLURM_JOB_GPUS": "0,2", "SLURM_JOB_END_TIME": "1800000000", "SLURM_TMPDIR": "/local/42"}
    alloc = from_environment(env)
    assert alloc == Allocation("42", 4, 4000, ("0", "2"), 1800000000.0, Path("/local/42"))
    assert alloc.time_left_s(1800000000 - 90) == 90
    assert from_environment({"SLURM_JOB_ID": "1", "SLURM_MEM_PER_NODE": "2G"}).memory_mb == 2048  # type: ignore[union-attr]
    assert from_environment({"SLURM_JOB_ID": "1", "SLURM_MEM_PER_NODE": "0"}).memory_mb is None  # type: ignore[union-attr]


@pytest.mark.parametrize("env, ids", [
    ({"CUDA_VISIBLE_DEVICES": "1"}, ("1",)), ({"SLURM_JOB_GPUS": ""}, ()), ({"CUDA_VISIBLE_DEVICES": "NoDevFiles"}, ()),
    ({}, ()), ({"SLURM_JOB_GPUS": "3", "CUDA_VISIBLE_DEVICES": "0"}, ("3",)),
])
def test_gpus_of_the_allocation(env: dict[str, str], ids: tuple[str, ...]) -> None:
    assert gpu_ids(env) == ids


def test_squeue_end_time_and_durations() -> None:
    assert parse_duration("1-02:03:04") == 93784
    assert parse_duration("9:59") == 599
    assert parse_duration("UNLIMITED") is None
    assert parse_squeue_end("2026-11-26T15:00:00 1:00:00\n", now=1000.0) == 4600.0
    assert parse_squeue_end("", now=1000.0) is None


def test_the_pilot_asks_squeue_only_when_slurm_did_not_set_the_end_time() -> None:
    seen: list[list[str]] = []

    def run(argv: list[str]) -> tuple[int, str]:
        seen.append(argv)
        return 0, "2026-11-26T15:00:00 0:02:00\n"

    pilot = Pilot(Allocation("7", 2, None, (), None, None), margin_s=10, run=run, clock=lambda: 100.0,
                  monotonic=lambda: 5.0)
    assert seen == [["squeue", "-h", "-j", "7", "-o", "%e %L"]]
    assert pilot.time_left_s() == 120
    room = pilot.room([])
    assert room is not None and as_claim(room)["time_left_s"] == 110


def test_room_counts_held_jobs_and_ends_when_time_runs_out() -> None:
    alloc = Allocation("1", 4, 8000, ("0",), None, None)
    room = free(alloc, [{"cpus": 2, "memory_mb": 3000, "gpus": 1}], time_left_s=600, margin_s=60)
    assert room == Room(cpus=2, memory_mb=5000, gpus=0, time_left_s=540)
    assert free(alloc, [], time_left_s=60, margin_s=60) is None
    assert room.fits({"cpus": 2, "time_s": 500})
    assert not room.fits({"cpus": 3, "time_s": 500})
    assert not room.fits({"cpus": 1, "gpus": 1, "time_s": 500})
    assert not room.fits({"cpus": 1, "time_s": 600})
    assert not room.fits({"cpus": 1})  # no time limit: might outlive the allocation


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path, lease_s=30) as a:
        yield a


def _claim(app: HubApp, token: str, lz: str = "lz1", **room: object) -> list[str]:
    return [j["id"] for j in app.ok("POST", "/lz/claim", token, json={"name": lz, "wait_s": 0, "max_jobs": 4,
                                                                      **room})["jobs"]]


def test_the_hub_gives_a_pilot_only_jobs_that_fit_its_time_and_cpus(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    app.ok("POST", "/lz/register", alice, json={"name": "lz1", "cpus": 4, "max_running": 8})

    def submit(**res: str) -> str:
        app.clock.now += 1  # oldest first
        return str(app.submit(alice, **res).json()["id"])

    long_job = submit(time="10:00")
    wide_job = submit(time="1:00", cpus="2")
    short_jobs = [submit(time="1:00") for _ in range(2)]
    # a pilot with 2 minutes left and 1 CPU free: only one short job
    assert _claim(app, alice, time_left_s=120, free_cpus=1) == short_jobs[:1]
    # 2 CPUs free: the wide one, not both it and the next short one (together they do not fit)
    assert _claim(app, alice, time_left_s=120, free_cpus=2) == [wide_job]
    # an unlimited landing zone takes what is left, the long one first
    assert _claim(app, alice) == [long_job, short_jobs[1]]


def test_a_released_job_is_requeued_as_a_new_attempt_and_the_pilot_shows_offline(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice, time="1:00").json()["id"]
    assert _claim(app, alice) == [job_id]
    answer = app.ok("POST", "/lz/release", alice, json={"name": "lz1", "offline": True,
                                                        "jobs": [{"id": job_id, "attempt": 1}]})
    assert answer == {"released": [job_id]}
    job = app.ok("GET", f"/jobs/{job_id}", alice)
    assert (job["state"], job["attempts"], job["outcome"]) == ("received", 2, None)
    assert [h["event"] for h in job["history"]][-1] == "release"
    assert [z["online"] for z in app.ok("GET", "/zones", alice)] == [False]
    # the old attempt is fenced off; a second release of it does nothing
    assert app.ok("POST", "/lz/release", alice, json={"name": "lz1", "jobs": [{"id": job_id, "attempt": 1}]}) == {
        "released": []}
    assert _claim(app, alice) == [job_id]  # claiming again: online again
    assert [z["online"] for z in app.ok("GET", "/zones", alice)] == [True]


def test_a_pilot_keeps_its_database_on_node_local_storage_and_ticks_fast(tmp_path: Path) -> None:
    from lz.config import load_settings
    from lz.hub.agent.pilot import pilot_settings

    env = {"HOME": str(tmp_path), "TMPDIR": str(tmp_path / "shared")}
    settings = load_settings(environ=env)
    pilot = Pilot(Allocation("42", 3, None, ("0",), None, Path("/local/42")))
    changed = pilot_settings(settings, pilot, env)
    assert changed.db == Path("/local/42/lz-pilot-42-lz/lz.db")
    assert changed.workdir == tmp_path / "shared"  # the work root stays on the shared filesystem
    assert (changed.local_slots, changed.gpus, changed.tick_s) == (3, 1, 0.5)
    chosen = load_settings(environ={**env, "LZ_DB": str(tmp_path / "my.db"), "LZ_TICK_S": "2"})
    assert pilot_settings(chosen, pilot, env).db == tmp_path / "lz-pilot-42-lz" / "my.db"  # its own, beside
    assert pilot_settings(chosen, pilot, env).tick_s == 2


def test_a_pilot_is_grouped_by_its_array_job_else_its_own_job() -> None:
    from lz.hub.agent.pilot import detect, group_of

    alloc = Allocation("1002", 1, None, (), 1_800_000_000.0, None)
    assert group_of(alloc, {"SLURM_ARRAY_JOB_ID": "1000", "SLURM_ARRAY_TASK_ID": "2"}) == "1000"
    assert group_of(alloc, {}) == "1002"  # a lone pilot job is a group of one
    assert group_of(alloc, {"SLURM_ARRAY_JOB_ID": ""}) == "1002"
    assert group_of(alloc, {"SLURM_ARRAY_JOB_ID": "12; rm"}) is None  # never a registration the hub refuses
    assert group_of(Allocation("x", 1, None, (), None, None), {}) is None
    pilot = detect({"SLURM_JOB_ID": "1002", "SLURM_ARRAY_JOB_ID": "1000", "SLURM_JOB_END_TIME": "1800000000"})
    assert pilot is not None and pilot.facts() == {"pilot_group": "1000", "ends_at": 1_800_000_000.0, "gpus": 0}
    assert Pilot(alloc).group == "1002" and Pilot(alloc).ends_at == 1_800_000_000.0


def _agent(tmp_path: Path, pilot: Pilot | None, name: str) -> dict[str, object]:
    """The facts a real agent (a real landing-zone store) registers with."""
    import dataclasses

    from lz.config import Settings
    from lz.hub.agent.agent import HubAgent
    from lz.hub.agent.options import AgentOptions
    from lz.store.db import make_engine
    from lz.store.jobs import JobStore
    from lz.store.migrate import upgrade

    settings = Settings(db=tmp_path / f"{name}.db", workdir=tmp_path / "work", runtime="none", name=name)
    engine = make_engine(settings.db)
    upgrade(engine)
    options = dataclasses.replace(AgentOptions("http://127.0.0.1:9", tmp_path / "token", 2), pilot=pilot)
    return HubAgent(options, None, JobStore(engine), settings, wake=lambda: None).facts()  # type: ignore[arg-type]


def test_a_registering_pilots_group_and_end_reach_the_zone_listing(app: HubApp, tmp_path: Path) -> None:
    alice = app.user("alice")
    ends = app.clock.now + 3600
    pilot = Pilot(Allocation("77", 2, None, (), ends, None), clock=app.clock, group="70")
    app.ok("POST", "/lz/register", alice, json=_agent(tmp_path, pilot, "pilot-7"))
    app.ok("POST", "/lz/register", alice, json=_agent(tmp_path, None, "desk"))
    app.clock.now += 600
    listed = {z["name"]: z for z in app.ok("GET", "/zones", alice)}
    assert {k: listed["pilot-7"][k] for k in ("pilot_group", "ends_at", "time_left_s")} == {
        "pilot_group": "70", "ends_at": ends, "time_left_s": 3000.0}
    assert {k: listed["desk"][k] for k in ("pilot_group", "ends_at", "time_left_s")} == {
        "pilot_group": None, "ends_at": None, "time_left_s": None}
    app.clock.now += 7200
    assert app.ok("GET", "/zones", alice)[1]["time_left_s"] == 0.0  # ended, never negative
    # the name registered again outside SLURM: no stale group
    app.ok("POST", "/lz/register", alice, json={"name": "pilot-7"})
    assert app.ok("GET", "/zones", alice)[1]["pilot_group"] is None
    assert app.call("POST", "/lz/register", alice, json={"name": "p", "pilot_group": "1; x"}).status_code == 422


def test_a_pilot_removes_only_its_own_finished_state_folder(tmp_path: Path) -> None:
    from lz.config import Settings
    from lz.core import value_class
    from lz.hub.agent.pilot import Pilot, remove_scratch, scratch_name
    from lz.slurm.allocation import Allocation

    pilot = Pilot(Allocation("42", 1, 100, (), None, None))
    own = tmp_path / scratch_name(pilot, "p1")
    own.mkdir()
    (own / "lz.db").write_bytes(b"x")
    settings = value_class.replace(Settings(), name="p1", db=own / "lz.db")
    assert not remove_scratch(settings, pilot, {"running": 1}, 0) and own.exists()  # a job still there
    assert not remove_scratch(settings, pilot, {}, 1) and own.exists()  # a claim not finished with the hub
    chosen = tmp_path / "mine"
    chosen.mkdir()
    assert not remove_scratch(value_class.replace(settings, db=chosen / "lz.db"), pilot, {}, 0) and chosen.exists()
    assert remove_scratch(settings, pilot, {"cleaned": 0}, 0) and not own.exists()


CAPTURED = Path(__file__).resolve().parents[2] / "data" / "slurm" / "pilot-env"


def _captured(name: str) -> dict[str, str]:
    """A batch step's SLURM_* variables, recorded on the dev Slurm (``env | grep ^SLURM_``)."""
    lines = (CAPTURED / name).read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_pilots_of_one_array_on_one_node_never_share_a_database(tmp_path: Path) -> None:
    """Issue 20: the submitting shell's LZ_DB, passed on by sbatch to every task, gave every pilot
    of the array the same database (the second on a node could not even take the zone's lock)."""
    from lz.config import load_settings
    from lz.hub.agent.pilot import pilot_settings

    shell = {"HOME": str(tmp_path), "LZ_DB": str(tmp_path / "shared" / "lz.db")}
    chosen = []
    for task in ("ntasks1-1.env", "ntasks1-2.env"):
        env = {**shell, **_captured(task)}
        allocation = from_environment(env)
        assert allocation is not None
        chosen.append(pilot_settings(load_settings(environ=env), Pilot(allocation), env))
    assert chosen[0].db != chosen[1].db and chosen[0].state_dir != chosen[1].state_dir
    assert chosen[0].db == tmp_path / "shared" / "lz-pilot-48-lz" / "lz.db"  # task 1 is SLURM job 48
    assert chosen[0].workdir == chosen[1].workdir  # job folders are named by job id: one shared work root
    again = pilot_settings(chosen[0], Pilot(from_environment(_captured("ntasks1-1.env"))), shell)  # type: ignore[arg-type]
    assert again.db == chosen[0].db  # the pilot's own folder is not nested again


def test_a_pilot_advertises_its_allocation_not_the_node(tmp_path: Path) -> None:
    """Issue 20 (e): pilots of an array with --ntasks=1 (1 CPU each) registered the node's CPUs and a
    running limit of the node's CPUs."""
    from lz.config import load_settings
    from lz.hub.agent.agent import HubAgent
    from lz.hub.agent.options import AgentOptions
    from lz.hub.agent.pilot import as_pilot
    from lz.store.db import make_engine
    from lz.store.jobs import JobStore
    from lz.store.migrate import upgrade

    env = {**_captured("ntasks1-1.env"), "SLURM_JOB_END_TIME": "1800000000", "HOME": str(tmp_path),
           "TMPDIR": str(tmp_path)}
    node_cpus = 64  # what --max-running defaults to: the node's CPUs
    settings, options = as_pilot(load_settings(environ=env), AgentOptions("http://h", tmp_path / "t", node_cpus), env)
    assert (options.max_running, settings.local_slots) == (1, 1)
    assert settings.db.parent.is_dir()  # the pilot made its own state folder, private
    engine = make_engine(settings.db)
    upgrade(engine)
    facts = HubAgent(options, None, JobStore(engine), settings, wake=lambda: None).facts()  # type: ignore[arg-type]
    assert (facts["cpus"], facts["gpus"], facts["max_running"]) == (1, 0, 1)
    alloc = from_environment(_captured("cpt1-mem.env"))  # --cpus-per-task=1 --mem=100M
    assert alloc is not None and (alloc.cpus, alloc.memory_mb) == (1, 100)
    assert Pilot(alloc).facts()["memory_mb"] == 100


@pytest.mark.parametrize("env, cpus", [
    ({"SLURM_CPUS_ON_NODE": "2", "SLURM_NTASKS": "1", "SLURM_TASKS_PER_NODE": "1"}, 1),  # rounded up to a core
    ({"SLURM_CPUS_ON_NODE": "4", "SLURM_CPUS_PER_TASK": "4", "SLURM_TASKS_PER_NODE": "1"}, 4),
    ({"SLURM_CPUS_ON_NODE": "8", "SLURM_CPUS_PER_TASK": "2", "SLURM_NTASKS": "2", "SLURM_TASKS_PER_NODE": "2"}, 4),
    ({"SLURM_CPUS_ON_NODE": "2", "SLURM_TASKS_PER_NODE": "1"}, 2),  # nothing asked: what the node gave
    ({"SLURM_JOB_CPUS_PER_NODE": "6(x2)"}, 6),
    ({"SLURM_CPUS_ON_NODE": "1", "SLURM_CPUS_PER_TASK": "4"}, 1),  # never more than the node holds for it
])
def test_the_cpus_a_pilot_was_given(env: dict[str, str], cpus: int) -> None:
    from lz.slurm.allocation import cpus_given

    assert cpus_given(env) == cpus
    alloc = from_environment({"SLURM_JOB_ID": "5", "SLURM_MEM_PER_CPU": "1000", **env})
    assert alloc is not None and alloc.memory_mb == 1000 * cpus


def _pilot_in(tmp_path: Path) -> tuple[Any, Any, dict[str, str]]:
    """A pilot's settings and options as ``lz run --hub`` makes them, in SLURM job 48, with a
    shared TMPDIR (sticky and world-writable, as /tmp is)."""
    import time

    from lz.config import load_settings
    from lz.hub.agent.options import AgentOptions

    shared = tmp_path / "shared-tmp"
    shared.mkdir(exist_ok=True)
    shared.chmod(0o1777)
    env = {"HOME": str(tmp_path / "home"), "TMPDIR": str(shared), **_captured("ntasks1-1.env"),
           "SLURM_JOB_END_TIME": str(int(time.time()) + 3600)}
    return load_settings(environ=env), AgentOptions("http://hub.test", tmp_path / "token", 2), env


def test_a_pilot_uses_its_own_folder_in_a_shared_tmp_and_keeps_it_across_a_restart(tmp_path: Path) -> None:
    import stat

    from lz.hub.agent.pilot import as_pilot

    settings, options, env = _pilot_in(tmp_path)
    first, _ = as_pilot(settings, options, env)
    assert first.state_dir == tmp_path / "shared-tmp" / "lz-pilot-48-lz"
    info = first.state_dir.stat()
    assert info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) == 0o700
    again, _ = as_pilot(settings, options, env)  # a restart in the same allocation finds its state
    assert again.state_dir == first.state_dir


@pytest.mark.parametrize("squat", ["someone else's", "open to all", "a symlink"])
def test_a_folder_someone_else_made_under_the_pilots_name_is_never_used(tmp_path: Path, squat: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 21, suspected: the pilot's state folder in a shared /tmp has a predictable name; a
    folder another user made there first stopped the pilot (it could not make it private), or
    worse, the pilot kept its database (every job's secrets) in a folder someone else controls.
    The pilot takes a fresh private folder of an unpredictable name instead."""
    import stat

    from lz.hub.agent import pilot as pilot_module
    from lz.hub.agent.pilot import as_pilot

    settings, options, env = _pilot_in(tmp_path)
    predictable = tmp_path / "shared-tmp" / "lz-pilot-48-lz"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if squat == "a symlink":
        predictable.symlink_to(elsewhere)
    else:
        predictable.mkdir(mode=0o700)
        predictable.chmod(0o777 if squat == "open to all" else 0o700)
    if squat == "someone else's":  # (as root, chown it; otherwise the pilot is told its uid is another)
        if os.geteuid() == 0:
            os.chown(predictable, 65534, 65534)
        else:
            monkeypatch.setattr(pilot_module.os, "geteuid", lambda: os.getuid() + 1)
    chosen, _ = as_pilot(settings, options, env)
    assert chosen.state_dir != predictable and not chosen.state_dir.is_relative_to(elsewhere)
    assert chosen.state_dir.parent == tmp_path / "shared-tmp"
    assert chosen.state_dir.name.startswith("lz-pilot-48-lz.") and len(chosen.state_dir.name) > 20
    info = os.lstat(chosen.state_dir)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
    assert list(elsewhere.iterdir()) == []
