"""Behind a TLS proxy the hub learns the scheme from X-Forwarded-Proto, but believes it only from
the proxy's address (``trusted_proxies``, default loopback; issue 21): anyone else sending the
header over plain http must not get what https gets (a ``Secure`` cookie, https links)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import ValidationError

from lz.cli import main
from lz.hub.server.config import HubConfig
from lz.hub.server.domain import login
from tests.unit.hub_helpers import hub_app, login_csrf

PASSWORD = "correct horse"
HTTPS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


def _cookie_is_secure(app: object, client_address: str) -> bool:
    browser = TestClient(app, client=(client_address, 40000), follow_redirects=False)  # type: ignore[arg-type]
    page = browser.get("/login", headers=HTTPS)  # the form's CSRF token and its cookie (Secure or not)
    form = {"name": "alice", "password": PASSWORD, "next": "/", "csrf": login_csrf(page.text)}
    response = browser.post("/login", data=form,
                            headers={**HTTPS, "Cookie": f"lz_login={page.cookies['lz_login']}"})
    assert response.status_code == 200 and "set-cookie" in response.headers, response.text
    [session] = [c for c in response.headers.get_list("set-cookie") if not c.startswith("lz_login=")]
    return "secure" in [a.strip().lower() for a in session.split(";")]


def test_forwarded_https_is_believed_from_loopback_only(tmp_path: Path) -> None:
    with hub_app(tmp_path) as app:
        app.user("alice")
        app.hub.write(login.set_password, "alice", PASSWORD)
        assert _cookie_is_secure(app.client.app, "127.0.0.1") is True
        assert _cookie_is_secure(app.client.app, "::1") is True
        assert _cookie_is_secure(app.client.app, "10.1.2.3") is False  # a stranger's header is ignored


def test_a_proxy_elsewhere_is_trusted_when_named(tmp_path: Path) -> None:
    with hub_app(tmp_path, trusted_proxies=("10.1.0.0/16",)) as app:
        app.user("alice")
        app.hub.write(login.set_password, "alice", PASSWORD)
        assert _cookie_is_secure(app.client.app, "10.1.2.3") is True
        assert _cookie_is_secure(app.client.app, "127.0.0.1") is False


def test_a_trusted_proxy_must_be_an_address(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="'proxy.example' is not an IP address"):
        HubConfig(db_url="sqlite://", files_dir=tmp_path, trusted_proxies=("proxy.example",))
    env = {"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state"), "LZ_HUB_DB": "", "LZ_HUB_CONFIG": ""}
    result = CliRunner().invoke(main, ["hub", "serve", "--trusted-proxies", "127.0.0.1,*"], env=env)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("lz: error: hub settings:") and "'*' is not an IP address" in result.stderr
