"""Dependencies and retries through a hub: a hub process and a landing-zone process on loopback; a
chain of three jobs submitted with ``lz submit --station --after``, the middle one failing; a
job with ``retries`` in its lz.toml retried by the landing zone that holds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.hub_server import HubServer, hub_landing_zone
from tests.integration.landing_zone import script_job
from tests.integration.test_hub_end_to_end import wait_jobs

pytestmark = [pytest.mark.integration]


@pytest.fixture
def hub(tmp_path: Path):  # type: ignore[no-untyped-def]
    server = HubServer(tmp_path / "hub", lease_s=4)
    server.start()
    yield server
    server.stop()


def test_a_chain_of_three_through_a_hub_with_a_failing_middle(hub: HubServer, tmp_path: Path) -> None:
    alice = hub.user("alice")
    lz = hub_landing_zone(tmp_path / "lz1", hub, "lz1", alice, config="retry_backoff_s = 0.2\n")
    lz.start()
    try:
        hub.station_with_zones(alice, "science", "lz1")
        jobs = tmp_path / "jobs"

        def submit(folder: Path, *args: str) -> str:
            return hub.client(alice, "submit", str(folder), "--station", "science", *args).stdout.strip().splitlines()[-1]

        first = submit(script_job(jobs, "first", "sleep 1\necho one\n"))
        second = submit(script_job(jobs, "second", "echo two\nexit 4\n"), "--after", first)
        third = submit(script_job(jobs, "third", "echo three\n"), "--after", f"{second}:ok")
        waiting = hub.client_json(alice, "status", third)
        assert waiting["phase"] == "pending" and waiting["after"] == [f"{second}:ok"]
        assert waiting["pending_reason"] == f"waiting for job {second} to succeed"
        # retried inside the landing zone that holds it: the hub sees one attempt that succeeded
        flaky = submit(script_job(jobs, "flaky", "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count\n"
                                  "[ $n -ge 2 ] || exit 75\necho ok\n", 'retries = 1\nretry_on = ["exit:75"]\n'))
        refused = hub.client(alice, "submit", str(script_job(jobs, "orphan", "true\n")), "--station", "science",
                             "--after", "0123456789", check=False)
        assert refused.returncode != 0 and "no job '0123456789'" in refused.stderr

        done = wait_jobs(hub, alice, [first, second, third, flaky], timeout=90)
        assert done[first]["outcome"] == "succeeded"
        assert (done[second]["outcome"], done[second]["reason"]) == ("failed", "exit code 4")
        assert (done[third]["outcome"], done[third]["reason"]) == ("failed", f"dependency {second} failed")
        assert done[third]["landing_zone"] is None  # never claimed
        assert done[flaky]["outcome"] == "succeeded", done[flaky]
        assert done[flaky]["reason"] == "exit code 0 (attempt 2 of 2; earlier: #1 exit code 75)"
        assert done[flaky]["retry"]["retries"] == 1
    finally:
        lz.stop()
