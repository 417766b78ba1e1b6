"""docs/hub-behind-a-proxy.md shows the proxy configurations the integration tests run
(deploy/nginx/lz-hub.conf, deploy/caddy/Caddyfile) word for word, and their limits agree with the
hub's own: a body as large as a job's results passes, a claim's long poll fits in the timeout."""

from __future__ import annotations

import re

from lz.hub.server.config import HubConfig
from tests.paths import ROOT

DOC = ROOT / "docs" / "hub-behind-a-proxy.md"
NGINX = ROOT / "deploy" / "nginx" / "lz-hub.conf"
CADDY = ROOT / "deploy" / "caddy" / "Caddyfile"


def test_the_doc_shows_the_files_the_tests_run() -> None:
    doc = DOC.read_text()
    for path, fence in ((NGINX, "nginx"), (CADDY, "caddyfile")):
        assert f"```{fence}\n{path.read_text()}```" in doc, f"{DOC.name} no longer shows {path.relative_to(ROOT)}"
    assert "hub-behind-a-proxy.md" in (ROOT / "README.md").read_text()


def test_the_proxies_limits_fit_the_hubs() -> None:
    hub = HubConfig(db_url="sqlite://", files_dir=ROOT)
    largest = max(hub.max_upload_bytes, hub.max_results_bytes, hub.max_live_log_bytes)
    nginx = NGINX.read_text()
    size = re.search(r"client_max_body_size\s+(\d+)g;", nginx)
    assert size and int(size.group(1)) << 30 >= largest
    assert "proxy_request_buffering off;" in nginx  # the hub counts a body as it arrives
    timeouts = [int(t) for t in re.findall(r"proxy_(?:read|send)_timeout\s+(\d+)s;", nginx)]
    assert len(timeouts) == 2 and min(timeouts) > hub.max_claim_wait_s
    caddy_size = re.search(r"max_size\s+(\d+)GiB", CADDY.read_text())
    assert caddy_size and int(caddy_size.group(1)) << 30 >= largest
