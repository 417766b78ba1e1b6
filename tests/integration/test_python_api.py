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
