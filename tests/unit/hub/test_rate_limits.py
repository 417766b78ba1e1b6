"""Issue 21 (8): rate limits, sign-in lockout, login CSRF and the per-process bounds (password
checks, long polls), on a real SQLite hub with a test clock. Refusals are 429 (503 for a busy
process) with Retry-After; counters live in the database, so two hub processes share them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lz.hub.server.domain import accounts, login, rate_limits
from tests.unit.hub_helpers import HubApp, hub_app, login_csrf, sign_in

PASSWORD = "correct horse"


def _alice(h: HubApp) -> None:
    h.user("alice")
    h.hub.write(login.set_password, "alice", PASSWORD)


def _retry_after(response: Any) -> int:
    assert response.status_code in (429, 503), (response.status_code, response.text)
    return int(response.headers["Retry-After"])


def test_failed_passwords_lock_the_users_password_sign_in_and_each_lock_is_longer(tmp_path: Path) -> None:
    """Before: any number of guesses, each a 64 MiB argon2id check. Now: ``login_failures`` wrong
    passwords lock the user (the right password too is refused, without a check) for
    ``login_lock_s``; the next lock lasts twice as long; a sign-in forgets the failures."""
    with hub_app(tmp_path, login_failures=3, login_lock_s=900, login_per_address=1000) as h:
        _alice(h)
        browser = TestClient(h.client.app, follow_redirects=False)
        for _ in range(3):
            assert sign_in(browser, "alice", "wrong guess").status_code == 401
        locked = sign_in(browser, "alice", PASSWORD)
        assert _retry_after(locked) == 900 and "locked for 15 min" in locked.text
        h.clock.advance(899)
        assert sign_in(browser, "alice", PASSWORD).status_code == 429
        h.clock.advance(2)
        for _ in range(3):
            assert sign_in(browser, "alice", "wrong guess").status_code == 401
        assert _retry_after(sign_in(browser, "alice", PASSWORD)) == 1800  # the second lock: twice as long
        h.clock.advance(1801)
        assert sign_in(browser, "alice", PASSWORD).status_code == 200
        assert h.hub.read(rate_limits.locked, "login-user:alice", h.clock()) == 0.0


def test_unknown_users_lock_the_same_way(tmp_path: Path) -> None:
    """Whether a name exists shows nowhere: guessing an unknown name locks it just the same."""
    with hub_app(tmp_path, login_failures=2, login_per_address=1000) as h:
        for _ in range(2):
            assert sign_in(h.client, "nobody", "guess one").status_code == 401
        assert sign_in(h.client, "nobody", "guess two").status_code == 429


def test_sign_ins_per_address_are_limited(tmp_path: Path) -> None:
    with hub_app(tmp_path, login_per_address=2, rate_window_s=60) as h:
        _alice(h)
        for _ in range(2):
            assert sign_in(h.client, "alice", "wrong").status_code == 401
        refused = sign_in(h.client, "alice", PASSWORD)
        assert 1 <= _retry_after(refused) <= 60 and "too many sign-in requests" in refused.text
        h.clock.advance(61)
        assert sign_in(h.client, "alice", PASSWORD).status_code == 200


def test_a_sign_in_form_without_its_token_is_forbidden(tmp_path: Path) -> None:
    """Login CSRF: another site's form posting the attacker's name and password is refused (403,
    one line): it can neither read the ``lz_login`` cookie nor set it."""
    with hub_app(tmp_path) as h:
        _alice(h)
        form = h.client.get("/login")
        cookie = next(c for c in form.headers.get_list("set-cookie") if c.startswith("lz_login="))
        assert "HttpOnly" in cookie and "Path=/login" in cookie and "samesite=strict" in cookie.lower()
        token = login_csrf(form.text)
        forged = TestClient(h.client.app)  # no cookie: a cross-site post
        for client, fields in ((forged, {"csrf": token}), (h.client, {}), (h.client, {"csrf": "x" * 32})):
            refused = client.post("/login", data={"name": "alice", "password": PASSWORD, **fields})
            assert refused.status_code == 403 and "stale sign-in form" in refused.text
            assert "lz_session" not in refused.headers.get("set-cookie", "")
        ok = h.client.post("/login", data={"name": "alice", "password": PASSWORD, "csrf": token})
        assert ok.status_code == 200 and "lz_session=" in ok.headers["set-cookie"]


def test_password_checks_at_once_are_bounded_per_process(tmp_path: Path) -> None:
    """Sixteen guessers took a hub to 1 GiB (64 MiB per argon2id check). Past ``password_checks``
    at once, a sign-in is refused at once (503, Retry-After), before any check."""
    with hub_app(tmp_path, password_checks=2) as h:
        _alice(h)
        with h.hub.password_checks.held(), h.hub.password_checks.held():
            busy = sign_in(h.client, "alice", PASSWORD)
            assert _retry_after(busy) == 1 and busy.status_code == 503 and "busy" in busy.text
        assert sign_in(h.client, "alice", PASSWORD).status_code == 200


def test_token_and_device_code_endpoints_are_rate_limited(tmp_path: Path) -> None:
    with hub_app(tmp_path, token_per_address=3, device_per_address=2, rate_window_s=60) as h:
        for _ in range(2):
            assert h.client.post("/oauth/device/code", data={"client_id": "lz"}).status_code == 200
        refused = h.client.post("/oauth/device/code", data={"client_id": "lz"})
        assert 1 <= _retry_after(refused) <= 60
        assert refused.json()["error"] == "slow_down" and "device login" in refused.json()["detail"]
        for _ in range(3):
            assert h.client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                       "refresh_token": "lzr_x"}).status_code == 400
        refused = h.client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "lzr_x"})
        assert _retry_after(refused) >= 1 and refused.json()["error"] == "slow_down"
        h.clock.advance(61)
        assert h.client.post("/oauth/token", data={"grant_type": "refresh_token",
                                                   "refresh_token": "lzr_x"}).status_code == 400


def test_user_code_lookups_on_activate_are_limited(tmp_path: Path) -> None:
    """Guessing user codes on /activate: a few lookups per window per address and per user."""
    with hub_app(tmp_path, activate_per_address=3) as h:
        _alice(h)
        assert sign_in(h.client, "alice", PASSWORD).status_code == 200
        for code in ("BCDF-GHJK", "BCDF-GHJL", "BCDF-GHJM"):
            assert h.client.get("/activate", params={"user_code": code}).status_code == 404
        refused = h.client.get("/activate", params={"user_code": "BCDF-GHJN"})
        assert _retry_after(refused) >= 1 and "too many code lookup requests" in refused.text
        assert h.client.get("/activate").status_code == 200  # the page itself is no lookup


def test_counters_are_shared_by_two_hub_processes(tmp_path: Path) -> None:
    """Two hubs on one database (behind a load balancer): the limit counts both."""
    with hub_app(tmp_path, device_per_address=3) as one:
        config = one.hub.config
        from lz.hub.server.app import create_app

        with TestClient(create_app(config, migrate=False)) as two:
            answers = [c.post("/oauth/device/code", data={"client_id": "lz"}).status_code
                       for c in (one.client, two, one.client, two)]
        assert answers == [200, 200, 200, 429]


def test_a_wall_clock_step_neither_locks_forever_nor_keeps_a_window_open(tmp_path: Path) -> None:
    """Windows and locks keep their start: a start in the future (the clock stepped back a year)
    counts from now, so the lock still ends ``lock_s`` later and the window ``window_s`` later."""
    with hub_app(tmp_path) as h:
        rule = rate_limits.Lockout(failures=1, window_s=60, lock_s=900)
        assert h.hub.write(rate_limits.failed, "k", h.clock(), rule) == 900
        h.clock.step(-365 * 86400)
        assert 0 < h.hub.write(rate_limits.locked, "k", h.clock()) <= 900
        h.clock.advance(901)
        assert h.hub.write(rate_limits.locked, "k", h.clock()) == 0.0
        window = rate_limits.Rule(limit=1, window_s=60)
        assert h.hub.write(rate_limits.hit, "w", h.clock(), window) == 0.0
        h.clock.step(-365 * 86400)
        assert 0 < h.hub.write(rate_limits.hit, "w", h.clock(), window) <= 60
        h.clock.advance(61)
        assert h.hub.write(rate_limits.hit, "w", h.clock(), window) == 0.0


def test_housekeeping_purges_idle_counters(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        h.hub.write(rate_limits.hit, "old", h.clock(), rate_limits.Rule(5, 60))
        h.clock.advance(rate_limits.KEEP_S + 1)
        h.hub.write(rate_limits.hit, "new", h.clock(), rate_limits.Rule(5, 60))  # a new row purges on write
        rows = h.hub.read(lambda conn: [r.key for r in conn.execute(rate_limits.limits_t.select())])
        assert rows == ["new"]
        h.clock.advance(rate_limits.KEEP_S + 1)
        assert h.hub.housekeeping()["rate-limits"] == 1


def test_long_polls_at_once_per_zone_and_per_token_are_capped(tmp_path: Path) -> None:
    """Unlimited concurrent long polls per token held a connection each. Past ``polls_per_zone``
    at once for one landing zone, or ``polls_per_token`` for all of a token's zones (per process),
    a claim is 429 with Retry-After; other zones and tokens go on."""
    with hub_app(tmp_path, polls_per_zone=2, polls_per_token=3) as h:
        token = h.user("alice")
        h.station_with_zone(token)
        for name in ("lz2", "lz3"):
            h.ok("POST", "/lz/register", token, json={"name": name})
        key = f"token:{h.hub.read(accounts.authenticate, token, h.clock()).token_id}"
        with h.hub.zone_polls.held(f"{key}/lz1"), h.hub.zone_polls.held(f"{key}/lz1"):
            refused = h.call("POST", "/lz/claim", token, json={"name": "lz1", "wait_s": 0})
            assert _retry_after(refused) == 5 and refused.status_code == 429
            assert "long-poll claims at once per landing zone" in refused.json()["detail"]
            assert h.call("POST", "/lz/claim", token, json={"name": "lz2", "wait_s": 0}).status_code == 200
        with h.hub.polls.held(key), h.hub.polls.held(key), h.hub.polls.held(key):
            refused = h.call("POST", "/lz/claim", token, json={"name": "lz3", "wait_s": 0})
            assert "per token" in refused.json()["detail"] and refused.status_code == 429
            other = h.user("bob")  # another token is not held back
            h.ok("POST", "/lz/register", other, json={"name": "lz4"})
            assert h.call("POST", "/lz/claim", other, json={"name": "lz4", "wait_s": 0}).status_code == 200
        assert h.call("POST", "/lz/claim", token, json={"name": "lz1", "wait_s": 0}).status_code == 200
        assert h.hub.polls.holding(key) == 0 and h.hub.zone_polls.holding(f"{key}/lz1") == 0


def _racing_hits(hubs: list[Any], now: float, threads: int = 8, each: int = 5) -> int:
    """``threads`` at once, spread over ``hubs``, each counting ``each`` events of one fresh key
    (limit 20): how many were allowed. No update may be lost and no insert may fail."""
    from concurrent.futures import ThreadPoolExecutor

    rule = rate_limits.Rule(limit=20, window_s=60)

    def _run(i: int) -> int:
        hub = hubs[i % len(hubs)]
        return sum(hub.write(rate_limits.hit, "race", now, rule) == 0.0 for _ in range(each))

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(_run, range(threads)))


def test_racing_processes_count_every_event_on_sqlite(tmp_path: Path) -> None:
    with hub_app(tmp_path) as one:
        from lz.hub.server.hub import Hub

        assert _racing_hits([one.hub, Hub(one.hub.config)], one.clock()) == 20


@pytest.mark.postgres
def test_rate_limits_migrate_and_count_every_event_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """hub0009_rate_limits runs on PostgreSQL; two hubs racing to create and count one key (the
    insert race, then row locks) allow exactly the limit; the sign-in lockout works there."""
    from lz.hub.server.app import create_app
    from lz.hub.server.config import HubConfig
    from lz.hub.server.hub import Hub
    from tests.clock import Clock
    from tests.unit.hub_helpers import HUB_EPOCH

    clock = Clock(HUB_EPOCH)
    config = HubConfig(db_url=postgres_url, files_dir=tmp_path / "files", clock=clock, login_failures=2)
    with TestClient(create_app(config)) as client:
        h = HubApp(client, clock)
        assert _racing_hits([h.hub, Hub(config)], clock()) == 20
        _alice(h)
        for _ in range(2):
            assert sign_in(client, "alice", "wrong").status_code == 401
        assert _retry_after(sign_in(client, "alice", PASSWORD)) == 900


@pytest.mark.parametrize(("host", "counted_as"), [
    ("192.0.2.7", "192.0.2.7"), ("::ffff:192.0.2.7", "192.0.2.7"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"), ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
    ("testclient", "testclient")])
def test_an_ipv6_client_counts_by_its_64(host: str, counted_as: str) -> None:
    """One host usually holds a whole IPv6 /64: counting single addresses would count nothing."""
    from starlette.requests import Request

    from lz.hub.server.limits import address

    assert address(Request({"type": "http", "client": (host, 1234), "headers": []})) == counted_as
