"""What a hub process would otherwise build on its first request of each kind, built at start.

FastAPI (0.13x on) builds an included router's routes, every parameter's and body's pydantic
adapter, on the first request that reaches that router, and reads each endpoint's source file on the
endpoint's first call (for its error context): the first submission of a fresh process took
80-120 ms against 15-20 ms for the next, and issue 22's submit-to-claim p99 is the slowest job of
a sample, which was that one. Nothing here touches the database or the store: a warm-up costs time
at start (0.6-0.7 s here, once) and nothing else, so only ``lz hub serve`` runs it (tests
build many apps)."""

from __future__ import annotations

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
