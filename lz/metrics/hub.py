"""The hub's metrics, for ``lz hub serve --metrics HOST:PORT``: landing zones online, jobs
waiting, claims and lease expiries, what this process's housekeeping removed (by kind) and the SQL
statements it sent (by kind). The hub passes callables that read them from its database at
each scrape (``lz.hub.server.metrics_source``: right for several hub processes on one database); counts
kept in this process (``claimed``, ``lease_expired``) are added on top where a caller has them.
Served with ``lz.metrics.server.serve`` from the same kind of registry as a landing zone's."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

METRIC_NAMES = frozenset({"lz_hub_landing_zones_online", "lz_hub_claims_total", "lz_hub_lease_expiries_total",
                          "lz_hub_queued_jobs", "lz_hub_housekeeping_removed_total", "lz_hub_db_statements_total"})

Online = Callable[[], int]
Queued = Callable[[], Mapping[str, int]]
ByStation = Callable[[], Mapping[str, int]]
ByKind = Callable[[], Mapping[str, int]]


class _FromDatabase(Collector):
    def __init__(self, online: Online | None, queued: Queued | None, claims: ByStation | None,
                 expiries: ByStation | None, removed: ByKind | None = None, statements: ByKind | None = None):
        self.statements = statements
        self.online = online
        self.queued = queued
        self.claims = claims
        self.expiries = expiries
        self.removed = removed

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        for name, text, read in (("lz_hub_claims", "Jobs claimed by landing zones", self.claims),
                                 ("lz_hub_lease_expiries", "Leases that expired (the job was queued again)",
                                  self.expiries)):
            if read is not None:
                counter = CounterMetricFamily(name, text, labels=["station"])
                for station, count in sorted(read().items()):
                    counter.add_metric([station], count)
                yield counter
        if self.removed is not None:
            counter = CounterMetricFamily("lz_hub_housekeeping_removed", "What housekeeping removed (files by kind: "
                                          "bundles, results, logs, incoming, folders; finished jobs' rows)",
                                          labels=["kind"])
            for kind, count in sorted(self.removed().items()):
                counter.add_metric([kind], count)
            yield counter
        if self.statements is not None:
            counter = CounterMetricFamily("lz_hub_db_statements", "SQL statements this hub process sent, by kind "
                                          "(select, insert, update, delete, other)", labels=["kind"])
            for kind, count in sorted(self.statements().items()):
                counter.add_metric([kind], count)
            yield counter
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
    def __init__(self, registry: CollectorRegistry, *, online: Online | None = None, queued: Queued | None = None,
                 claims: ByStation | None = None, expiries: ByStation | None = None, removed: ByKind | None = None,
                 statements: ByKind | None = None):
        self.registry = registry
        registry.register(_FromDatabase(online, queued, claims, expiries, removed, statements))
        self.claims = None if claims else Counter("lz_hub_claims_total", "Jobs claimed by landing zones",
                                                  ["station"], registry=registry)
        self.expiries = None if expiries else Counter(
            "lz_hub_lease_expiries_total", "Leases that expired (the job was queued again)", ["station"],
            registry=registry)

    def claimed(self, station: str) -> None:
        if self.claims is not None:
            self.claims.labels(station).inc()

    def lease_expired(self, station: str) -> None:
        if self.expiries is not None:
            self.expiries.labels(station).inc()
