"""The Grafana dashboard (docs/grafana/lz.json) asks only for series the exporters have, and
shows every one of them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from lz.metrics.hub import METRIC_NAMES as HUB_NAMES
from lz.metrics.zone import METRIC_NAMES as ZONE_NAMES
from tests.paths import ROOT

DASHBOARD = ROOT / "docs" / "grafana" / "lz.json"
_SUFFIXES = ("_bucket", "_sum", "_count")


def expressions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "query", "definition") and isinstance(value, str):
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def metric_names(expr: str) -> set[str]:
    names = set()
    for name in re.findall(r"\blz_[a-z0-9_]+", expr):
        for suffix in _SUFFIXES:
            if name.endswith(suffix) and name.removesuffix(suffix) in ZONE_NAMES | HUB_NAMES:
                name = name.removesuffix(suffix)
        names.add(name)
    return names


def test_every_query_names_an_exported_metric() -> None:
    exprs = list(expressions(json.loads(DASHBOARD.read_text())))
    assert len(exprs) > 20
    unknown = {name for expr in exprs for name in metric_names(expr)} - ZONE_NAMES - HUB_NAMES
    assert not unknown, f"the dashboard queries series no exporter has: {sorted(unknown)}"


def test_every_exported_metric_is_on_the_dashboard() -> None:
    used = {name for expr in expressions(json.loads(DASHBOARD.read_text())) for name in metric_names(expr)}
    assert used >= ZONE_NAMES | HUB_NAMES, sorted((ZONE_NAMES | HUB_NAMES) - used)


def test_the_check_catches_a_renamed_metric() -> None:
    assert metric_names("rate(lz_tick_seconds_bucket[5m])") == {"lz_tick_seconds_bucket"}
    assert metric_names("rate(lz_tick_duration_seconds_bucket[5m])") == {"lz_tick_duration_seconds"}
