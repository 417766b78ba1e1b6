"""The hub behind a real TLS proxy (issue 21): Debian's nginx, and Caddy, run the files of
``deploy/`` (the ones docs/hub-behind-a-proxy.md shows) with a throwaway CA, in front of a real
``lz hub serve`` on loopback. A client that trusts the CA (``REQUESTS_CA_BUNDLE``) works through
https; one that does not is refused by its own certificate check; plain http to another machine is
refused before anything is sent; the hub sees https (a ``Secure`` session cookie) and its own body
limits answer, not the proxy's."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.integration.hub_server import HubServer
from tests.integration.tls_proxy import PROXIES, TlsProxy, make_ca, require
from tests.unit.hub_helpers import login_csrf

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PASSWORD = "correct horse"


@pytest.fixture(params=sorted(PROXIES))
def proxied(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[HubServer, TlsProxy]]:
    require(request.param)
    hub = HubServer(tmp_path / "hub")
    hub.start()
    proxy = PROXIES[request.param](tmp_path / request.param, make_ca(tmp_path / "tls"), hub.port)
    try:
        proxy.start()
        yield hub, proxy
    finally:
        proxy.stop()
        hub.stop()


def _client(hub: HubServer, proxy: TlsProxy, token: Path, *args: str, ca: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**hub.env, "REQUESTS_CA_BUNDLE": str(proxy.tls.ca) if ca else ""}
    return subprocess.run([sys.executable, "-m", "lz.cli", *args, "--hub", proxy.url, "--token", str(token)],
                          env=env, capture_output=True, text=True, timeout=120)


def test_a_client_that_trusts_the_site_ca_works_through_https(proxied: tuple[HubServer, TlsProxy]) -> None:
    hub, proxy = proxied
    token = hub.user("alice")
    hub.client(token, "station", "create", "s1")
    listed = _client(hub, proxy, token, "station", "list")
    assert listed.returncode == 0, listed.stderr + proxy.log()
    assert "s1" in listed.stdout
    untrusted = _client(hub, proxy, token, "station", "list", ca=False)
    assert untrusted.returncode != 0 and "SSLError" in untrusted.stderr and "REQUESTS_CA_BUNDLE" in untrusted.stderr
    assert len(untrusted.stderr.strip().splitlines()) == 1, untrusted.stderr


def test_plain_http_to_another_machine_is_refused_before_anything_is_sent(proxied: tuple[HubServer, TlsProxy]) -> None:
    hub, proxy = proxied
    token = hub.user("alice")
    refused = hub.cli("station", "list", "--hub", "http://192.0.2.1:8750", "--token", str(token), check=False)
    assert refused.returncode == 2 and "plain http" in refused.stderr and "--allow-insecure-hub" in refused.stderr


def test_the_hub_sees_https_and_keeps_its_own_limits(proxied: tuple[HubServer, TlsProxy]) -> None:
    hub, proxy = proxied
    subprocess.run([sys.executable, "-m", "lz.cli", "hub", "user", "add", "alice", "--password-stdin"],
                   input=PASSWORD + "\n", text=True, env=hub.env, check=True, capture_output=True)
    session, ca = requests.Session(), str(proxy.tls.ca)  # per request: REQUESTS_CA_BUNDLE would win over the session's
    form = session.get(f"{proxy.url}/login", timeout=30, verify=ca)  # the form's CSRF token and cookie
    signed_in = session.post(f"{proxy.url}/login", data={"name": "alice", "password": PASSWORD, "next": "/",
                                                         "csrf": login_csrf(form.text)},
                             timeout=30, allow_redirects=False, verify=ca)
    assert signed_in.status_code == 200, signed_in.text
    cookie = next(c for c in session.cookies if c.name == "lz_session")
    assert cookie.secure, "behind https the session cookie must be Secure"
    straight = requests.Session()
    form = straight.get(f"{hub.url}/login", timeout=30)
    direct = straight.post(f"{hub.url}/login", data={"name": "alice", "password": PASSWORD, "next": "/",
                                                      "csrf": login_csrf(form.text)}, timeout=30, allow_redirects=False)
    assert "secure" not in direct.headers["set-cookie"].lower()  # plain http straight to the hub: not
    token = hub.base / "token-alice"
    token.write_text(hub.cli("hub", "token", "create", "--user", "alice").stdout.strip().splitlines()[-1])
    too_big = session.post(f"{proxy.url}/api/v1/stations", data=b"{" + b" " * (2 << 20) + b"}", timeout=60, verify=ca,
                           headers={"Authorization": f"Bearer {token.read_text().strip()}",
                                    "Content-Type": "application/json"})
    # the hub's answer, not the proxy's page: the hub reads a modest refused body to its end before
    # answering, so the proxy still sending it is not reset into a 502 of its own
    assert too_big.status_code == 413 and "detail" in too_big.json(), too_big.text
