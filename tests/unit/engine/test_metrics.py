"""Metrics from listeners only: the engine and the steps emit events, the exporter counts them;
the hub's metrics register beside a landing zone's; ``HOST:PORT`` parsing."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from lz.core.errors import ConfigError
from lz.core.events import ControllerEvent, Listeners, StepEvent
from lz.core.records import Observation
from lz.metrics.address import parse_address
from lz.metrics.hub import METRIC_NAMES as HUB_NAMES
from lz.metrics.hub import HubMetrics
from lz.metrics.zone import METRIC_NAMES, ZoneMetrics
from tests.unit.fakes import Harness


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_a_job_through_the_engine_shows_in_every_series(tmp_path: Path) -> None:
    lz = Harness(tmp_path)
    registry = CollectorRegistry()
    metrics = ZoneMetrics(registry, lz.store.count_by_state_and_outcome)
    lz.store.listeners.add(metrics)
    lz.engine.listeners.add(metrics)  # the same Listeners the steps and the watcher use
    job_id = lz.add()
    lz.tick()
    lz.tick()
    lz.clock.advance(7)
    lz.executor.seen[job_id] = Observation("running", "101", "RUNNING")
    lz.tick()
    lz.executor.seen[job_id] = Observation("ended", "101", "COMPLETED", exit_code=0)
    lz.clock.advance(5)
    lz.tick()
    lz.tick()
    assert value(registry, "lz_jobs", state="cleaned", outcome="succeeded") == 1
    assert value(registry, "lz_jobs_finished_total", outcome="succeeded") == 1
    assert value(registry, "lz_transitions_total", from_state="queued", to_state="running", event="started") == 1
    assert value(registry, "lz_queue_wait_seconds_sum") == 7  # submitted, then seen running 7 s later
    for step in ("build", "submit", "collect"):
        assert value(registry, "lz_step_duration_seconds_count", step=step) == 1
    assert value(registry, "lz_tick_duration_seconds_count") == 5
    assert value(registry, "lz_last_tick_timestamp_seconds") == lz.clock()


def test_controller_calls_errors_and_back_off() -> None:
    registry = CollectorRegistry()
    metrics = ZoneMetrics(registry)
    listeners = Listeners(metrics)
    listeners.controller(ControllerEvent("call", 0, "squeue", 0.2, ok=True))
    listeners.controller(ControllerEvent("call", 0, "squeue", 30, ok=False))
    listeners.controller(ControllerEvent("down", 0, error="timeout"))
    assert value(registry, "lz_controller_up") == 0 and value(registry, "lz_controller_outages_total") == 1
    listeners.controller(ControllerEvent("up", 1))
    listeners.step(StepEvent("build", "j", 3.0, ok=False))
    assert value(registry, "lz_controller_calls_total", program="squeue") == 2
    assert value(registry, "lz_controller_errors_total", program="squeue") == 1
    assert value(registry, "lz_controller_call_duration_seconds_sum", program="squeue") == pytest.approx(30.2)
    assert value(registry, "lz_controller_up") == 1
    assert value(registry, "lz_step_failures_total", step="build") == 1


def test_a_broken_listener_never_stops_the_others() -> None:
    class Broken:
        def on_step(self, event: StepEvent) -> None:
            raise RuntimeError("exporter bug")

    registry = CollectorRegistry()
    listeners = Listeners(Broken(), object(), ZoneMetrics(registry))
    listeners.step(StepEvent("collect", "j", 1.0, bytes=10, files=2))
    assert value(registry, "lz_collected_bytes_total") == 10 and value(registry, "lz_collected_files_total") == 2


def test_hub_metrics_share_a_registry_with_a_landing_zones() -> None:
    registry = CollectorRegistry()
    ZoneMetrics(registry, lambda: {("running", None): 2})
    hub = HubMetrics(registry, online=lambda: 3, queued=lambda: {"gpu": 4})
    hub.claimed("gpu")
    hub.lease_expired("gpu")
    text = generate_latest(registry).decode()
    assert 'lz_jobs{outcome="",state="running"} 2.0' in text
    assert "lz_hub_landing_zones_online 3.0" in text and 'lz_hub_queued_jobs{station="gpu"} 4.0' in text
    assert value(registry, "lz_hub_claims_total", station="gpu") == 1
    assert value(registry, "lz_hub_lease_expiries_total", station="gpu") == 1
    assert not METRIC_NAMES & HUB_NAMES


@pytest.mark.parametrize("text, expected", [("127.0.0.1:9750", ("127.0.0.1", 9750)), ("[::1]:0", ("::1", 0)),
                                             (":9750", ("0.0.0.0", 9750))])
def test_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["9750", "host:", "host:http", "host:70000", "host:٩٧"])
def test_bad_addresses_are_one_line(text: str) -> None:
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_address(text)
