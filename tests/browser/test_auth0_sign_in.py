"""Sign-in through an Auth0 tenant's universal login in a real Chromium: the hub's button, the
tenant's page, back to the hub signed in (authorization code + PKCE; the fake tenant on loopback
stands in for Auth0, which cannot be reached from here). It shows that the SameSite=Strict
session cookie set after a cross-site return is sent on the next page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chromium import Browser, require_chromium
from tests.fake_tenant import FakeTenant
from tests.integration.hub_server import HubServer

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture
def hub(tmp_path: Path, tenant: FakeTenant) -> Iterator[HubServer]:
    require_chromium()
    config = tmp_path / "hub.toml"
    config.write_text(f'[auth0]\ndomain = "{tenant.domain}"\nclient_id = "{tenant.client_id}"\n'
                      f'audience = "{tenant.audience}"\nscheme = "http"\n')
    server = HubServer(tmp_path / "hub", config=config)
    server.start()
    yield server
    server.stop()


def test_sign_in_through_the_tenant(hub: HubServer, tenant: FakeTenant, tmp_path: Path) -> None:
    browser = Browser(tmp_path / "downloads")
    try:
        browser.go(f"{hub.url}/stations")
        browser.wait("the sign-in page", lambda: "/login" in browser.url)
        browser.click("#auth0")
        browser.wait("the tenant's page", lambda: browser.url.startswith(f"http://{tenant.domain}/authorize"))
        browser.fill("input[name=username]", "carol")
        browser.click("#tenant-login")
        browser.wait("back on the hub, signed in", lambda: browser.url == f"{hub.url}/stations"
                     and "auth0-carol" in browser.text("header"))
        assert "Create Station" in browser.text("main")
        session = next(c for c in browser.driver.get_cookies() if c["name"] == "lz_session")
        assert session["httpOnly"] and session["sameSite"] == "Strict"
    finally:
        browser.close()
