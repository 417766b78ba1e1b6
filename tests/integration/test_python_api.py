"""The Python API (``lz.client``) driving a real landing zone daemon: a job submitted, waited for,
its logs and results read back; a small sweep; a stop that keeps partial results. The API reads
the same settings as the CLI (the daemon's environment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lz.client import Client
from tests.integration.landing_zone import LandingZone
from tests.integration.test_job_control import TRAPPING, folder, started

pytestmark = pytest.mark.integration


@pytest.fixture
def client(landing_zone: LandingZone, monkeypatch: pytest.MonkeyPatch) -> Client:
    for name, value in landing_zone.env.items():
        if name.startswith("LZ_"):
            monkeypatch.setenv(name, value)
    landing_zone.start()
    return Client()


def test_a_job_a_sweep_and_a_stop_through_the_python_api(client: Client, landing_zone: LandingZone,
                                                         example_job: Path, tmp_path: Path) -> None:
    assert client.landing_zone_running() is True
    job = client.submit(example_job, name="wc").wait(timeout=120, poll_s=0.2)
    assert (job.state, job.outcome, job.exit_code, job.name) == ("cleaned", "succeeded", 0, "wc")
    assert job.logs() == "words: 14\n"
    out = job.results(tmp_path / "results")
    assert (out / "out" / "count.txt").read_text().strip() == "14"
    assert landing_zone.status(job.id)["outcome"] == "succeeded"  # the CLI sees the same job

    sweep = []
    for n in (1, 2, 3):
        jobs = tmp_path / "sweep"
        jobs.mkdir(exist_ok=True)
        (jobs / f"n{n}").mkdir()
        (jobs / f"n{n}" / "lz.toml").write_text(f'command = ["sh", "-c", "echo $(({n} * {n}))"]\n')
        sweep.append(client.submit(jobs / f"n{n}", name=f"sweep-{n}"))
    squares = [int(j.wait(timeout=120, poll_s=0.2).logs()) for j in sweep]
    assert squares == [1, 4, 9]
    assert [j.name for j in client.jobs(name="sweep-*")] == ["sweep-3", "sweep-2", "sweep-1"]

    long = client.submit(folder(tmp_path / "jobs", "stopme", TRAPPING))
    started(landing_zone, long.id)
    assert long.stop().state == "cancelling"
    long.wait(timeout=120, poll_s=0.2)
    assert long.outcome == "cancelled" and long.reason.startswith("stopped by ")
    assert (long.results(tmp_path / "partial") / "partial.txt").read_text() == "partial\n"


def test_a_sweep_through_a_real_hub_and_landing_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``lz hub serve`` and ``lz run --hub`` as processes; the sweep submitted, waited for and
    collected from Python, as docs/python-api.md shows."""
    import time

    from tests.integration.hub_server import HubServer, hub_landing_zone

    monkeypatch.delenv("LZ_HUB", raising=False)
    hub = HubServer(tmp_path / "hub", lease_s=6)
    hub.start()
    try:
        alice = hub.user("alice")
        zone = hub_landing_zone(tmp_path / "lz1", hub, "lz1", alice)
        zone.start()
        try:
            hub.client(alice, "station", "create", "science")
            deadline = time.monotonic() + 30
            while not hub.client_json(alice, "zones") and time.monotonic() < deadline:
                time.sleep(0.2)
            hub.client(alice, "station", "add-lz", "science", "lz1")
            client = Client(hub=hub.url, token=alice)
            sweep = []
            for n in (2, 3):
                folder_ = tmp_path / "sweep" / f"n{n}"
                folder_.mkdir(parents=True)
                (folder_ / "lz.toml").write_text(
                    f'command = ["sh", "-c", "mkdir -p out && echo $(({n} * {n})) | tee out/square.txt"]\n')
                sweep.append(client.submit(folder_, station="science", name=f"sweep-{n}", cpus=1))
            for job in sweep:
                job.wait(timeout=120, poll_s=0.3)
            assert [(j.outcome, j.data["landing_zone"]) for j in sweep] == [("succeeded", "lz1")] * 2, hub.log()[-2000:]
            assert [int(j.logs()) for j in sweep] == [4, 9]
            out = sweep[1].results(tmp_path / "results")
            assert (out / "out" / "square.txt").read_text() == "9\n"
            assert [j.name for j in client.jobs(name="sweep-*", station="science")] == ["sweep-3", "sweep-2"]
        finally:
            zone.stop()
    finally:
        hub.stop()
