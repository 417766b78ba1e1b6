"""Crash a real ``lz run --hub`` landing zone at each of the agent's crash points (``agent.*`` in
``lz.host.faults.POINTS``), restart it without the point, and check the promise: the hub's job
ends once (one finish) with the right results, and nothing is left in the zone's state folder,
its work root, its temporary folder or /tmp.

One hub serves every point (a Station and a landing zone per point, so no point sees another's
job); one small job per point."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lz.host import faults
from lz.hub.protocol.versions import INLINE_RESULTS_MAX
from tests.integration.hub_server import HubServer
from tests.integration.landing_zone import LandingZone, wait_until
from tests.integration.test_hub_end_to_end import fetch_results, make_job, wait_jobs

pytestmark = [pytest.mark.integration]

AGENT_POINTS = tuple(p for p in faults.POINTS if p.startswith("agent."))
# what a landing zone keeps in its state folder between runs (the results store is checked apart)
STATE_FILES = {"lz.db", "lz.db-wal", "lz.db-shm", "lz.lock", "lz.intake.lock", "spool", "results", "hub-incoming", "hub-outgoing"}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubServer, Path]]:
    server = HubServer(tmp_path_factory.mktemp("hub"), lease_s=4)
    server.start()
    try:
        yield server, server.user("alice")
    finally:
        server.stop()


def _zone(base: Path, hub: HubServer, name: str, token: Path) -> LandingZone:
    (base / "tmp").mkdir(parents=True)
    return LandingZone(base, tick=0.3, extra_env={"TMPDIR": str(base / "tmp")},
                       run_args=["--name", name, "--hub", hub.url, "--token", str(token), "--max-running", "1"])


def _ours_in_tmp() -> set[str]:
    return {p for p in os.listdir("/tmp") if p.startswith(("lz", "tmp"))}


def _history(hub: HubServer, token: Path, job_id: str) -> list[tuple[str, Any]]:
    return [(h["event"], h["attempt"]) for h in hub.client_json(token, "status", job_id)["history"]]


@pytest.mark.parametrize("point", AGENT_POINTS)
def test_agent_crash_at(point: str, hub: tuple[HubServer, Path], tmp_path: Path) -> None:
    server, alice = hub
    index = AGENT_POINTS.index(point)
    name, station = f"fp{index}", f"fps{index}"
    zone = _zone(tmp_path / "lz", server, name, alice)
    tmp_before = _ours_in_tmp()
    zone.daemon.launch(zone.run_argv(), env={**zone.env, faults.ENV: point})
    try:
        wait_until(lambda: name in {z["name"] for z in server.client_json(alice, "zones")}, 60, f"{name} registered")
        server.client(alice, "station", "create", station)
        server.client(alice, "station", "add-lz", station, name)
        folder = make_job(tmp_path / "job", index)
        if point == "agent.results.uploaded":  # results too large to go inside the finish: uploaded first
            (folder / "input.bin").write_bytes(os.urandom(INLINE_RESULTS_MAX + 4096))
        job_id = server.client(alice, "submit", str(folder), "--station", station).stdout.split()[-1]
        assert zone.proc is not None
        try:
            code = zone.proc.wait(90)
        except Exception:
            raise AssertionError(f"{point} never reached:\n{zone.daemon_log()[-3000:]}") from None
        assert code == faults.EXIT_STATUS and f"crash point {point} reached" in zone.daemon_log(), zone.daemon_log()
        zone.start()  # the same zone, the point disarmed
        job = wait_jobs(server, alice, [job_id], timeout=120)[job_id]
        assert job["outcome"] == "succeeded", (job, zone.daemon_log()[-3000:])
        events = _history(server, alice, job_id)
        assert [e for e, _ in events].count("finish") == 1, events
        out = tmp_path / "out"
        fetch_results(server, alice, job_id, out)
        assert (out / "out" / "data.bin").read_bytes() == (folder / "input.bin").read_bytes()
        assert (out / "attempts.log").read_text() == "started\n"  # the results of one run
        wait_until(lambda: _claims(zone) == 0, 30, "the claim forgotten")
    finally:
        zone.stop()
    local = {j["id"]: j for j in zone.status()}
    assert all(j["state"] == "cleaned" for j in local.values()), local
    state = zone.db.parent
    assert {p.name for p in state.iterdir()} <= STATE_FILES, (sorted(p.name for p in state.iterdir()),
                                                              zone.daemon_log()[-3000:])
    stray = [str(p) for p in [*(state / "hub-incoming").iterdir(), *(state / "hub-outgoing").iterdir(),
                              *(state / "spool").iterdir()]]
    stray += [str(p) for p in (state / "results").iterdir() if p.name not in local]
    assert stray == [] and zone.leftovers() == [], (stray, zone.leftovers())
    assert list((tmp_path / "lz" / "tmp").iterdir()) == []
    assert _ours_in_tmp() - tmp_before == set()


def _claims(zone: LandingZone) -> int:
    import sqlite3

    with sqlite3.connect(zone.db) as conn:
        return int(conn.execute("SELECT count(*) FROM hub_claims").fetchone()[0])


def test_every_agent_point_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert [p for p in AGENT_POINTS if f"`{p}`" not in readme] == []
