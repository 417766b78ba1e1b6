"""A user's HTTP request or WebSocket at ``/jobs/ID/port/N/…``, relayed through one tunnel to the
job's port (issue 26).

HTTP: the request is written to the tunnel as HTTP/1.1 bytes (h11) with only the path prefix
taken off, ``Connection: close``, and the hub's own credentials (its session cookie, a bearer
token) removed; the job's answer is read back with h11 and streamed to the user. WebSocket: the
hub shakes hands with the job over the tunnel (wsproto) and relays messages both ways. Pure
pieces (the forwarded head, the rewritten answer headers) are tested alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import h11
from fastapi import Request, WebSocket
from fastapi.responses import Response, StreamingResponse

from lz.hub.protocol.ports import EOF_FRAME
from lz.hub.server.errors import BadGateway, TooLarge
from lz.hub.server.tunnels import Channel

HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"expect", b"proxy-authenticate", b"proxy-authorization", b"te",
                        b"trailer", b"transfer-encoding", b"upgrade", b"content-length", b"authorization"})
HUB_COOKIES = ("lz_session", "lz_login", "lz_pkce")  # lz.hub.server.web.session, auth0_login


def prefix_of(job_id: str, port: int) -> str:
    return f"/jobs/{job_id}/port/{port}"


def forwarded_target(raw_path: bytes, prefix: str, query: bytes) -> bytes:
    """What follows the prefix in the address as it was sent (still percent-encoded: ``%2F``
    stays itself), ``/`` at least, with the query."""
    start = prefix.encode()
    rest = raw_path[len(start):] if raw_path.startswith(start) else b"/"
    return b"/" + rest.lstrip(b"/") + (b"?" + query if query else b"")


def _target(scope: Mapping[str, Any], prefix: str) -> bytes:
    raw = scope.get("raw_path") or scope["path"].encode("utf-8")
    return forwarded_target(raw, prefix, scope.get("query_string") or b"")


def without_hub_cookies(value: bytes, names: Iterable[str] = HUB_COOKIES) -> bytes:
    """A Cookie header less the hub's own cookies: a job never sees its user's hub session."""
    kept = [part.strip() for part in value.split(b";")
            if part.strip() and part.strip().split(b"=", 1)[0].decode("latin-1") not in set(names)]
    return b"; ".join(kept)


def forwarded_headers(raw: Iterable[tuple[bytes, bytes]], prefix: str, body_size: int,
                      client: str | None, scheme: str) -> list[tuple[bytes, bytes]]:
    """The request's headers for the job: hop-by-hop and credentials out, the prefix and the
    client in ``X-Forwarded-*`` (so an app may build its own absolute links), one request only."""
    out: list[tuple[bytes, bytes]] = []
    for name, value in raw:
        lower = name.lower()
        if lower in HOP_BY_HOP or lower.startswith(b"x-forwarded-") or lower.startswith(b"sec-websocket-"):
            continue
        if lower == b"cookie":
            value = without_hub_cookies(value)
            if not value:
                continue
        out.append((lower, value))
    out += [(b"x-forwarded-prefix", prefix.encode()), (b"x-forwarded-proto", scheme.encode()),
            (b"connection", b"close")]
    if client:
        out.append((b"x-forwarded-for", client.encode()))
    if body_size:
        out.append((b"content-length", str(body_size).encode()))
    return out


def same_origin(origin: str | None, host: str | None) -> bool:
    """A browser's WebSocket from a page of this hub (or no browser at all: no Origin). A page
    elsewhere gets no session cookie (SameSite=Strict), so this is a second lock on that door."""
    if origin is None:
        return True
    from urllib.parse import urlsplit

    return bool(host) and urlsplit(origin).netloc.lower() == (host or "").lower()


def answer_headers(raw: Iterable[tuple[bytes, bytes]], prefix: str) -> list[tuple[str, str]]:
    """The job's answer headers for the user: hop-by-hop out (the hub frames the body itself), and
    a redirect to a path of the job's site kept under the prefix."""
    out = []
    for name, value in raw:
        lower = name.lower()
        if lower in HOP_BY_HOP and lower != b"content-length":
            continue
        text = value.decode("latin-1")
        if lower == b"location" and text.startswith("/") and not text.startswith("//"):
            text = prefix + text
        out.append((lower.decode("latin-1"), text))
    return out


async def http(request: Request, channel: Channel, prefix: str, max_body: int,
               done: Callable[[], Awaitable[None]]) -> Response:
    """Relay one HTTP request; the channel stays open until the answer's body is streamed, then
    ``done`` (idempotent: it also runs as the response's background task, for a body never read)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_body:
            raise TooLarge(f"a request through a port is at most {max_body} bytes")
    conn = h11.Connection(h11.CLIENT)
    headers = forwarded_headers(request.headers.raw, prefix, len(body),
                                request.client.host if request.client else None, request.url.scheme)
    if not any(name == b"host" for name, _ in headers):
        headers.insert(0, (b"host", b"localhost"))
    data = conn.send(h11.Request(method=request.method, target=_target(request.scope, prefix),
                                 headers=headers))
    if body:
        data += conn.send(h11.Data(data=body))
    data += conn.send(h11.EndOfMessage())
    await channel.send(data)
    head = await _next(conn, channel)
    while isinstance(head, h11.InformationalResponse):  # 100 Continue and the like: the hub sent the body whole
        head = await _next(conn, channel)
    if not isinstance(head, h11.Response):
        raise BadGateway("the job's port closed the connection without an answer")

    async def _body() -> AsyncIterator[bytes]:
        try:
            while True:
                event = await _next(conn, channel)
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                else:
                    return
        finally:
            await done()

    from starlette.background import BackgroundTask

    response = StreamingResponse(_body(), status_code=head.status_code, background=BackgroundTask(done))
    response.raw_headers.extend((name.encode("latin-1"), value.encode("latin-1"))  # repeated ones too (Set-Cookie)
                                for name, value in answer_headers(head.headers, prefix))
    return response


async def _next(conn: h11.Connection, channel: Channel) -> object:
    """The next h11 event of the job's answer (``ConnectionClosed`` when the tunnel ended)."""
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise BadGateway(f"the job's port answered something that is not HTTP: {exc}") from None
        if event is not h11.NEED_DATA:
            return event
        data = await channel.receive()
        conn.receive_data(data or b"")


async def websocket(browser: WebSocket, channel: Channel, prefix: str) -> None:
    """Shake hands with the job's WebSocket over the tunnel, accept the browser's with the same
    subprotocol, then relay messages until either side closes (or the tunnel ends)."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import (
        AcceptConnection,
        BytesMessage,
        CloseConnection,
        Message,
        Ping,
        RejectConnection,
        TextMessage,
    )
    from wsproto.events import Request as WsRequest

    job = WSConnection(ConnectionType.CLIENT)
    raw = [(n, v) for n, v in browser.headers.raw if n.lower() in (b"cookie", b"origin", b"user-agent")]
    extra = [(n, without_hub_cookies(v) if n.lower() == b"cookie" else v) for n, v in raw]
    protocols = [p.strip() for p in browser.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    await channel.send(job.send(WsRequest(host=browser.headers.get("host", "localhost"),
                                          target=_target(browser.scope, prefix).decode("latin-1"),
                                          subprotocols=protocols, extra_headers=[(n, v) for n, v in extra if v])))
    accepted: AcceptConnection | None = None
    while accepted is None:
        data = await channel.receive()
        if data is None:
            await browser.close(code=1011)
            return
        job.receive_data(data)
        for event in job.events():
            if isinstance(event, AcceptConnection):
                accepted = event
            elif isinstance(event, RejectConnection):
                await browser.close(code=1011)
                return
    await browser.accept(subprotocol=accepted.subprotocol)

    async def _to_job() -> None:
        while True:
            message = await browser.receive()
            if message["type"] == "websocket.disconnect":
                await channel.send(job.send(CloseConnection(code=1000)))
                return
            if message.get("bytes") is not None:
                await channel.send(job.send(Message(data=message["bytes"])))
            elif message.get("text") is not None:
                await channel.send(job.send(Message(data=message["text"])))

    async def _to_browser() -> None:
        parts: list[str | bytes] = []  # a message may come in fragments
        while True:
            data = await channel.receive()
            if data is None:
                return
            job.receive_data(data)
            for event in job.events():
                if isinstance(event, TextMessage | BytesMessage):
                    parts.append(event.data if isinstance(event.data, str) else bytes(event.data))
                    if not event.message_finished:
                        continue
                    if isinstance(event, TextMessage):
                        await browser.send_text("".join(str(p) for p in parts))
                    else:
                        await browser.send_bytes(b"".join(bytes(p) for p in parts if isinstance(p, bytes | bytearray)))
                    parts = []
                elif isinstance(event, Ping):
                    await channel.send(job.send(event.response()))
                elif isinstance(event, CloseConnection):
                    return

    tasks = [asyncio.ensure_future(_to_job()), asyncio.ensure_future(_to_browser())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await channel.send(EOF_FRAME)
        try:
            await browser.close(code=1000)
        except Exception:  # the browser already went away
            pass
