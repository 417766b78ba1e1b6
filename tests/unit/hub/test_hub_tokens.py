"""Issue 21 items 3 and 11, and the account items, on a real SQLite hub with a test clock: tokens
minted over the API are capped and end with the login that minted them; a user lists and revokes
their own tokens; a refresh replay inside the grace window cannot start a second line of a family;
a disabled user and a password change end sessions and tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lz.hub.server.domain import accounts, login
from tests.unit.hub_helpers import HubApp, hub_app, sign_in

GRANT = "urn:ietf:params:oauth:grant-type:device_code"
PASSWORD = "correct horse"


def _device_login(h: HubApp, name: str = "alice") -> dict[str, Any]:
    """A device login of ``name`` (created with a password if new): its token response."""
    def _user(conn: Any) -> int:
        try:
            return accounts.user_id(conn, name)
        except Exception:
            uid = accounts.add_user(conn, name, False, h.clock())
            login.set_password(conn, name, PASSWORD)
            return uid

    uid = h.hub.write(_user)
    start = h.client.post("/oauth/device/code", data={"client_id": "lz"}).json()
    h.hub.write(login.decide, start["user_code"], uid, True, h.clock())
    answer = h.client.post("/oauth/token", data={"grant_type": GRANT, "device_code": start["device_code"]})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _refresh(h: HubApp, refresh_token: str) -> Any:
    return h.client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def _web_session(h: HubApp, name: str = "alice") -> Any:
    return sign_in(h.client, name, PASSWORD, follow_redirects=False)


def test_api_tokens_are_capped_and_never_endless(tmp_path: Path) -> None:
    with hub_app(tmp_path, max_token_s=30 * 86400.0) as h:
        access = _device_login(h)["access_token"]
        endless = h.ok("POST", "/tokens", access, json={"for_landing_zones": True, "expires": None})
        assert endless["expires_at"] == h.clock() + 30 * 86400  # "never" is the hub's cap
        too_long = h.call("POST", "/tokens", access, json={"expires": "31d"})
        assert too_long.status_code == 422 and "30 days" in too_long.json()["detail"]
        assert h.call("POST", "/tokens", access, json={"expires": "2d", "label": "no spaces"}).status_code == 422
        h.clock.now += 30 * 86400 + 1
        assert h.call("GET", "/whoami", endless["token"]).status_code == 401


def test_a_minted_token_ends_with_the_login_that_minted_it(tmp_path: Path) -> None:
    """Reuse detection revokes the family: its access tokens and what they minted (item 3)."""
    with hub_app(tmp_path) as h:
        first = _device_login(h)
        minted = h.ok("POST", "/tokens", first["access_token"], json={"for_landing_zones": False, "expires": "7d"})
        # a token minted by a minted token belongs to the same login
        grandchild = h.ok("POST", "/tokens", minted["token"], json={"expires": "1d"})
        assert _refresh(h, first["refresh_token"]).status_code == 200
        h.clock.now += 120  # past the grace: presenting the spent refresh token again is a replay
        assert _refresh(h, first["refresh_token"]).json()["error"] == "invalid_grant"
        for token in (first["access_token"], minted["token"], grandchild["token"]):
            assert h.call("GET", "/whoami", token).status_code == 401
        other = _device_login(h)  # another login of the same user is untouched by it
        assert h.ok("GET", "/whoami", other["access_token"])["user"] == "alice"


def test_users_list_and_revoke_their_own_tokens(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        first = _device_login(h)
        access = first["access_token"]
        minted = h.ok("POST", "/tokens", access, json={"expires": "7d", "label": "pilots-1"})
        bob = h.user("bob")
        h.clock.now += 400
        h.ok("GET", "/whoami", minted["token"])  # marks it used
        rows = h.ok("GET", "/tokens", access)
        assert [(r["kind"], r["label"], r["current"]) for r in rows] == [("device", None, True),
                                                                         ("api", "pilots-1", False)]
        assert rows[1]["last_used_at"] == h.clock() and rows[1]["expires_at"] == minted["expires_at"]
        assert all(set(r) == {"id", "label", "kind", "scope", "created_at", "expires_at", "last_used_at",
                              "current"} for r in rows)
        assert minted["token"] not in str(rows) and "digest" not in str(rows)
        assert [r["kind"] for r in h.ok("GET", "/tokens", bob)] == ["admin"]  # only one's own
        # someone else's token, or one that does not exist: 404 alike, nothing revoked
        assert h.call("DELETE", f"/tokens/{minted['id']}", bob).status_code == 404
        assert h.call("DELETE", "/tokens/999999", access).status_code == 404
        assert h.call("DELETE", "/tokens/0", access).status_code == 422
        assert h.ok("GET", "/whoami", minted["token"])["user"] == "alice"
        h.ok("DELETE", f"/tokens/{minted['id']}", access)
        assert h.call("GET", "/whoami", minted["token"]).status_code == 401
        # revoking a login's access token ends that login: its refresh token too
        h.ok("DELETE", f"/tokens/{rows[0]['id']}", access)
        assert h.call("GET", "/whoami", access).status_code == 401
        assert _refresh(h, first["refresh_token"]).json()["error"] == "invalid_grant"


def test_a_refresh_replay_within_grace_cannot_start_a_second_line(tmp_path: Path) -> None:
    """Item 11: A is stolen; the owner rotates A -> B, the thief replays A inside the grace window
    and gets B'. Only one of B and B' may go on; the other one's use revokes the whole family."""
    with hub_app(tmp_path) as h:
        first = _device_login(h)
        b = _refresh(h, first["refresh_token"]).json()
        h.clock.now += 5
        b_thief = _refresh(h, first["refresh_token"]).json()  # within the grace: answered (a lost answer retried)
        assert "refresh_token" in b_thief
        c = _refresh(h, b["refresh_token"]).json()  # the owner goes on
        assert "refresh_token" in c
        replay = _refresh(h, b_thief["refresh_token"])  # the thief's line is dead, and it gives itself away
        assert replay.json()["error"] == "invalid_grant"
        assert _refresh(h, c["refresh_token"]).json()["error"] == "invalid_grant"  # whole family revoked
        for token in (c["access_token"], b_thief["access_token"], b["access_token"]):
            assert h.call("GET", "/whoami", token).status_code == 401


def test_a_lost_answer_retried_within_grace_goes_on(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        first = _device_login(h)
        _refresh(h, first["refresh_token"])  # its answer never arrived
        retried = _refresh(h, first["refresh_token"]).json()
        for _ in range(3):
            h.clock.now += 3000
            retried = _refresh(h, retried["refresh_token"]).json()
            assert h.ok("GET", "/whoami", retried["access_token"])["user"] == "alice"


def test_a_disabled_user_is_out_at_once_and_can_come_back(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        first = _device_login(h)
        admin_made = h.user("alice")
        minted = h.ok("POST", "/tokens", first["access_token"], json={"expires": "7d"})
        assert _web_session(h).status_code == 200
        assert h.client.get("/stations").status_code == 200
        pending = h.client.post("/oauth/device/code", data={"client_id": "lz"}).json()
        h.hub.write(accounts.set_disabled, "alice", True, h.clock())
        for token in (first["access_token"], admin_made, minted["token"]):
            assert h.call("GET", "/whoami", token).status_code == 401
        assert _refresh(h, first["refresh_token"]).json()["error"] == "invalid_grant"
        assert h.client.get("/stations", follow_redirects=False).status_code == 303  # the session ended
        assert _web_session(h).status_code == 401  # sign-in refused
        assert h.hub.read(login.check_password, "alice", PASSWORD) is None
        uid = h.hub.read(accounts.user_id, "alice")
        try:
            h.hub.write(login.decide, pending["user_code"], uid, True, h.clock())
            raise AssertionError("a disabled user approved a login")
        except Exception as exc:
            assert "disabled" in str(exc)
        h.hub.write(accounts.set_disabled, "alice", False, h.clock())
        assert _web_session(h).status_code == 200
        assert h.call("GET", "/whoami", admin_made).status_code == 401  # what ended stays ended
        assert h.ok("GET", "/whoami", _device_login(h)["access_token"])["user"] == "alice"


def test_a_password_change_ends_the_other_sign_ins(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        first = _device_login(h)
        minted = h.ok("POST", "/tokens", first["access_token"], json={"expires": "7d"})
        admin_made = h.user("alice")
        assert _web_session(h).status_code == 200
        h.hub.write(login.set_password, "alice", "battery staple")
        for token in (first["access_token"], minted["token"]):
            assert h.call("GET", "/whoami", token).status_code == 401
        assert _refresh(h, first["refresh_token"]).json()["error"] == "invalid_grant"
        assert h.client.get("/stations", follow_redirects=False).status_code == 303
        assert h.ok("GET", "/whoami", admin_made)["user"] == "alice"  # made on the hub host: stays
