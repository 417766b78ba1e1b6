"""The hub's metrics, for ``lz hub serve --metrics HOST:PORT``: landing zones online, claims and
lease expiries. The hub calls these hooks where the events happen (its claim and lease code), or
passes a callable for what is best read from its database at each scrape; it serves them with
``lz.metrics.server.serve`` from the same kind of registry as a landing zone's.

Wiring in the hub (a few lines)::

    registry = CollectorRegistry()
    metrics = HubMetrics(registry, online=lambda: db.count_online_zones())
    metrics.claimed(station)           # a landing zone claimed a job under a lease
    metrics.lease_expired(station)     # a lease ran out and the job was queued again
    serve(settings.metrics, registry)  # when --metrics was given
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

METRIC_NAMES = frozenset({"lz_hub_landing_zones_online", "lz_hub_claims_total", "lz_hub_lease_expiries_total",
                          "lz_hub_queued_jobs"})

Online = Callable[[], int]
Queued = Callable[[], Mapping[str, int]]


class _FromDatabase(Collector):
    def __init__(self, online: Online | None, queued: Queued | None):
        self.online = online
        self.queued = queued

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.online is not None:
            yield GaugeMetricFamily("lz_hub_landing_zones_online", "Landing zones seen within their lease",
                                    value=self.online())
        if self.queued is not None:
            family = GaugeMetricFamily("lz_hub_queued_jobs", "Jobs waiting for a claim, by Station",
                                       labels=["station"])
            for station, count in sorted(self.queued().items()):
                family.add_metric([station], count)
            yield family


class HubMetrics:
    def __init__(self, registry: CollectorRegistry, *, online: Online | None = None, queued: Queued | None = None):
        self.registry = registry
        registry.register(_FromDatabase(online, queued))
        self.claims = Counter("lz_hub_claims_total", "Jobs claimed by landing zones", ["station"], registry=registry)
        self.expiries = Counter("lz_hub_lease_expiries_total", "Leases that expired (the job was queued again)",
                                ["station"], registry=registry)

    def claimed(self, station: str) -> None:
        self.claims.labels(station).inc()

    def lease_expired(self, station: str) -> None:
        self.expiries.labels(station).inc()
