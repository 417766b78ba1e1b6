"""Limits before work (issue 21, item 1): a body over its route's cap is refused before it is read,
a chunked one is cut at the cap, and an /api/v1 request without a token is refused before its
body is read."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lz.hub.server.body_limit import JSON_BYTES, BodyLimit, Caps
from lz.hub.server.forms import MAX_FORM_BYTES
from tests.unit.hub_helpers import HubApp, hub_app

CAPS = Caps(upload_bytes=10_000, results_bytes=20_000, live_log_bytes=5_000)


def _run(path: str, headers: dict[str, str], chunks: list[bytes], method: str = "POST") -> tuple[int, int, bool]:
    """(status, body chunks the app read, whether the app ran) for one request through the layer."""
    read = 0
    ran = False
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal read, ran
        ran = True
        while True:
            message = await receive()
            read += 1
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path,
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(BodyLimit(app, CAPS)(scope, receive, send))
    return sent[0]["status"], read, ran


def test_a_declared_length_over_the_cap_is_refused_before_the_app_runs() -> None:
    huge = str(400 << 20)
    assert _run("/login", {"content-length": huge, "content-type": "application/x-www-form-urlencoded"},
                [b""]) == (413, 0, False)
    assert _run("/oauth/token", {"content-length": huge}, [b""]) == (413, 0, False)
    assert _run("/api/v1/stations", {"content-length": huge, "authorization": "Bearer x"}, [b""]) == (413, 0, False)
    assert _run("/api/v1/stations/s/jobs", {"content-length": "10001", "authorization": "Bearer x"},
                [b""]) == (413, 0, False)
    assert _run("/api/v1/stations", {"content-length": "nope", "authorization": "Bearer x"}, [b""])[0] == 413


def test_each_route_has_its_cap() -> None:
    assert CAPS.for_request("POST", "/api/v1/stations/s1/jobs", "application/gzip") == 10_000
    assert CAPS.for_request("POST", "/jobs/upload", "application/gzip") == 10_000
    assert CAPS.for_request("PUT", "/api/v1/lz/jobs/ab12/results", "application/x-tar") == 20_000
    assert CAPS.for_request("POST", "/api/v1/lz/jobs/ab12/logs/stdout", "") == 5_000
    assert CAPS.for_request("POST", "/login", "application/x-www-form-urlencoded") == MAX_FORM_BYTES
    assert CAPS.for_request("POST", "/api/v1/lz/heartbeat", "application/json") == JSON_BYTES


def test_a_chunked_body_is_cut_at_the_cap() -> None:
    status, read, ran = _run("/api/v1/lz/heartbeat", {"authorization": "Bearer x"}, [b"x" * 600_000] * 4)
    assert ran and status == 413 and read == 1  # the second chunk crossed 1 MiB: the app never got it


def test_an_api_request_without_a_token_is_refused_before_its_body_is_read() -> None:
    assert _run("/api/v1/stations/s/jobs", {"content-length": "9000"}, [b"x" * 9000]) == (401, 0, False)
    assert _run("/api/v1/meta", {}, [b""], method="GET") == (200, 1, True)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path) as a:
        yield a


def test_the_hub_answers_413_and_keeps_serving(app: HubApp) -> None:
    alice = app.user("alice")
    big = app.client.post("/api/v1/stations", content=b"{" + b" " * (JSON_BYTES + 10) + b"}",
                          headers={"content-type": "application/json", **app.auth(alice)})
    assert big.status_code == 413 and "larger than" in big.json()["detail"]
    form = app.client.post("/login", content=b"a=" + b"b" * (MAX_FORM_BYTES + 1),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 413
    assert app.ok("POST", "/stations", alice, json={"name": "fine"})["name"] == "fine"


def _timed(path: str, headers: dict[str, str], gaps: list[float], caps: Caps, after_s: float = 0.0) -> tuple[int, float]:
    """(status, seconds) for a body whose chunks arrive ``gaps`` apart; the app then listens on
    ``receive`` for ``after_s`` more (as a streamed answer does for the client going away)."""
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if after_s:
            await asyncio.wait_for(receive(), after_s + 5)
        await send({"type": "http.response.body", "body": b"ok"})

    chunks = iter([*gaps, None])
    ended = False

    async def receive() -> dict[str, Any]:
        nonlocal ended
        if ended:
            await asyncio.sleep(after_s)
            return {"type": "http.disconnect"}
        gap = next(chunks)
        if gap is None:
            ended = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(gap)
        return {"type": "http.request", "body": b"a", "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path,
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    began = time.monotonic()
    asyncio.run(BodyLimit(app, caps)(scope, receive, send))
    return sent[0]["status"], time.monotonic() - began


def test_a_trickled_body_is_refused_with_408_when_its_time_is_up() -> None:
    """Issue 21: a client trickling a body held its connection as long as it liked. A form or JSON
    body has ``body_s`` to arrive whole (a byte every 0.1 s never gets there), and no body may
    pause longer than ``idle_s``; uploads may take long, but never stall."""
    caps = Caps(upload_bytes=10_000, results_bytes=20_000, live_log_bytes=5_000, body_s=0.5, idle_s=0.3)
    form = {"content-type": "application/x-www-form-urlencoded"}
    status, took = _timed("/login", form, [0.1] * 100, caps)
    assert status == 408 and 0.4 < took < 2, (status, took)
    upload = {"authorization": "Bearer x", "content-type": "application/gzip"}
    status, took = _timed("/api/v1/stations/s/jobs", upload, [0.1] * 12 + [1.0], caps)
    assert status == 408 and 1.3 < took < 3, (status, took)  # 1.2 s of steady chunks is fine; a stall is not


def test_once_a_body_is_whole_receive_is_the_apps_own_however_long() -> None:
    caps = Caps(upload_bytes=10_000, results_bytes=20_000, live_log_bytes=5_000, body_s=0.5, idle_s=0.2)
    status, took = _timed("/api/v1/jobs/abc/logs/stdout", {"authorization": "Bearer x"}, [], caps, after_s=0.6)
    assert status == 200 and took >= 0.6


def test_a_client_that_hangs_up_mid_body_is_no_error_and_no_log(caplog: pytest.LogCaptureFixture) -> None:
    """149 'Exception in ASGI application' tracebacks in the security suite's hub log: each slow
    client that hung up made one (about 60 lines each: anyone could fill the log)."""
    from starlette.requests import ClientDisconnect

    sent: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        raise ClientDisconnect()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"name=", "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/login",
             "headers": [(b"content-type", b"application/x-www-form-urlencoded")]}
    asyncio.run(BodyLimit(app, CAPS)(scope, receive, send))
    assert sent == []


def _drained(headers: dict[str, str], chunks: list[bytes]) -> tuple[int, int]:
    """(status, chunks taken off the socket before the answer went out) for a refused request."""
    taken: list[int] = []
    queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        taken.append(len(sent))
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass

    scope = {"type": "http", "method": "POST", "path": "/api/v1/stations",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(BodyLimit(app, CAPS)(scope, receive, send))
    return sent[0]["status"], sum(1 for before in taken if before == 0)


def test_a_modest_refused_body_is_read_to_its_end_before_the_answer() -> None:
    """So a proxy still sending it gets the hub's 413, not a reset it turns into 502."""
    body = [b"x" * (1 << 20)] * 3
    auth = {"authorization": "Bearer x"}
    assert _drained({**auth, "content-length": str(3 << 20)}, body) == (413, 3)
    assert _drained({"content-length": str(3 << 20)}, body) == (401, 3)
    assert _drained(auth, body) == (413, 3)  # chunked: cut at the cap, the rest dropped
    assert _drained({**auth, "content-length": str(400 << 20)}, body) == (413, 0)  # too big to wait for
    assert _drained({**auth, "content-length": str(3 << 20), "expect": "100-continue"}, body) == (413, 0)
