"""The Usage page (issue 26) on a real SQLite hub: today's bar and the table after a charged
report, the Station filter, a job page's charge; and the chart's SVG itself (pure)."""

from __future__ import annotations

import re

from lz.hub.server.domain import usage
from lz.hub.server.web.usage_chart import bar_chart
from tests.unit.hub_helpers import HubApp
from tests.unit.web.test_web_pages import Browser, alice, app

__all__ = ["alice", "app"]  # the fixtures


def test_the_usage_page_draws_a_bar_per_day_and_a_table(app: HubApp, alice: Browser) -> None:
    assert 'id="usage-none"' in alice.get("/usage").text  # nothing yet: an empty chart says so
    app.ok("PUT", "/stations/s1/credits", alice.token, json={"cpu_hour": "7.2"})
    assert app.submit(alice.token).status_code == 201
    [job] = app.claim(alice.token)
    start = app.clock()
    app.clock.advance(600)
    app.ok("POST", f"/lz/jobs/{job['id']}/events", alice.token,
           json={"name": "lz1", "attempt": 1, "events": [], "facts": {"started_at": start, "cpu_seconds": 500.0}})
    page = alice.get("/usage").text
    today = usage.day_of(app.clock())
    assert f'data-day="{today}" data-value="1.000 credits"' in page
    assert "<h2 id=\"chart-h\">Credits per day</h2>" in page
    assert re.search(rf"<td>{today}</td><td>s1</td><td>alice</td><td>lz1</td>\s*<td>0.139</td>", page)
    assert 'aria-current="page">Usage</a>' in page
    assert alice.get("/usage?station=nope").status_code == 404
    assert "1.000 credits (0.139 CPU-h" in alice.get(f"/jobs/{job['id']}").text


def test_the_chart_scales_bars_exactly_and_escapes_what_it_writes() -> None:
    svg = bar_chart([("2026-12-01", 500, "0.500 credits"), ("2026-12-02", 1000, "<1.000> credits")], "Credits")
    heights = [int(h) for h in re.findall(r'class="bar" x="\d+" y="\d+" width="\d+" height="(\d+)"', svg)]
    assert heights == [80, 160]  # 160 px of plot: half and whole
    assert "&lt;1.000&gt; credits" in svg and "<1.000>" not in svg
    assert svg.startswith('<svg id="usage-chart"') and svg.endswith("</svg>")
    assert "no usage recorded" in bar_chart([], "Credits")
    assert 'height="0"' in bar_chart([("2026-12-01", 0, "0.000 credits")], "Credits")
