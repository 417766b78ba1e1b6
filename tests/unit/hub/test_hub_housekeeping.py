"""The hub's housekeeping (issue 20): every stored file no row needs goes, retention of results
and of finished jobs' rows, dead uploads in ``incoming``, the counts in the metrics and in one log
line, and ``lz hub status``."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lz.hub.server.storage import Files
from tests.unit.hub_helpers import HubApp, hub_app, results_tar

DAY = 86400.0


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path, lease_s=30, retention_days=2, undownloaded_days=5, finished_jobs_days=10,
                 resubmit_days=0) as a:
        yield a


def _age(path: Path, seconds: float = 3600) -> None:
    """Make a file look as old as a crash long ago left it (file times are wall-clock times)."""
    old = time.time() - seconds
    os.utime(path, (old, old))


def _age_tree(root: Path) -> None:
    for folder, _dirs, names in os.walk(root):
        for name in names:
            _age(Path(folder) / name)
        _age(Path(folder))


def _two_zones(app: HubApp) -> str:
    alice = app.user("alice")
    app.station_with_zone(alice)
    app.ok("POST", "/lz/register", alice, json={"name": "lz2"})
    app.ok("PUT", "/stations/s1/zones/lz2", alice)
    return alice


def _run(app: HubApp, token: str, job_id: str, lz: str, attempt: int, outcome: str = "succeeded") -> None:
    app.ok("PUT", f"/lz/jobs/{job_id}/results", token, params={"name": lz, "attempt": attempt}, content=results_tar())
    app.ok("POST", f"/lz/jobs/{job_id}/finish", token, json={"name": lz, "attempt": attempt, "results": True,
                                                            "facts": {"outcome": outcome}})


def test_files_of_attempts_that_never_finished_are_removed_and_the_current_ones_kept(app: HubApp) -> None:
    alice = _two_zones(app)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice, "lz1")
    app.ok("PUT", f"/lz/jobs/{job_id}/results", alice, params={"name": "lz1", "attempt": 1}, content=results_tar())
    app.ok("POST", f"/lz/jobs/{job_id}/logs/stdout", alice, params={"name": "lz1", "attempt": 1, "offset": 0},
           content=b"one\n")
    app.clock.now += 31  # lz1 uploaded, then fell silent before its finish
    app.hub.requeue_expired()
    app.claim(alice, "lz2")
    app.ok("POST", f"/lz/jobs/{job_id}/logs/stdout", alice, params={"name": "lz2", "attempt": 2, "offset": 0},
           content=b"two\n")
    files = app.hub.files
    _age_tree(files.root)
    removed = app.hub.housekeeping()
    assert not files.path(files.results_name(job_id, 1)).exists()  # never accepted
    assert not files.path(files.live_log_name(job_id, 1, "stdout")).exists()  # an old attempt's
    assert files.path(files.live_log_name(job_id, 2, "stdout")).exists()  # the running attempt's
    assert files.path(files.bundle_name(job_id)).exists()  # it still runs
    assert removed["results"] == 1 and removed["logs"] == 1
    _age_tree(files.root)  # the folder emptied by this pass goes once it too is past the grace
    assert app.hub.housekeeping() == {"folders": 1}
    assert not (files.root / "results" / job_id).exists()
    _run(app, alice, job_id, "lz2", 2)
    _age_tree(files.root)
    app.hub.housekeeping()
    assert not files.path(files.bundle_name(job_id)).exists()  # finished: its bundle goes
    assert files.path(files.results_name(job_id, 2)).exists()  # the accepted results stay
    assert sorted(p.relative_to(files.root).as_posix() for p in files.root.rglob("*") if p.is_file()) == [
        files.results_name(job_id, 2)]


def test_young_files_no_row_names_yet_are_kept(app: HubApp) -> None:
    """A bundle is written before its row, results are uploaded before the finish: a sweep that
    read the rows a moment earlier must not take them."""
    files = app.hub.files
    for relative in ("bundles/feedbeef00.tar.gz", "results/feedbeef00/attempt-1.tar"):
        files.path(relative).parent.mkdir(parents=True, exist_ok=True)
        files.path(relative).write_bytes(b"x")
    assert app.hub.housekeeping() == {}
    assert files.path("bundles/feedbeef00.tar.gz").exists() and files.path("results/feedbeef00/attempt-1.tar").exists()


def test_retention_removes_results_then_finished_jobs_and_counts_them(app: HubApp,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    alice = _two_zones(app)
    app.submit(alice)
    app.submit(alice)
    (fetched,) = [j["id"] for j in app.claim(alice, "lz1")]
    (never,) = [j["id"] for j in app.claim(alice, "lz2")]
    _run(app, alice, fetched, "lz1", 1)
    _run(app, alice, never, "lz2", 1)
    assert app.call("GET", f"/jobs/{fetched}/results", alice).status_code == 200
    files = app.hub.files
    app.clock.now += 3 * DAY  # past 2 days after the download; not yet 5 days undownloaded
    with caplog.at_level(logging.WARNING, logger="lz.hub"):
        assert app.hub.housekeeping()["results"] == 1
    assert [r.message for r in caplog.records if "housekeeping removed" in r.message] == [
        "housekeeping removed 2 bundles, 1 results"]
    assert not files.path(files.results_name(fetched, 1)).exists() and files.path(files.results_name(never, 1)).exists()
    assert app.ok("GET", f"/jobs/{fetched}", alice)["results"] is False
    app.clock.now += 3 * DAY  # 6 days: never downloaded, kept 5
    assert app.hub.housekeeping() == {"results": 1}
    caplog.clear()
    app.clock.now += 5 * DAY  # 11 days after they ended: the rows go too
    with caplog.at_level(logging.WARNING, logger="lz.hub"):
        assert app.hub.housekeeping() == {"jobs": 2}
    assert app.call("GET", f"/jobs/{fetched}", alice).status_code == 404
    assert app.ok("GET", "/stations/s1", alice)["jobs"]["finished"] == 0
    assert app.hub.housekeeping() == {}  # nothing left: no log line either
    assert app.hub.removed == {"bundles": 2, "results": 2, "jobs": 2}
    assert len([r for r in caplog.records if "housekeeping removed" in r.message]) == 1


def test_retention_settings_are_bounded(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from lz.hub.server.config import HubConfig

    for bad in ({"retention_days": 0}, {"undownloaded_days": -1}, {"finished_jobs_days": 1e9}):
        with pytest.raises(ValidationError):
            HubConfig(db_url="sqlite://", files_dir=tmp_path, **bad)  # type: ignore[arg-type]


def test_dead_uploads_in_incoming_go_on_the_timer_live_and_young_ones_stay(app: HubApp) -> None:
    files = app.hub.files
    dead = files.root / "incoming" / "0123456789abcdef.part"
    dead.write_bytes(b"half an upload")
    (files.root / "incoming" / "0123456789abcdef.check").mkdir()
    young = files.root / "incoming" / "fedcba9876543210.part"
    young.write_bytes(b"another hub's upload, in progress")
    _age(dead)
    _age(files.root / "incoming" / "0123456789abcdef.check")
    assert app.hub.housekeeping() == {"incoming": 2}
    assert not dead.exists() and young.exists()


def test_an_upload_being_received_is_never_swept(tmp_path: Path) -> None:
    files = Files(tmp_path / "files")
    files.ensure()
    gate = asyncio.Event()

    async def slow_client() -> AsyncIterator[bytes]:
        yield b"first half"
        await gate.wait()
        yield b"second half"

    async def scenario() -> tuple[int, bool]:
        task = asyncio.create_task(files.receive(slow_client(), 1 << 20))
        await asyncio.sleep(0.05)
        (part,) = (files.root / "incoming").iterdir()
        _age(part)  # a stalled client: old, but its request is alive
        swept = files.sweep_incoming(time.time(), 60)
        gate.set()
        received = await task
        files.done_with(received)
        tmp = files.path(received.name)
        _age(tmp)
        return swept, tmp.exists() and files.sweep_incoming(time.time(), 60) == 1

    assert asyncio.run(scenario()) == (0, True)


def test_a_restarted_hub_clears_what_a_killed_one_left(tmp_path: Path) -> None:
    incoming = tmp_path / "hub" / "files" / "incoming"
    incoming.mkdir(parents=True)
    (incoming / "aaaaaaaaaaaaaaaa.part").write_bytes(b"x")
    _age(incoming / "aaaaaaaaaaaaaaaa.part", 20 * 60)  # past the 10-minute grace, within the old hour
    with hub_app(tmp_path):
        assert list(incoming.iterdir()) == []


def test_hub_status_shows_jobs_zones_store_and_oldest_result(app: HubApp, tmp_path: Path) -> None:
    from lz.cli import main

    alice = _two_zones(app)
    app.submit(alice)
    app.submit(alice)
    (done,) = [j["id"] for j in app.claim(alice, "lz1")]
    _run(app, alice, done, "lz1", 1)
    args = ["hub", "status", "--db", str(tmp_path / "hub" / "hub.db"), "--files", str(tmp_path / "hub" / "files")]
    out = CliRunner().invoke(main, [*args, "--json"])
    assert out.exit_code == 0, out.output
    found = json.loads(out.stdout)
    assert found["jobs"] == {"pending": 1, "leased": 0, "finished": 1}
    assert found["zones"] == 2 and found["store_bytes"] > 0
    assert found["oldest_result_at"] == app.clock.now
    text = CliRunner().invoke(main, args).stdout
    assert "jobs: 1 waiting, 0 running, 1 finished" in text and "oldest kept result: 2027-" in text


def test_the_metrics_count_what_housekeeping_removed() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from lz.metrics.hub import HubMetrics

    registry = CollectorRegistry()
    HubMetrics(registry, removed=lambda: {"results": 2, "jobs": 1})
    text = generate_latest(registry).decode()
    assert 'lz_hub_housekeeping_removed_total{kind="results"} 2.0' in text
    assert 'lz_hub_housekeeping_removed_total{kind="jobs"} 1.0' in text


def test_the_metrics_count_this_process_statements(app: HubApp) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from lz.metrics.hub import HubMetrics

    before = app.hub.statements.snapshot()
    alice = app.user("alice")
    app.station_with_zone(alice)
    app.submit(alice)
    after = app.hub.statements.snapshot()
    assert after["insert"] > before["insert"] and after["select"] > before["select"]
    registry = CollectorRegistry()
    HubMetrics(registry, statements=app.hub.statements.snapshot)
    text = generate_latest(registry).decode()
    assert f'lz_hub_db_statements_total{{kind="insert"}} {float(after["insert"])}' in text
