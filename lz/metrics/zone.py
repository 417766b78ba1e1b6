"""A landing zone's metrics: a listener (``lz.core.events``) that turns transitions, controller calls,
steps and ticks into Prometheus series, plus a collector that counts jobs by state and outcome
from the store at each scrape (so jobs that ``lz submit`` and ``lz cancel`` move from other
processes are counted too). Nothing here is called from inside the engine or the steps.

``METRIC_NAMES`` lists every series name; the Grafana dashboard's test checks its queries
against it (and ``lz.metrics.hub.METRIC_NAMES``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from lz.core.events import ControllerEvent, StepEvent, TickEvent
from lz.core.job import Job
from lz.core.records import Transition

Counts = Callable[[], Mapping[tuple[str, str | None], int]]

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LONG_SECONDS = (0.1, 0.5, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)

METRIC_NAMES = frozenset({
    "lz_info", "lz_jobs",
    "lz_transitions_total", "lz_jobs_finished_total",
    "lz_tick_duration_seconds", "lz_tick_active_jobs", "lz_last_tick_timestamp_seconds",
    "lz_controller_calls_total", "lz_controller_errors_total", "lz_controller_call_duration_seconds",
    "lz_controller_up", "lz_controller_outages_total",
    "lz_step_duration_seconds", "lz_step_failures_total",
    "lz_collected_bytes_total", "lz_collected_files_total",
    "lz_queue_wait_seconds",
})
"""Base names; histograms also expose ``_bucket``, ``_sum`` and ``_count``, counters ``_created``."""


class JobCounts(Collector):
    """``lz_jobs{state, outcome}``: read from the store when scraped (never from a listener's
    memory, which would start at zero on every restart)."""

    def __init__(self, counts: Counts):
        self.counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("lz_jobs", "Jobs in the store by state and outcome", labels=["state", "outcome"])
        for (state, outcome), count in sorted(self.counts().items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            family.add_metric([state, outcome or ""], count)
        yield family


class ZoneMetrics:
    """The listener. ``registry``: where the series live (the hub can pass the same one)."""

    def __init__(self, registry: CollectorRegistry, counts: Counts | None = None, *,
                 info: Mapping[str, str] | None = None) -> None:
        self.registry = registry
        if counts is not None:
            registry.register(JobCounts(counts))
        info_labels = dict(info or {})
        self.info = Gauge("lz_info", "This landing zone (value 1)", list(info_labels), registry=registry)
        if info_labels:
            self.info.labels(**info_labels).set(1)
        self.transitions = Counter("lz_transitions_total", "Transitions this daemon fired",
                                   ["from_state", "to_state", "event"], registry=registry)
        self.finished = Counter("lz_jobs_finished_total", "Jobs that reached cleaned, by outcome", ["outcome"],
                                registry=registry)
        self.tick = Histogram("lz_tick_duration_seconds", "Duration of one tick", buckets=_SECONDS, registry=registry)
        self.tick_active = Gauge("lz_tick_active_jobs", "Active jobs the last tick looked at", registry=registry)
        self.last_tick = Gauge("lz_last_tick_timestamp_seconds", "When the last tick ran (UNIX time)",
                               registry=registry)
        self.calls = Counter("lz_controller_calls_total", "Scheduler and runtime commands run", ["program"],
                             registry=registry)
        self.errors = Counter("lz_controller_errors_total", "Commands that failed or timed out", ["program"],
                              registry=registry)
        self.latency = Histogram("lz_controller_call_duration_seconds", "Duration of one command", ["program"],
                                 buckets=_SECONDS, registry=registry)
        self.up = Gauge("lz_controller_up", "1 while the controller answers, 0 while lz backs off", registry=registry)
        self.up.set(1)
        self.outages = Counter("lz_controller_outages_total", "Times the controller became unreachable",
                               registry=registry)
        self.steps = Histogram("lz_step_duration_seconds", "Duration of build, submit and collect steps", ["step"],
                               buckets=_LONG_SECONDS, registry=registry)
        self.step_failures = Counter("lz_step_failures_total", "Steps that failed the job or were deferred",
                                     ["step"], registry=registry)
        self.collected_bytes = Counter("lz_collected_bytes_total", "Bytes archived into results", registry=registry)
        self.collected_files = Counter("lz_collected_files_total", "New and modified files returned",
                                       registry=registry)
        self.queue_wait = Histogram("lz_queue_wait_seconds", "From submission until the job was seen started",
                                    buckets=_LONG_SECONDS, registry=registry)

    # -- listener ----------------------------------------------------------------------------------
    def on_transition(self, job: Job, transition: Transition) -> None:
        self.transitions.labels(transition.from_state, transition.to_state, transition.event).inc()
        if transition.to_state == "cleaned":
            self.finished.labels(job.outcome or "unknown").inc()
        if transition.from_state == "queued" and transition.to_state in ("running", "collecting") \
                and job.started_at is not None and job.submit_attempted_at is not None:
            # seen running, or already ended (a short job between two looks): it left the queue
            self.queue_wait.observe(max(0.0, job.started_at - job.submit_attempted_at))

    def on_controller(self, event: ControllerEvent) -> None:
        if event.kind == "call":
            self.calls.labels(event.program).inc()
            self.latency.labels(event.program).observe(event.seconds)
            if not event.ok:
                self.errors.labels(event.program).inc()
        elif event.kind == "down":
            self.up.set(0)
            self.outages.inc()
        elif event.kind == "up":
            self.up.set(1)

    def on_step(self, event: StepEvent) -> None:
        self.steps.labels(event.step).observe(event.seconds)
        if not event.ok:
            self.step_failures.labels(event.step).inc()
        if event.bytes:
            self.collected_bytes.inc(event.bytes)
        if event.files:
            self.collected_files.inc(event.files)

    def on_tick(self, event: TickEvent) -> None:
        self.tick.observe(event.seconds)
        self.tick_active.set(event.active)
        self.last_tick.set(event.at)
