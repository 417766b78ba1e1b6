"""``lz run --metrics``: scraped while 10 jobs go through a real daemon, and checked against what
``lz status`` says once they are done."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lz.metrics.zone import METRIC_NAMES
from tests.integration.landing_zone import LandingZone

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    series: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[sample.name][tuple(sorted(sample.labels.items()))] = sample.value
    return series


def total(series: dict[str, dict[tuple[tuple[str, str], ...], float]], metric: str, **labels: str) -> float:
    return sum(v for k, v in series.get(metric, {}).items() if set(labels.items()) <= set(k))


def test_metrics_match_lz_status_for_ten_jobs(tmp_path: Path, example_job: Path) -> None:
    port = _free_port()
    zone = LandingZone(tmp_path / "lz", run_args=["--metrics", f"127.0.0.1:{port}"])
    try:
        zone.start()
        ids = [zone.submit(example_job) for _ in range(10)]
        during = scrape(port)  # mid-run: jobs counted by state from the store, whatever their state
        assert total(during, "lz_jobs") == 10
        jobs = zone.wait_all_cleaned(ids)
        time.sleep(0.5)  # the last listener calls run right after the commit lz status just read
        after = scrape(port)
    finally:
        zone.stop()

    outcomes = defaultdict(int)
    for job in jobs.values():
        outcomes[job["outcome"]] += 1
    assert dict(outcomes) == {"succeeded": 10}
    assert total(after, "lz_jobs", state="cleaned", outcome="succeeded") == 10
    assert total(after, "lz_jobs_finished_total", outcome="succeeded") == 10
    histories = [zone.status(job_id)["history"] for job_id in ids]
    # every transition after "received" (recorded by lz submit, another process) was this daemon's
    fired = [h for history in histories for h in history[1:]]
    assert total(after, "lz_transitions_total") == len(fired)
    for h in fired:
        assert total(after, "lz_transitions_total", from_state=h["from"], to_state=h["to"], event=h["event"]) >= 1
    for step in ("build", "submit", "collect"):
        assert total(after, "lz_step_duration_seconds_count", step=step) == 10
    archived = sum(int(h["detail"].split("bytes_archived ")[1].split(",")[0])
                   for history in histories for h in history if h["event"] == "clean")
    assert total(after, "lz_collected_bytes_total") == archived > 0
    assert total(after, "lz_queue_wait_seconds_count") == 10
    assert total(after, "lz_tick_duration_seconds_count") > 0
    assert total(after, "lz_controller_up") == 1
    assert total(after, "lz_info", name="lz", executor="local", runtime="none") == 1
    exported = {name.removesuffix(suffix) for name in after for suffix in ("_bucket", "_sum", "_count", "_created", "")
                if name.endswith(suffix) and name.removesuffix(suffix) in METRIC_NAMES}
    assert exported == METRIC_NAMES - {"lz_controller_calls_total", "lz_controller_errors_total",
                                       "lz_controller_call_duration_seconds",
                                       "lz_step_failures_total"}  # no command ran, nothing failed: no series yet
