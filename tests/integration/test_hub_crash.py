"""Kill tests: a landing zone SIGKILLed mid-job (its lease expires, the job runs again elsewhere,
results come from one attempt) and the hub SIGKILLed mid-upload (nothing lost or duplicated)."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.hub_server import HubServer, hub_landing_zone
from tests.integration.landing_zone import wait_until
from tests.integration.test_hub_end_to_end import fetch_results, make_job, wait_jobs

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _job(hub: HubServer, token: Path, job_id: str) -> Any:
    return hub.client_json(token, "status", job_id)


def _claims(db: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(db) as conn:
        return [tuple(r) for r in conn.execute("SELECT hub_job_id, attempt FROM hub_claims")]  # type: ignore[misc]


@pytest.mark.stream_b  # about 100 s for both: run beside the Slurm tests, which mostly wait
@pytest.mark.parametrize("backend", ["local", "s3"])
def test_landing_zone_killed_mid_job_the_job_runs_again_elsewhere(tmp_path: Path, backend: str,
                                                                  request: pytest.FixtureRequest) -> None:
    s3 = request.getfixturevalue("s3_server") if backend == "s3" else None
    hub = HubServer(tmp_path / "hub", lease_s=3, store=s3.url(s3.new_bucket()) if s3 else None)
    hub.start()
    alice = hub.user("alice")
    lz1 = hub_landing_zone(tmp_path / "lz1", hub, "lz1", alice)
    lz2 = hub_landing_zone(tmp_path / "lz2", hub, "lz2", alice)
    try:
        lz1.start()
        hub.client(alice, "station", "create", "s")
        wait_until(lambda: len(hub.client_json(alice, "zones")) == 1, 30, "lz1 registered")
        hub.client(alice, "station", "add-lz", "s", "lz1")
        job_id = hub.client(alice, "submit", str(make_job(tmp_path / "job", 7, sleep_s=30)), "--station", "s"
                            ).stdout.split()[-1]
        wait_until(lambda: _job(hub, alice, job_id)["state"] == "running", 60, "running on lz1")
        lz1.kill9()
        lz2.start()
        wait_until(lambda: len(hub.client_json(alice, "zones")) == 2, 30, "lz2 registered")
        hub.client(alice, "station", "add-lz", "s", "lz2")
        wait_until(lambda: _job(hub, alice, job_id)["attempts"] == 2, 60, "attempt 2 claimed by lz2")
        # lz1 comes back while its orphaned copy still runs: the hub says its lease is gone, it
        # cancels its copy and forgets the claim
        lz1.start()
        wait_until(lambda: _claims(lz1.db) == [], 60, "lz1 to drop its stale claim")
        assert [(j["state"], j["outcome"]) for j in lz1.status()] == [("cleaned", "cancelled")]
        job = wait_jobs(hub, alice, [job_id], timeout=120)[job_id]
        assert (job["outcome"], job["attempts"], job["landing_zone"]) == ("succeeded", 2, "lz2")
        events = [(h["event"], h["attempt"]) for h in _job(hub, alice, job_id)["history"]]
        assert ("requeue", 1) in events and ("claim", 2) in events and events[-1] == ("finish", 2)
        out = tmp_path / "out"
        fetch_results(hub, alice, job_id, out)
        assert (out / "attempts.log").read_text() == "started\n"  # results of one attempt only
        assert (out / "out" / "data.bin").read_bytes() == (tmp_path / "job" / "input.bin").read_bytes()
        assert lz1.leftovers() == [] and lz2.leftovers() == []
    finally:
        lz1.stop()
        lz2.stop()
        hub.stop()


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_hub_killed_mid_upload_nothing_lost_nothing_duplicated(tmp_path: Path, backend: str,
                                                               request: pytest.FixtureRequest) -> None:
    """On the local folder a killed hub leaves a ``.part`` file; on S3 (a real S3 server process)
    a multipart upload with parts, which the sweep aborts once it is past the grace."""
    s3 = request.getfixturevalue("s3_server") if backend == "s3" else None
    bucket = s3.new_bucket() if s3 else ""
    hub = HubServer(tmp_path / "hub", lease_s=10, store=s3.url(bucket) if s3 else None)
    hub.start()

    def uploading() -> bool:
        if s3 is None:
            return any(p.suffix == ".part" and p.stat().st_size > 0 for p in (hub.files / "incoming").glob("*.part"))
        client = s3.client()
        return any(client.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"]).get("Parts")
                   for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []))

    alice = hub.user("alice")
    lz = hub_landing_zone(tmp_path / "lz", hub, "lz1", alice)
    try:
        lz.start()
        hub.client(alice, "station", "create", "s")
        wait_until(lambda: len(hub.client_json(alice, "zones")) == 1, 30, "lz registered")
        hub.client(alice, "station", "add-lz", "s", "lz1")
        folder = make_job(tmp_path / "job", 1)
        (folder / "run.sh").write_text("head -c 60000000 /dev/urandom > big.bin\nsha256sum big.bin > big.sha\n")
        job_id = hub.client(alice, "submit", str(folder), "--station", "s").stdout.split()[-1]
        deadline = time.time() + 120
        while time.time() < deadline:  # the moment the results upload is being written
            if uploading():
                break
            time.sleep(0.002 if s3 is None else 0.02)
        else:
            raise AssertionError(f"no upload seen: {hub.log()[-2000:]}")
        hub.kill9()
        assert _claims(lz.db) != []  # the landing zone still holds what the hub did not acknowledge
        time.sleep(2)
        hub.start()
        job = wait_jobs(hub, alice, [job_id], timeout=120)[job_id]
        assert (job["outcome"], job["attempts"]) == ("succeeded", 1)
        history = _job(hub, alice, job_id)["history"]
        seqs = [(h["event"], h["to"]) for h in history]
        assert len(seqs) == len(set(seqs)), seqs  # each transition once
        assert [h["event"] for h in history].count("finish") == 1
        out = tmp_path / "out"
        fetch_results(hub, alice, job_id, out)
        digest = hashlib.sha256((out / "big.bin").read_bytes()).hexdigest()
        assert (out / "big.sha").read_text().split()[0] == digest
        wait_until(lambda: _claims(lz.db) == [], 30, "the claim forgotten after the acknowledgement")
        store = hub.open_store()
        assert store.sweep_incoming(time.time(), 600) == 0  # within the grace: maybe another hub's
        assert store.sweep_incoming(time.time() + 3600, 600) >= 1 and not uploading()
    finally:
        lz.stop()
        hub.stop()
