"""Signing in to the web page through a real TLS proxy (issue 21): nginx runs deploy/nginx/lz-hub.conf
in front of a real ``lz hub serve`` on loopback, with a throwaway CA that this Chromium trusts
through an NSS database (no certificate error is ignored). The page works over https and the
session cookie is ``Secure``: the hub believed the proxy's X-Forwarded-Proto."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.chromium import Browser, require_chromium
from tests.integration.hub_server import HubServer
from tests.integration.tls_proxy import Balancer, Nginx, make_ca, require
from tests.s3_server import S3Server

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


@pytest.mark.postgres
def test_the_page_through_a_balancer_over_two_hubs_survives_one_dying(tmp_path: Path, postgres_url: str,
                                                                      s3_server: S3Server) -> None:
    """Issue 22: two hubs with folders of their own on one PostgreSQL and one S3 bucket, nginx in
    front of both (one server line each); every request of this browser may land on either, so
    the sign-in form, the session, the Station made and the job uploaded must be the hubs'
    shared state. Then one hub is SIGKILLed: the page goes on through the other."""
    require_chromium()
    require("nginx")
    store = s3_server.url(s3_server.new_bucket())
    hubs = [HubServer(tmp_path / f"hub{i}", db=postgres_url, store=store) for i in range(2)]
    tls = make_ca(tmp_path / "tls")
    browser = None
    balancer: Balancer | None = None
    try:
        for hub in hubs:
            hub.start()
        subprocess.run([sys.executable, "-m", "lz.cli", "hub", "user", "add", "alice", "--password-stdin"],
                       input=PASSWORD + "\n", text=True, env=hubs[0].env, check=True, capture_output=True)
        balancer = Balancer(tmp_path / "nginx", tls, [hub.port for hub in hubs])
        balancer.start()
        browser = Browser(tmp_path / "downloads", trust_ca=tls.ca)
        browser.go(f"{balancer.url}/login?next=/stations")
        browser.fill("#name", "alice")
        browser.fill("#password", PASSWORD)
        browser.click("form[action='/login'] button[type=submit]")
        browser.wait("signed in as alice", lambda: "alice" in browser.text("header"))
        browser.go(f"{balancer.url}/stations")
        browser.fill("#station-name", "lab")
        browser.click("#create-station")
        browser.wait("the Station's page", lambda: browser.url.endswith("/stations/lab"))
        job = tmp_path / "job"
        job.mkdir()
        (job / "lz.toml").write_text('name = "balanced"\ncommand = ["sh", "run.sh"]\n')
        (job / "run.sh").write_text("echo hello\n")
        browser.go(f"{balancer.url}/jobs?station=lab")
        browser.choose("#submit-station", "lab")
        browser.find("#submit-folder").send_keys(str(job))
        browser.click("#submit-button")
        browser.wait("the job's page", lambda: re.search(r"/jobs/[0-9a-f]{10}$", browser.url), timeout=60)
        job_page = browser.url

        def still_there() -> None:
            for page in (job_page, f"{balancer.url}/stations", job_page):  # round robin: both hubs, or the live one
                browser.go(page)
                assert "alice" in browser.text("header"), browser.text()
                assert ("balanced" if page == job_page else "lab") in browser.text("main")

        still_there()
        hubs[0].kill9()
        still_there()
        assert [e for e in browser.console_errors() if "favicon.ico" not in e] == []
    finally:
        if browser is not None:
            browser.close()
        if balancer is not None:
            balancer.stop()
        for hub in hubs:
            hub.stop()
