"""What a hub process would otherwise build on its first request of each kind, built at start, and
its garbage collector tuned for a long life with many open long polls (``tune_collector``).

FastAPI (0.13x on) builds an included router's routes, every parameter's and body's pydantic
adapter, on the first request that reaches that router, and reads each endpoint's source file on the
endpoint's first call (for its error context): the first submission of a fresh process took
80-120 ms against 15-20 ms for the next, and issue 22's submit-to-claim p99 is the slowest job of
a sample, which was that one. Nothing here touches the database or the store: a warm-up costs time
at start (0.6-0.7 s here, once) and nothing else, so only ``lz hub serve`` runs it (tests
build many apps)."""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import FastAPI, routing


def warm(app: FastAPI) -> int:
    """Every route's request handling built now; the number of endpoints readied."""
    app.openapi()  # walks every route: each included router builds its routes once, and keeps them
    for module in FIRST_USE_MODULES:
        importlib.import_module(module)
    extract = getattr(routing, "_extract_endpoint_context", None)  # private: skipped where missing
    endpoints = list(_endpoints(app.routes))
    if extract is not None:
        for endpoint in endpoints:
            extract(endpoint)
    return len(endpoints)


FIRST_USE_MODULES = ("lz.core.dependencies", "lz.core.timeline")
"""Imported where a job's path first needs them (the client's ``lz submit`` stays without them)."""


def _endpoints(routes: Iterable[Any]) -> Iterator[Any]:
    """The endpoints of ``routes``, into included routers (``original_router`` where FastAPI keeps
    them apart, 0.13x on)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _endpoints(inner.routes)
        elif isinstance(route, routing.APIRoute):
            yield route.endpoint


def tune_collector() -> None:
    """The garbage collector of a long-running hub: the objects of start-up (modules, the app, its
    routes and schemas: some 150,000) out of its scans for good (``gc.freeze``), and a full
    collection after ``FULL_COLLECTION_AFTER`` collections of the middle generation, not 10. Each
    full collection walks every object alive with the event loop stopped: the start-up objects
    cost about 100 ms, and 1,000 open long polls hold some 200,000 more, 270-290 ms of CPU a
    collection, which Python's default ran every 5-6 s and which was the tail of submit-to-claim
    (issue 22). Cyclic garbage old enough to reach the oldest generation now waits minutes, not
    seconds, to go; everything else is freed as before."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_AFTER)


FULL_COLLECTION_AFTER = 1000
"""Collections of the middle generation between two full ones (Python's default: 10)."""
