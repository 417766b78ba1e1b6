"""Webhooks and SSRF: URLs that resolve to loopback, link-local (metadata), private or reserved
addresses are refused when subscribed and again when delivered (to the address checked, so DNS
rebinding changes nothing); redirects are not followed and a slow receiver costs at most the
timeout. Real HTTP servers on 127.0.0.1, so the hub's setting that allows them is on where needed."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from lz.hub.server import deliver, webhook_target
from lz.hub.server.app import create_app
from lz.hub.server.config import HubConfig
from lz.hub.server.domain.notifications import Due
from lz.hub.server.errors import Invalid
from tests.clock import Clock
from tests.notify_receivers import webhook_server
from tests.unit.hub_helpers import HUB_EPOCH, HubApp, hub_app


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "169.254.169.254", "fe80::1%eth0", "10.1.2.3",
                                     "172.16.0.1", "192.168.1.1", "100.64.0.1", "100.100.100.200", "0.0.0.0", "::",
                                     "224.0.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "fd00:ec2::254",
                                     "198.18.0.1", "240.0.0.1"])
def test_addresses_only_the_hub_reaches_are_refused(address: str) -> None:
    assert webhook_target.refused(address), address


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
def test_global_addresses_are_allowed(address: str) -> None:
    assert webhook_target.refused(address) is None


def test_a_name_with_one_bad_address_is_refused_whole() -> None:
    two = {"mixed.example": ["8.8.8.8", "10.0.0.5"], "good.example": ["8.8.4.4"]}
    with pytest.raises(Invalid, match="resolves to 10.0.0.5, a private or reserved address"):
        webhook_target.pinned("https://mixed.example/x", False, lambda h, p: two[h])
    assert webhook_target.pinned("https://good.example:8443/x", False, lambda h, p: two[h]) == "8.8.4.4"
    webhook_target.check("https://nowhere.invalid/x", False, _unresolvable)  # checked again at delivery


def _unresolvable(host: str, port: int) -> list[str]:
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path, deliver_s=3600) as a:
        yield a


def test_subscribing_a_webhook_to_loopback_or_metadata_is_refused_in_one_line(app: HubApp) -> None:
    alice = app.user("alice")
    app.ok("POST", "/stations", alice, json={"name": "s1"})
    for url in ("http://127.0.0.1:9/hook", "http://localhost/x", "http://[::1]/x", "http://169.254.169.254/latest/",
                "http://2130706433/x", "http://[::ffff:127.0.0.1]/x", "http://10.0.0.1/x"):
        refused = app.call("POST", "/stations/s1/notifications", alice, json={"channel": "webhook", "target": url})
        assert refused.status_code == 422, url
        assert "not allowed on this hub" in refused.text and "\n" not in refused.json()["detail"], refused.text
    assert app.ok("GET", "/stations/s1/notifications", alice) == []


def test_a_hub_that_allows_private_targets_takes_them(tmp_path: Path) -> None:
    with hub_app(tmp_path, deliver_s=3600, webhook_allow_private=True) as app:
        alice = app.user("alice")
        app.ok("POST", "/stations", alice, json={"name": "s1"})
        made = app.call("POST", "/stations/s1/notifications", alice,
                        json={"channel": "webhook", "target": "http://127.0.0.1:9/hook"})
        assert made.status_code == 201, made.text


def _due(url: str) -> Due:
    return Due(3, "webhook", url, "k", "notification", {"text": "hello"}, 0)


def test_delivery_checks_again_and_connects_to_the_address_it_checked() -> None:
    with webhook_server() as hooks:
        port = int(hooks.url.split(":")[2].split("/")[0])
        # the name now resolves to loopback (rebinding after the subscription): refused
        with pytest.raises(Invalid, match="loopback"):
            deliver.send_webhook(_due(f"http://hooks.example:{port}/hook"), 5, False, lambda h, p: ["127.0.0.1"])
        assert hooks.received == []
        # where allowed, the request goes to the checked address, the name kept in Host
        deliver.send_webhook(_due(f"http://hooks.example:{port}/hook"), 5, True, lambda h, p: ["127.0.0.1"])
        [(headers, body)] = hooks.received
        assert headers["host"] == f"hooks.example:{port}"
        assert deliver.signature_ok("k", body, headers["x-lz-signature"])


@contextmanager
def _raw_server(answer: bytes, trickle_s: float = 0.0) -> Iterator[tuple[str, list[bytes]]]:
    """A TCP server that reads a request and sends ``answer``, a byte every ``trickle_s`` if set."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)  # so the thread sees ``stop`` soon
    seen: list[bytes] = []
    stop = threading.Event()

    def _serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            with conn:
                seen.append(conn.recv(65536))
                try:
                    if trickle_s:
                        for i in range(len(answer)):
                            if stop.wait(trickle_s):
                                return
                            conn.sendall(answer[i:i + 1])
                    else:
                        conn.sendall(answer)
                except OSError:
                    pass

    thread = threading.Thread(target=_serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook", seen
    finally:
        stop.set()
        server.close()
        thread.join(5)


def test_a_redirect_is_a_failure_and_not_followed() -> None:
    with webhook_server() as elsewhere:
        answer = f"HTTP/1.1 307 Temporary Redirect\r\nLocation: {elsewhere.url}\r\nContent-Length: 0\r\n\r\n".encode()
        with _raw_server(answer) as (url, seen):
            with pytest.raises(OSError, match="redirects are not followed"):
                deliver.send_webhook(_due(url), 5, True)
            assert len(seen) == 1
        assert elsewhere.received == []


def test_a_receiver_that_trickles_its_answer_costs_at_most_the_timeout() -> None:
    endless = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10_000 + b"\r\n\r\n"
    with _raw_server(endless, trickle_s=0.05) as (url, _):
        started = time.monotonic()
        with pytest.raises(OSError):
            deliver.send_webhook(_due(url), 1.0, True)
        assert time.monotonic() - started < 3.0


def test_a_hub_that_stops_allowing_private_targets_refuses_to_deliver_there(tmp_path: Path) -> None:
    """Checked again at delivery: a subscription stored while allowed is not sent once not."""
    with webhook_server() as hooks:
        with hub_app(tmp_path, deliver_s=3600, webhook_allow_private=True) as app:
            alice = app.user("alice")
            app.station_with_zone(alice)
            job_id = str(app.submit(alice).json()["id"])
            app.claim(alice)
            app.ok("POST", "/stations/s1/notifications", alice, json={"channel": "webhook", "target": hooks.url})
            app.ok("POST", f"/lz/jobs/{job_id}/notifications", alice, json={
                "name": "lz1", "attempt": 1, "notifications": [{"seq": 1, "at": 1.5e9, "text": "hi"}]})
        strict = create_app(HubConfig(db_url=f"sqlite:///{tmp_path / 'hub' / 'hub.db'}",
                                      files_dir=tmp_path / "hub" / "files", clock=Clock(HUB_EPOCH), deliver_s=3600),
                            migrate=False)
        with TestClient(strict):
            assert deliver.deliver_once(strict.state.hub) == {"sent": 0, "failed": 1}
        assert hooks.received == []
        with strict.state.hub.engine.connect() as conn:
            error = conn.execute(text("select last_error from notification_deliveries")).scalar_one()
        assert "resolves to 127.0.0.1, a loopback address: not allowed on this hub" in error
