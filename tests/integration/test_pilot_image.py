"""The pilot image: it builds offline (scripts/pilot-image), and a pilot started from it in a
Slurm step (``srun … apptainer run landing-zone-daemon.sif --name p1 --hub URL --token FILE``)
comes online in ``lz zones`` and runs a job of its Station.

``--fakeroot`` is left out here: the test machine runs as root without an /etc/subuid entry for
root, which ``--fakeroot`` needs (as root it changes nothing; a user on a cluster adds it)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import lz
from tests.integration.hub_server import HubServer
from tests.integration.slurm_cluster import gone, requires_slurm, stopped
from tests.integration.test_hub_end_to_end import make_job, wait_jobs

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.slurm, requires_slurm,
              pytest.mark.skipif(shutil.which("apptainer") is None, reason="no apptainer")]


def test_the_pilot_image_builds_and_its_pilot_runs_a_job_in_a_slurm_step(tmp_path: Path) -> None:
    image = tmp_path / "landing-zone-daemon.sif"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "pilot-image"), "-o", str(image)], check=True,
                   capture_output=True, timeout=600)
    labels = subprocess.run(["apptainer", "inspect", str(image)], capture_output=True, text=True).stdout
    assert f"org.opencontainers.image.version: {lz.__version__}" in labels  # setuptools-scm, from git
    hub = HubServer(tmp_path / "hub", lease_s=10)
    hub.start()
    name = f"img{uuid.uuid4().hex[:6]}"
    work = tmp_path / "work"
    work.mkdir()
    pilot = None
    try:
        alice = hub.user("alice")
        pilot = subprocess.Popen(
            ["srun", "-J", name, "-n1", "-c1", "-t", "5", "apptainer", "run", str(image), "--name", name,
             "--hub", hub.url, "--token", str(alice)],
            env={**hub.env, "TMPDIR": str(work)}, stdout=open(tmp_path / "pilot.out", "wb"),
            stderr=subprocess.STDOUT)
        deadline = time.time() + 420  # the shared single-node cluster may queue the step a while
        while name not in {z["name"] for z in hub.client_json(alice, "zones")}:
            assert time.time() < deadline, (tmp_path / "pilot.out").read_text()
            time.sleep(0.5)
        hub.client(alice, "station", "create", "s")
        hub.client(alice, "station", "add-lz", "s", name)
        job_id = hub.client(alice, "submit", str(make_job(tmp_path / "job", 1)), "--station", "s",
                            "--time", "1:00").stdout.split()[-1]
        done = wait_jobs(hub, alice, [job_id], timeout=120)[job_id]
        assert (done["outcome"], done["landing_zone"]) == ("succeeded", name), (tmp_path / "pilot.out").read_text()
        assert hub.client(alice, "logs", job_id).stdout == "done 1\n"
    finally:
        subprocess.run(["scancel", "--name", name], check=False)
        try:
            if pilot is not None:
                stopped(pilot, 120)
            gone(name, 120)  # the next test finds the node free
        finally:
            hub.stop()
