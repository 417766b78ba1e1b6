"""The hub's embedded device flow (RFC 8628) on a real SQLite hub with a test clock: codes,
authorization_pending, slow_down, expiry, denial, approval on /activate (password, session
cookie, CSRF), rotating refresh tokens with a grace window and reuse detection."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from lz.hub.server.domain import accounts, login
from tests.unit.hub_helpers import HubApp, hub_app, login_csrf

GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _start(h: HubApp) -> dict[str, Any]:
    r = h.client.post("/oauth/device/code", data={"client_id": "lz", "client_name": "landing zone X"})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _poll(h: HubApp, code: str) -> Any:
    return h.client.post("/oauth/token", data={"grant_type": GRANT, "device_code": code})


def _alice(h: HubApp, password: str = "correct horse") -> int:
    def _add(conn: Any) -> int:
        uid = accounts.add_user(conn, "alice", False, h.clock())
        login.set_password(conn, "alice", password)
        return uid

    return int(h.hub.write(_add))


def test_device_flow_pending_slow_down_approve_and_tokens(tmp_path: Path) -> None:
    with hub_app(tmp_path, access_s=20) as h:
        uid = _alice(h)
        start = _start(h)
        assert re.fullmatch(r"[B-Z]{4}-[B-Z]{4}", start["user_code"])
        assert start["verification_uri"].endswith("/activate") and start["interval"] == 5
        assert start["verification_uri_complete"].endswith(start["user_code"])
        r = _poll(h, start["device_code"])
        assert (r.status_code, r.json()["error"]) == (400, "authorization_pending")
        r = _poll(h, start["device_code"])  # again at once: too fast
        assert r.json()["error"] == "slow_down"
        h.hub.write(login.decide, start["user_code"].lower().replace("-", ""), uid, True, h.clock())
        h.clock.now += 10
        r = _poll(h, start["device_code"])
        assert r.status_code == 200, r.text
        tokens = r.json()
        assert tokens["expires_in"] == 20 and tokens["refresh_token"].startswith("lzr_")
        assert h.ok("GET", "/whoami", tokens["access_token"])["user"] == "alice"
        assert _poll(h, start["device_code"]).json()["error"] == "invalid_grant"  # used once only
        h.clock.now += 21
        assert h.call("GET", "/whoami", tokens["access_token"]).status_code == 401  # expired
        r = h.client.post("/oauth/token", json={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
                                                "client_id": "lz"})
        assert r.status_code == 200, r.text
        second = r.json()
        assert h.ok("GET", "/whoami", second["access_token"])["user"] == "alice"
        # within the grace window a second process sharing the file may use the old one too
        again = h.client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                    "refresh_token": tokens["refresh_token"]})
        assert again.status_code == 200
        # long after: a replay, the whole family is revoked
        h.clock.now += 60
        replay = h.client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                     "refresh_token": tokens["refresh_token"]})
        assert replay.json()["error"] == "invalid_grant"
        dead = h.client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": second["refresh_token"]})
        assert dead.json()["error"] == "invalid_grant"


def test_expired_and_denied(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        uid = _alice(h)
        first, second = _start(h), _start(h)
        h.hub.write(login.decide, second["user_code"], uid, False, h.clock())
        assert _poll(h, second["device_code"]).json()["error"] == "access_denied"
        h.clock.now += 601
        assert _poll(h, first["device_code"]).json()["error"] == "expired_token"


def test_activate_page_sign_in_csrf_and_approve(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        _alice(h)
        start = _start(h)
        target = f"/activate?user_code={start['user_code']}"
        away = h.client.get(target, follow_redirects=False)  # no session: off to sign in, and back after
        assert away.status_code == 303 and away.headers["location"] == "/login?next=" + quote(target)
        page = h.client.get(away.headers["location"])
        assert 'name="password"' in page.text and "script-src 'self'" in page.headers["content-security-policy"]
        csrf_login = login_csrf(page.text)
        forged_login = h.client.post("/login", data={"name": "alice", "password": "correct horse", "next": target})
        assert forged_login.status_code == 403 and "set-cookie" not in forged_login.headers  # login CSRF
        bad = h.client.post("/login", data={"name": "alice", "password": "wrong one", "next": target,
                                            "csrf": csrf_login})
        assert bad.status_code == 401 and "set-cookie" not in bad.headers
        r = h.client.post("/login", data={"name": "alice", "password": "correct horse", "next": target,
                                          "csrf": csrf_login},
                          follow_redirects=False)
        assert r.status_code == 200 and f'url={target}' in r.text.replace("&amp;", "&")
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        page = h.client.get(target)
        assert "landing zone X" in page.text and "testclient" in page.text  # who asked, from where
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        forged = h.client.post("/activate", data={"csrf": "x", "user_code": start["user_code"],
                                                  "decision": "approve"})
        assert forged.status_code == 403
        assert _poll(h, start["device_code"]).json()["error"] == "authorization_pending"  # nothing decided
        h.clock.now += 5
        ok = h.client.post("/activate", data={"csrf": csrf.group(1), "user_code": start["user_code"],
                                              "decision": "approve"})
        assert ok.status_code == 200 and "approved" in ok.text
        h.clock.now += 5
        assert _poll(h, start["device_code"]).status_code == 200


def test_meta_and_landing_zone_token_over_the_api(tmp_path: Path) -> None:
    with hub_app(tmp_path, min_version="0.0.1") as h:
        meta = h.client.get("/api/v1/meta").json()
        assert meta["auth"]["kind"] == "embedded" and meta["min_version"] == "0.0.1"
        token = h.user("bob")
        made = h.ok("POST", "/tokens", token, json={"for_landing_zones": True, "expires": "7d"})
        assert made["scope"] == "landing-zone"
        assert h.ok("GET", "/whoami", made["token"])["scope"] == "landing-zone"
        assert h.call("POST", "/tokens", made["token"], json={}).status_code == 403  # not as a user


@pytest.mark.postgres
def test_login_migration_and_device_flow_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """hub0002_login runs on PostgreSQL too; a device login and a refresh work there."""
    from fastapi.testclient import TestClient

    from lz.hub.server.app import create_app
    from lz.hub.server.config import HubConfig
    from tests.clock import Clock
    from tests.unit.hub_helpers import HUB_EPOCH

    clock = Clock(HUB_EPOCH)
    app = create_app(HubConfig(db_url=postgres_url, files_dir=tmp_path / "files", clock=clock))
    with TestClient(app) as client:
        h = HubApp(client, clock)
        uid = _alice(h)
        start = _start(h)
        h.hub.write(login.decide, start["user_code"], uid, True, clock())
        tokens = _poll(h, start["device_code"]).json()
        r = client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
        assert r.status_code == 200 and h.ok("GET", "/whoami", r.json()["access_token"])["user"] == "alice"


def test_device_requests_are_bounded_and_purged(tmp_path: Path) -> None:
    """Issue 21 (13): anybody, without an account, could add device-code rows without limit, and
    expired rows were never purged. An address gets slow_down (429, Retry-After) past its share of
    waiting requests; expired ones are purged, which makes room again. (The per-address rate of
    starts is lifted here: it has a test of its own.)"""
    with hub_app(tmp_path, device_per_address=1000) as h:
        for _ in range(login.PENDING_PER_ADDRESS):
            _start(h)
        refused = h.client.post("/oauth/device/code", data={"client_id": "lz"})
        assert refused.status_code == 429 and refused.json()["error"] == "slow_down"
        assert refused.headers["Retry-After"] == "60"
        h.clock.now += h.hub.config.device_s + login.KEEP_ENDED_S + 1  # all of them expired long ago
        _start(h)
        rows = h.hub.read(lambda conn: conn.execute(login.devices_t.select()).all())
        assert len(rows) == 1


def test_activate_names_what_asked_not_its_http_library(tmp_path: Path) -> None:
    """Issue 24 (6): /activate named the client "Python/3.11.2" (its user agent)."""
    with hub_app(tmp_path) as h:
        named = h.client.post("/oauth/device/code", data={"client_id": "lz", "client_name": "lz login by bob on ws1"})
        unnamed = h.client.post("/oauth/device/code", data={"client_id": "lz"},
                                headers={"user-agent": "python-requests/2.32"})
        for answer, shown in ((named, "lz login by bob on ws1"),
                              (unnamed, "an unnamed client (python-requests/2.32)")):
            found = h.hub.read(login.pending, answer.json()["user_code"], h.clock())
            assert found is not None and found.client == shown
