"""The hub's side of interactive ports (issue 26) in process, on a real SQLite hub: who may open a
job's port (404 outside the Station, 403 without the ``ports`` flag, 404 for a port the job does
not declare, 409 unless it runs), the 504 when no tunnel comes, and a whole HTTP request relayed
through a tunnel that this test opens as the landing zone's agent would (long poll, WebSocket)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lz.hub.protocol.ports import NOT_HERE, PortLimits
from tests.unit.hub_helpers import HubApp, hub_app, job_tarball

PORTED = job_tarball(files={"lz.toml": b'command = ["python3", "serve.py"]\nports = [8888]\n'})


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path, ports=PortLimits(connect_s=1.0, idle_s=5.0)) as a:
        yield a


def _running_job(app: HubApp, alice: str) -> str:
    app.station_with_zone(alice)
    job_id = str(app.submit(alice, body=PORTED).json()["id"])
    assert [j["id"] for j in app.claim(alice)] == [job_id]
    steps = [("received", "building"), ("building", "queued"), ("queued", "running")]
    app.ok("POST", f"/lz/jobs/{job_id}/events", alice, json={"name": "lz1", "attempt": 1, "events": [
        {"seq": i + 1, "from_state": a, "to_state": b, "event": "e", "at": 1.0} for i, (a, b) in enumerate(steps)]})
    return job_id


def _get(app: HubApp, token: str | None, path: str, cookie: str = "") -> Any:
    headers = {**(app.auth(token) if token else {}), **({"Cookie": cookie} if cookie else {})}
    return app.client.get(path, headers=headers, follow_redirects=False)


def test_who_may_open_a_port_and_when(app: HubApp) -> None:
    alice, bob, carol = app.user("alice"), app.user("bob"), app.user("carol")
    app.station_with_zone(alice)
    waiting = app.submit(alice, body=PORTED).json()["id"]
    app.ok("POST", "/stations/s1/invitations", alice, json={"user": "carol", "role": "launcher"})
    app.ok("POST", "/invitations/s1/accept", carol)
    url = f"/jobs/{waiting}/port/8888/"
    assert _get(app, bob, url).status_code == 404  # not a member: no such job
    assert _get(app, carol, url).status_code == 404  # a launcher sees no one else's job
    dave = app.user("dave")
    app.ok("POST", "/stations/s1/invitations", alice, json={"user": "dave", "role": "contributor"})
    app.ok("POST", "/invitations/s1/accept", dave)
    shut = _get(app, dave, url)  # others_jobs and ports, but this hub shares no one's ports
    assert shut.status_code == 403 and "submitted it only" in shut.text
    app.ok("PUT", "/stations/s1/roles/runner", alice, json={"flags": ["launch"]})
    app.ok("PUT", "/stations/s1/members/carol", alice, json={"role": "runner"})
    own = app.submit(carol, body=PORTED).json()["id"]
    refused = _get(app, carol, f"/jobs/{own}/port/8888/")  # her own job, but no ``ports``
    assert refused.status_code == 403 and "ports" in refused.text
    assert _get(app, alice, f"/jobs/{waiting}/port/9999/").status_code == 404  # not declared
    assert _get(app, alice, url).status_code == 409  # not running (yet)
    assert _get(app, None, url).status_code == 303  # nobody: off to sign in
    assert _get(app, alice, f"/jobs/{waiting}/port/8888").headers["location"] == url


def test_no_tunnel_from_the_landing_zone_is_a_504(app: HubApp) -> None:
    alice = app.user("alice")
    job_id = _running_job(app, alice)
    answer = _get(app, alice, f"/jobs/{job_id}/port/8888/")
    assert answer.status_code == 504 and "opened no tunnel" in answer.text
    assert app.hub.tunnels.open_by_job == {}  # nothing left behind


def test_an_http_request_through_a_tunnel_the_agent_opens(app: HubApp) -> None:
    alice = app.user("alice")
    job_id = _running_job(app, alice)
    answers: list[Any] = []
    user = threading.Thread(target=lambda: answers.append(_get(app, alice, f"/jobs/{job_id}/port/8888/a/b?x=1",
                                                               cookie="lz_session=not-for-the-job")))
    user.start()
    wanted = app.ok("POST", "/lz/tunnels/wait", alice, json={"name": "lz1", "wait_s": 5})["tunnels"]
    assert [(w["job_id"], w["attempt"], w["port"]) for w in wanted] == [(job_id, 1, 8888)]
    with app.client.websocket_connect(f"/api/v1/lz/tunnels/{'x' * 32}?name=lz1", headers=app.auth(alice)) as other:
        assert other.receive()["code"] == NOT_HERE  # not a tunnel this process waits for
    with app.client.websocket_connect(f"/api/v1/lz/tunnels/{wanted[0]['id']}?name=lz1",
                                      headers=app.auth(alice)) as tunnel:
        request = tunnel.receive_bytes()
        head = request.split(b"\r\n\r\n")[0].decode().lower()
        assert head.startswith("get /a/b?x=1 http/1.1\r\n")
        assert "x-forwarded-prefix: /jobs/" in head and "connection: close" in head
        assert "lz_session" not in head and "authorization" not in head
        tunnel.send_bytes(b"HTTP/1.1 302 Found\r\nLocation: /tree\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
                          b"Content-Length: 5\r\n\r\nhel")
        tunnel.send_bytes(b"lo")
        user.join(10)
    [answer] = answers
    assert answer.status_code == 302 and answer.text == "hello"
    assert answer.headers["location"] == f"/jobs/{job_id}/port/8888/tree"
    assert answer.headers.get_list("set-cookie") == ["a=1", "b=2"]  # each of them
    assert app.hub.tunnels.open_by_job == {}


def test_a_tunnel_of_another_zone_or_without_a_token_is_refused(app: HubApp) -> None:
    from starlette.websockets import WebSocketDisconnect

    alice, bob = app.user("alice"), app.user("bob")
    app.ok("POST", "/lz/register", bob, json={"name": "lzb", "cpus": 1})
    for headers in ({}, app.auth(alice)):  # no token; alice's, but she holds no zone lzb
        with pytest.raises(WebSocketDisconnect), \
                app.client.websocket_connect(f"/api/v1/lz/tunnels/{'x' * 32}?name=lzb", headers=headers) as ws:
            ws.receive()


class _Socket:
    """What the hub's side of a tunnel uses of the agent's starlette WebSocket."""

    def __init__(self) -> None:
        import asyncio

        self.sent: list[bytes] = []
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()


def test_tunnels_pair_with_their_agent_close_when_idle_and_are_capped_per_job() -> None:
    import asyncio

    from lz.hub.server.domain.ports import Target
    from lz.hub.server.errors import TooMany
    from lz.hub.server.tunnels import Tunnels

    async def scenario() -> None:
        tunnels = Tunnels(PortLimits(idle_s=0.2, per_job=1, connect_s=1.0, bytes_per_s=0))
        target = Target("ab12", 1, lz_id=7, port=8888)
        socket = _Socket()

        async def agent() -> None:
            [wanted] = await tunnels.asked(7, 1.0)
            assert tunnels.arrived(wanted.id, 8, socket) is None  # another zone's
            done = tunnels.arrived(wanted.id, 7, socket)
            assert done is not None and tunnels.arrived(wanted.id, 7, socket) is None  # once
            await socket.inbox.put({"type": "websocket.receive", "bytes": b"answer"})

        helper = asyncio.ensure_future(agent())
        async with tunnels.opened(target) as channel:
            with pytest.raises(TooMany):
                async with tunnels.opened(target):
                    pass
            await channel.send(b"question")
            assert await channel.receive() == b"answer"
            assert await channel.receive() is None  # nothing either way for idle_s: closed
            assert channel.closed and socket.sent == [b"question"]
        await helper
        assert tunnels.open_by_job == {} and await tunnels.asked(7, 0.01) == []

    asyncio.run(scenario())


def test_a_tunnel_wanted_on_one_hub_process_is_handed_out_by_another(app: HubApp, tmp_path: Path) -> None:
    """Two hub processes on one database: the user's request reached the first, the agent's long
    poll the second (which hears of it from the database); the tunnel's WebSocket must reach the
    first: the second closes it with NOT_HERE, and the agent tries again."""
    from fastapi.testclient import TestClient

    from lz.hub.server.app import create_app
    from lz.hub.server.config import HubConfig

    alice = app.user("alice")
    job_id = _running_job(app, alice)
    other = create_app(HubConfig(db_url=app.hub.config.db_url, files_dir=tmp_path / "hub" / "files",
                                 clock=app.clock, ports=PortLimits(recheck_s=0.05)), migrate=False)
    with TestClient(other) as second:
        answers: list[Any] = []
        user = threading.Thread(target=lambda: answers.append(_get(app, alice, f"/jobs/{job_id}/port/8888/")))
        user.start()
        polled = second.post("/api/v1/lz/tunnels/wait", headers=app.auth(alice), json={"name": "lz1", "wait_s": 5})
        [wanted] = polled.json()["tunnels"]
        assert wanted["job_id"] == job_id
        tunnel_path = f"/api/v1/lz/tunnels/{wanted['id']}?name=lz1"
        with second.websocket_connect(tunnel_path, headers=app.auth(alice)) as wrong:
            assert wrong.receive()["code"] == NOT_HERE
        with app.client.websocket_connect(tunnel_path, headers=app.auth(alice)) as tunnel:
            assert tunnel.receive_bytes().startswith(b"GET / HTTP/1.1\r\n")
            tunnel.send_bytes(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            user.join(10)
        assert second.post("/api/v1/lz/tunnels/wait", headers=app.auth(alice),
                           json={"name": "lz1", "wait_s": 0.2}).json() == {"tunnels": []}  # handed out once
    [answer] = answers
    assert (answer.status_code, answer.text) == (200, "ok")
    assert app.hub.read(lambda conn: conn.exec_driver_sql("select count(*) from hub_port_tunnels").scalar()) == 0


def test_a_websocket_through_a_tunnel_the_agent_opens(app: HubApp) -> None:
    """The browser's WebSocket to the port: the hub shakes hands with the job over the tunnel (here
    wsproto plays the job's server at the agent's end) and relays messages both ways."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, CloseConnection, Message, Request, TextMessage

    alice = app.user("alice")
    job_id = _running_job(app, alice)
    got: list[str] = []

    def browser() -> None:
        with app.client.websocket_connect(f"/jobs/{job_id}/port/8888/echo?x=1", headers=app.auth(alice)) as ws:
            ws.send_text("hello")
            got.append(ws.receive_text())

    user = threading.Thread(target=browser)
    user.start()
    [wanted] = app.ok("POST", "/lz/tunnels/wait", alice, json={"name": "lz1", "wait_s": 5})["tunnels"]
    job = WSConnection(ConnectionType.SERVER)
    with app.client.websocket_connect(f"/api/v1/lz/tunnels/{wanted['id']}?name=lz1",
                                      headers=app.auth(alice)) as tunnel:
        while not got:
            job.receive_data(tunnel.receive_bytes())
            for event in job.events():
                if isinstance(event, Request):
                    assert event.target == "/echo?x=1"
                    tunnel.send_bytes(job.send(AcceptConnection()))
                elif isinstance(event, TextMessage):
                    tunnel.send_bytes(job.send(Message(data="echo: " + event.data)))
                    user.join(10)
                elif isinstance(event, CloseConnection):
                    break
    assert got == ["echo: hello"]
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as refused, app.client.websocket_connect(  # another site's page
            f"/jobs/{job_id}/port/8888/echo", headers={**app.auth(alice), "Origin": "https://evil.example"}) as ws:
        ws.receive_text()
    assert refused.value.code == 4403
