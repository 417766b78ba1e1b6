"""Sign-in on the web page through an Auth0 tenant (a fake one on 127.0.0.1, reached with
``requests`` as a browser would): the authorization-code grant with PKCE, state, and the session."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from tests.fake_tenant import FakeTenant
from tests.unit.hub_helpers import HubApp, hub_app, tenant_hub_app


@pytest.fixture
def hub(tenant: FakeTenant, tmp_path: Path) -> Iterator[HubApp]:
    with tenant_hub_app(tenant, tmp_path) as h:
        yield h


class _Form(HTMLParser):
    """The fields of the tenant's login form (what a browser would post), and its button ids."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.buttons: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "input":
            self.fields[found["name"]] = found.get("value", "")
        elif tag == "button":
            self.buttons.append(found.get("id", ""))


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


def _start(hub: HubApp, next: str = "/activate") -> tuple[str, dict[str, str]]:
    """/login/auth0: the tenant's /authorize URL and its query."""
    r = hub.client.get("/login/auth0?" + urlencode({"next": next}), follow_redirects=False)
    assert r.status_code == 303, r.text
    location = r.headers["location"]
    return location, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def _at_tenant(location: str, decision: str = "allow", **change: str) -> str:
    """The browser at the tenant: its login page, the form posted; where the tenant sends it back."""
    page = requests.get(location, timeout=10)
    assert page.status_code == 200, page.text
    form = _Form()
    form.feed(page.text)
    assert "tenant-login" in form.buttons and form.fields["username"] == "alice"
    fields = {**form.fields, "decision": decision, **change}
    back = requests.post(location.split("?")[0], data=fields, allow_redirects=False, timeout=10)
    assert back.status_code == 302
    return str(back.headers["location"])


def _signed_in(hub: HubApp) -> bool:
    r = hub.client.get("/activate", follow_redirects=False)
    assert r.status_code in (200, 303), r.status_code
    return r.status_code == 200


def test_login_page_offers_the_tenant(hub: HubApp, tenant: FakeTenant) -> None:
    r = hub.client.get("/login?next=/activate")
    assert r.status_code == 200 and 'id="auth0"' in r.text and "/login/auth0?next=/activate" in r.text
    assert tenant.domain in r.text and 'name="password"' not in r.text


def test_start_redirects_with_an_s256_challenge_and_a_lax_cookie(hub: HubApp, tenant: FakeTenant) -> None:
    location, query = _start(hub)
    assert location.startswith(f"http://{tenant.domain}/authorize?")
    assert query["response_type"] == "code" and query["client_id"] == tenant.client_id
    assert query["redirect_uri"] == "http://testserver/login/callback"
    assert query["audience"] == tenant.audience and query["scope"] == "openid profile email"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43  # sha256, base64url
    assert len(query["state"]) >= 32
    assert hub.client.cookies.get("lz_pkce")
    set_cookie = hub.client.get("/login/auth0", follow_redirects=False).headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie and "Path=/login" in set_cookie
    assert "Max-Age=600" in set_cookie and "Secure" not in set_cookie  # plain http in tests
    _, again = _start(hub)
    assert again["state"] != query["state"] and again["code_challenge"] != query["code_challenge"]


def test_whole_flow_signs_in(hub: HubApp, tenant: FakeTenant) -> None:
    assert not _signed_in(hub)
    location, query = _start(hub, "/activate?user_code=X")
    back = _at_tenant(location)
    assert back.startswith("http://testserver/login/callback?")
    assert parse_qs(urlsplit(back).query)["state"] == [query["state"]]
    r = hub.client.get(back)
    assert r.status_code == 200 and 'url=/activate?user_code=X"' in r.text  # moves on by itself
    assert "lz_session" in r.headers.get("set-cookie", "") and "lz_pkce" not in hub.client.cookies
    sent = tenant.exchanges[-1]
    assert _s256(sent["code_verifier"]) == query["code_challenge"] and 43 <= len(sent["code_verifier"]) <= 128
    assert "client_secret" not in sent and sent["redirect_uri"] == query["redirect_uri"]
    assert _signed_in(hub)
    assert "auth0-alice" in hub.client.get("/activate").text  # the user made from the token's sub
    assert hub.client.get(back).status_code == 400  # the state is spent


def test_next_elsewhere_lands_on_the_hub(hub: HubApp) -> None:
    location, _ = _start(hub, "//evil.example")
    r = hub.client.get(_at_tenant(location))
    assert r.status_code == 200 and 'url=/"' in r.text and "evil" not in r.text


@pytest.mark.parametrize("how", ["wrong state", "no cookie", "no state"])
def test_state_mismatch_is_400(hub: HubApp, how: str) -> None:
    location, query = _start(hub)
    back = _at_tenant(location)
    if how == "wrong state":
        back = back.replace(query["state"], secrets.token_urlsafe(24))
    elif how == "no cookie":
        hub.client.cookies.clear()
    else:
        back = back.replace("state=" + query["state"], "")
    r = hub.client.get(back)
    assert r.status_code == 400 and "This sign-in was not started here or took too long: try again." in r.text
    assert not _signed_in(hub)


def test_a_code_made_for_another_verifier_is_refused(hub: HubApp, tenant: FakeTenant) -> None:
    """An injected code (obtained with someone else's challenge) fails at the tenant: 401, no session."""
    location, query = _start(hub)
    back = _at_tenant(location, code_challenge=_s256(secrets.token_urlsafe(48)))
    r = hub.client.get(back)
    assert r.status_code == 401 and "The Auth0 tenant did not confirm this sign-in: try again." in r.text
    assert tenant.exchanges and "lz_session" not in r.headers.get("set-cookie", "")
    assert not _signed_in(hub)


def test_tenant_refusal_is_401(hub: HubApp, tenant: FakeTenant) -> None:
    location, _ = _start(hub)
    r = hub.client.get(_at_tenant(location, decision="deny"))
    assert r.status_code == 401
    assert "The Auth0 tenant refused the sign-in: User did not authorize the request" in r.text
    assert not tenant.exchanges and not _signed_in(hub)


def test_a_token_the_hub_refuses_is_401(hub: HubApp, tenant: FakeTenant) -> None:
    tenant.token_options = {"audience": "https://elsewhere"}
    location, _ = _start(hub)
    r = hub.client.get(_at_tenant(location))
    assert r.status_code == 401 and "did not confirm" in r.text and not _signed_in(hub)


def test_unreachable_tenant_is_one_line(hub: HubApp, tenant: FakeTenant) -> None:
    location, _ = _start(hub)
    back = _at_tenant(location)
    tenant.close()
    r = hub.client.get(back)
    assert r.status_code == 502 and "The Auth0 tenant did not answer (ConnectionError): try again later." in r.text
    assert "Traceback" not in r.text


def test_fake_tenant_checks_the_authorize_request(tenant: FakeTenant) -> None:
    good: dict[str, Any] = {"client_id": tenant.client_id, "response_type": "code", "redirect_uri": "http://x/cb",
                            "code_challenge": "c" * 43, "code_challenge_method": "S256"}
    base = f"http://{tenant.domain}/authorize?"
    assert requests.get(base + urlencode(good), timeout=10).status_code == 200
    for key, value in [("client_id", "nope"), ("response_type", "token"), ("code_challenge_method", "plain"),
                       ("redirect_uri", "")]:
        assert requests.get(base + urlencode({**good, key: value}), timeout=10).status_code == 400


def test_without_a_tenant_there_is_no_auth0_sign_in(tmp_path: Path) -> None:
    with hub_app(tmp_path) as plain:
        for path in ("/login/auth0?next=/", "/login/callback?code=x&state=y"):
            r = plain.client.get(path, follow_redirects=False)
            assert r.status_code == 404 and r.text.count("\n") == 1
        assert 'id="auth0"' not in plain.client.get("/login").text
