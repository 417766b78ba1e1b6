"""The Usage page's chart (issue 26), in a real headless Chromium against a real ``lz hub serve``
and a real landing zone (``lz run --hub``, ``none`` runtime) on loopback: a priced Station runs a
job that burns 1.5 CPU-seconds; the page then draws today's bar with what it cost, and its
table names the Station, the user and the landing zone."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from tests.browser.chromium import Browser
from tests.browser.test_template_form import _token_file, hub  # noqa: F401  (the fixture)
from tests.browser.test_web_end_to_end import sign_in
from tests.integration.hub_server import HubServer, hub_landing_zone
from tests.integration.test_hub_end_to_end import wait_jobs

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_the_usage_chart_shows_what_a_job_cost(hub: HubServer, tmp_path: Path) -> None:  # noqa: F811
    token = _token_file(hub, tmp_path / "token")
    hub.client(token, "station", "create", "lab")
    lz = hub_landing_zone(tmp_path / "X", hub, "X", token, config="usage_interval_s = 0.5\n")
    lz.start()
    browser = Browser(tmp_path / "downloads")
    try:
        hub.client(token, "station", "add-lz", "lab", "X")
        hub.client(token, "station", "credits", "lab", "--cpu-hour", "3600")
        folder = tmp_path / "burn"
        folder.mkdir()
        (folder / "lz.toml").write_text('command = ["sh", "run.sh"]\n')
        # 1.5 CPU-seconds however busy the machine, then alive long enough to be measured after them
        (folder / "run.sh").write_text(f"{sys.executable} -c 'import time\nwhile time.process_time() < 1.5: pass\n"
                                       "time.sleep(2)'\necho done\n")
        job_id = hub.client(token, "submit", str(folder), "--station", "lab").stdout.split()[-1]
        wait_jobs(hub, token, [job_id], timeout=120)
        [spent] = hub.client_json(token, "usage", "--by", "day")
        assert spent["credits_mc"] > 0, spent

        sign_in(browser, hub, "alice", then="/usage")
        browser.go(f"{hub.url}/usage?station=lab")
        today = dt.datetime.now(dt.UTC).date().isoformat()
        bar = browser.wait_for(f"#usage-chart rect.bar[data-day='{today}']")
        assert bar.get_attribute("data-value") == f"{spent['credits']} credits"
        assert float(bar.get_attribute("height")) > 0 and bar.is_displayed()
        assert browser.text("#chart-h") == "Credits per day"
        assert browser.find("#usage-chart").size["width"] > 300
        row = browser.text("#usage-table tbody tr")
        assert row.startswith(f"{today} lab alice X") and row.endswith(spent["credits"]), row
        browser.click("nav a[href='/usage']")
        browser.wait("the page without a filter", lambda: browser.url.endswith("/usage"))
        assert browser.all("#usage-chart rect.bar")
    finally:
        browser.close()
        lz.stop()
