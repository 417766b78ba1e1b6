"""Login through an Auth0 tenant (a fake one on 127.0.0.1): the client's device flow and refresh
(auth0-python), the hub's verification of the tenant's access tokens (PyJWT + JWKS)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lz.core.errors import UserError
from lz.hub.agent import login_client
from tests.fake_tenant import FakeTenant, new_key
from tests.unit.hub_helpers import HubApp, tenant_hub_app


@pytest.fixture
def hub(tenant: FakeTenant, tmp_path: Path) -> Iterator[HubApp]:
    with tenant_hub_app(tenant, tmp_path) as h:
        yield h


def _flow(hub: HubApp, tenant: FakeTenant, script: list[str]) -> tuple[dict[str, Any], list[float], str]:
    tenant.script = script
    meta = hub.client.get("/api/v1/meta").json()
    out, waits = io.StringIO(), []
    data = login_client.device_flow(meta, "http://hub", out, "landing zone X", sleep=waits.append)
    return data, waits, out.getvalue()


def test_meta_advertises_the_tenant_and_happy_path(hub: HubApp, tenant: FakeTenant) -> None:
    meta = hub.client.get("/api/v1/meta").json()
    assert meta["auth"] == {"kind": "auth0", "domain": tenant.domain, "client_id": tenant.client_id,
                            "audience": tenant.audience, "scheme": "http"}
    data, waits, out = _flow(hub, tenant, ["ok"])
    assert out.splitlines() == ["Please visit the following url in your browser and enter the code below",
                                f"URL: http://{tenant.domain}/activate", "Code: BCDF-GHJK"]
    assert waits == [1.0] and data["issuer"] == tenant.issuer
    who = hub.client.get("/api/v1/whoami", headers=hub.auth(data["access_token"]))
    assert who.status_code == 200 and who.json()["user"] == "auth0-alice"  # created from sub
    again = hub.client.get("/api/v1/whoami", headers=hub.auth(tenant.token()))
    assert again.json()["user"] == "auth0-alice"  # mapped, not created twice


def test_pending_then_success_and_slow_down(hub: HubApp, tenant: FakeTenant) -> None:
    _, waits, _ = _flow(hub, tenant, ["authorization_pending", "authorization_pending", "ok"])
    assert waits == [1.0, 1.0, 1.0]
    _, waits, _ = _flow(hub, tenant, ["slow_down", "authorization_pending", "ok"])
    assert waits == [1.0, 6.0, 6.0]  # +5 s after slow_down, and it stays


@pytest.mark.parametrize(("step", "line"), [("expired_token", "the code expired before it was entered: log in again"),
                                            ("access_denied", "the login was denied")])
def test_expiry_and_denial_are_one_line(hub: HubApp, tenant: FakeTenant, step: str, line: str) -> None:
    with pytest.raises(UserError) as caught:
        _flow(hub, tenant, ["authorization_pending", step])
    assert str(caught.value) == line


def test_refresh_and_revoked_refresh(hub: HubApp, tenant: FakeTenant, tmp_path: Path) -> None:
    data, _, _ = _flow(hub, tenant, ["ok"])
    path = tmp_path / "token"
    data["expires_at"] = 0  # due
    login_client.save(path, data)
    source = login_client.TokenSource(path, login_client.read_file(path))
    fresh = source()
    assert fresh.count(".") == 2
    assert login_client.read_file(path)["expires_at"] > 1e9 and path.stat().st_mode & 0o777 == 0o600
    assert hub.client.get("/api/v1/whoami", headers=hub.auth(fresh)).status_code == 200
    tenant.refresh_tokens.clear()  # revoked at the tenant
    with pytest.raises(login_client.LoginAgain, match="log in again"):
        login_client.refreshed(dict(data), 0)


def test_key_rotation_refetches_the_jwks(hub: HubApp, tenant: FakeTenant) -> None:
    assert hub.client.get("/api/v1/whoami", headers=hub.auth(tenant.token())).status_code == 200
    fetches = tenant.jwks_fetches
    tenant.rotate()
    assert hub.client.get("/api/v1/whoami", headers=hub.auth(tenant.token())).status_code == 200
    assert tenant.jwks_fetches == fetches + 1
    assert hub.client.get("/api/v1/whoami", headers=hub.auth(tenant.token())).status_code == 200
    assert tenant.jwks_fetches == fetches + 1  # cached


@pytest.mark.parametrize("bad", ["audience", "issuer", "expired", "other_key", "unknown_kid"])
def test_refused_tokens_are_401(hub: HubApp, tenant: FakeTenant, bad: str) -> None:
    token = {"audience": lambda: tenant.token(audience="https://elsewhere"),
             "issuer": lambda: tenant.token(issuer="https://evil.example/"),
             "expired": lambda: tenant.token(exp_in=-120),
             "other_key": lambda: tenant.token(key=new_key()),
             "unknown_kid": lambda: tenant.token(key=new_key(), kid="nope")}[bad]()
    r = hub.client.get("/api/v1/whoami", headers=hub.auth(token))
    assert r.status_code == 401 and token not in r.text


def test_a_disabled_tenant_user_is_refused(hub: HubApp, tenant: FakeTenant) -> None:
    """The tenant still vouches for them, but the hub's ``lz hub user disable`` wins: 401."""
    from lz.hub.server.domain import accounts

    assert hub.client.get("/api/v1/whoami", headers=hub.auth(tenant.token())).status_code == 200
    hub.hub.write(accounts.set_disabled, "auth0-alice", True, hub.clock())
    assert hub.client.get("/api/v1/whoami", headers=hub.auth(tenant.token())).status_code == 401
    hub.hub.write(accounts.set_disabled, "auth0-alice", False, hub.clock())
    assert hub.client.get("/api/v1/whoami", headers=hub.auth(tenant.token())).status_code == 200
