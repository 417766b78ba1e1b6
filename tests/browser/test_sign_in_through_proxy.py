"""Signing in to the web page through a real TLS proxy (issue 21): nginx runs deploy/nginx/lz-hub.conf
in front of a real ``lz hub serve`` on loopback, with a throwaway CA that this Chromium trusts
through an NSS database (no certificate error is ignored). The page works over https and the
session cookie is ``Secure``: the hub believed the proxy's X-Forwarded-Proto."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.chromium import Browser, require_chromium
from tests.integration.hub_server import HubServer
from tests.integration.tls_proxy import Nginx, make_ca, require

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.browser]
PASSWORD = "correct horse"


def test_sign_in_through_nginx_gives_a_secure_cookie(tmp_path: Path) -> None:
    require_chromium()
    require("nginx")
    hub = HubServer(tmp_path / "hub")
    hub.start()
    tls = make_ca(tmp_path / "tls")
    proxy = Nginx(tmp_path / "nginx", tls, hub.port)
    browser = None
    try:
        subprocess.run([sys.executable, "-m", "lz.cli", "hub", "user", "add", "alice", "--password-stdin"],
                       input=PASSWORD + "\n", text=True, env=hub.env, check=True, capture_output=True)
        proxy.start()
        browser = Browser(tmp_path / "downloads", trust_ca=tls.ca)
        browser.go(f"{proxy.url}/login?next=/stations")
        browser.fill("#name", "alice")
        browser.fill("#password", PASSWORD)
        browser.click("form[action='/login'] button[type=submit]")
        browser.wait("signed in as alice", lambda: "alice" in browser.text("header"))
        assert browser.url.startswith(proxy.url + "/")
        cookie = browser.driver.get_cookie("lz_session")
        assert cookie is not None and cookie["secure"] is True and cookie["httpOnly"] is True
        assert [e for e in browser.console_errors() if "favicon.ico" not in e] == []
    finally:
        if browser is not None:
            browser.close()
        proxy.stop()
        hub.stop()
