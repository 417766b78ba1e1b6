"""Issue 21 (8): the clients honour a hub's 429 and its Retry-After (bounded), against a tiny HTTP
server on loopback: the landing zone's and the CLI's HubClient, and the device-code login."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lz.hub.agent import login_client
from lz.hub.agent.client import HubClient, HubRefused


@contextmanager
def serving(answers: list[tuple[int, dict[str, str], dict[str, Any]]]) -> Iterator[tuple[str, list[str]]]:
    """A server that gives ``answers`` in turn (status, headers, JSON body), the last one forever;
    yields its URL and the paths asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            asked.append(self.path)
            status, headers, body = answers[min(len(asked), len(answers)) - 1]
            data = json.dumps(body).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


LIMITED = (429, {"Retry-After": "7"}, {"detail": "too many token requests from your address: try again in 7 s"})


def test_the_hub_client_waits_what_retry_after_says_then_retries() -> None:
    slept: list[float] = []
    with serving([LIMITED, (200, {}, {"ok": True})]) as (url, asked):
        client = HubClient(url, "lzh_x", sleep=slept.append)
        assert client.get("/api/v1/whoami") == {"ok": True}
    assert slept == [7.0] and len(asked) == 2


def test_a_retry_after_beyond_the_bound_is_the_one_line_error_at_once() -> None:
    slept: list[float] = []
    with serving([(429, {"Retry-After": "900"}, {"detail": "password sign-in is locked for 15 min"})]) as (url, asked):
        client = HubClient(url, "lzh_x", sleep=slept.append, max_wait_s=60)
        with pytest.raises(HubRefused) as refused:
            client.get("/api/v1/whoami")
    assert (refused.value.status, str(refused.value)) == (429, "password sign-in is locked for 15 min")
    assert slept == [] and len(asked) == 1


def test_a_hub_that_keeps_refusing_ends_in_the_refusal_after_the_retries() -> None:
    slept: list[float] = []
    with serving([LIMITED]) as (url, asked):
        client = HubClient(url, "lzh_x", sleep=slept.append, retries=2)
        with pytest.raises(HubRefused, match="try again in 7 s"):
            client.post("/api/v1/lz/claim", {"name": "lz1"})
    assert slept == [7.0, 7.0] and len(asked) == 3


def test_device_login_polling_waits_the_retry_after_of_a_429() -> None:
    start = {"device_code": "d", "user_code": "BCDF-GHJK", "verification_uri": "x/activate", "interval": 5,
             "expires_in": 600}
    tokens = {"access_token": "lzh_a", "refresh_token": "lzr_b", "expires_in": 3600, "token_type": "Bearer"}
    limited = (429, {"Retry-After": "11"}, {"error": "slow_down", "error_description": "too many", "detail": "x"})
    slept: list[float] = []
    with serving([(200, {}, start), limited, (200, {}, tokens)]) as (url, asked):
        meta = {"auth": {"kind": "embedded", "domain": url.split("://")[1], "scheme": "http", "client_id": "lz"}}
        answer = login_client.device_flow(meta, url, io.StringIO(), sleep=slept.append)
    assert answer["access_token"] == "lzh_a"
    assert slept == [5.0, 11.0, 5.0] and asked == ["/oauth/device/code", "/oauth/token", "/oauth/token"]
