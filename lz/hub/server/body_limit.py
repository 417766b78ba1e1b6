"""Limits before work: every request body is capped before any of it is read.

An ASGI layer in front of every route: a declared ``Content-Length`` over the route's cap is
refused with 413 at once, a body without one (chunked) is counted as it arrives and cut at the
cap, and an ``/api/v1`` request that carries no bearer token is refused with 401 before its body is
read. Uploads (bundles, results, live logs) have the hub's upload limits; forms 16 KiB; every
other body (JSON) 1 MiB. So no request, authenticated or not, can make the hub hold more than its
cap in memory, whatever the route does with the body afterwards.

Time is capped too: a form or JSON body must arrive whole within ``body_s`` of the request, and
no body (uploads included) may pause longer than ``idle_s``; otherwise 408. A client trickling
a body a byte at a time holds its socket for that long at most, never a worker (bodies are read
before a handler thread is taken). Once a body is whole, ``receive`` is the app's own again (a
streamed answer listens on it for the client going away, however long it streams).

A refused body of modest size (up to ``DRAIN_BYTES``) is read and thrown away, for at most
``DRAIN_S`` (and while it keeps flowing), before the refusal goes out, as nginx's lingering close does: closing a socket with
unread bytes in it resets the connection, and a proxy still sending the body would then lose the
hub's 413 and answer 502 of its own. Nothing is kept, so this costs time, not memory; a larger
body, or one whose client waits for ``100 Continue``, is refused at once.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect

from lz.hub.server.forms import MAX_FORM_BYTES

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_BYTES = 1 << 20
DRAIN_BYTES = 16 << 20  # a refused body up to this size is read to its end (see the docstring)
DRAIN_S = 2.0
DRAIN_IDLE_S = 0.25  # a refused body that stops flowing is not waited for
_LATE_S = 0.05  # past its deadline, a body is still taken chunk by chunk if it is already here
_OPEN_API = ("/api/v1/meta",)  # the only /api/v1 routes that take no token


@dataclass(frozen=True)
class Caps:
    """The upload limits of one hub (from its settings)."""

    upload_bytes: int
    results_bytes: int
    live_log_bytes: int
    body_s: float = 30.0  # the most a form or JSON body may take to arrive
    idle_s: float = 120.0  # the longest pause inside any body

    def is_upload(self, method: str, path: str) -> bool:
        return (method == "POST" and (_BUNDLE.match(path) is not None or path == "/jobs/upload"
                                      or _LOG.match(path) is not None)) or \
            (method == "PUT" and _RESULTS.match(path) is not None)

    def for_request(self, method: str, path: str, content_type: str) -> int:
        """The most body bytes this request may send."""
        if method == "POST" and (_BUNDLE.match(path) or path == "/jobs/upload"):
            return self.upload_bytes
        if method == "PUT" and _RESULTS.match(path):
            return self.results_bytes
        if method == "POST" and _LOG.match(path):
            return self.live_log_bytes
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            return MAX_FORM_BYTES
        return JSON_BYTES


_BUNDLE = re.compile(r"^/api/v1/stations/[^/]+/jobs$")
_RESULTS = re.compile(r"^/api/v1/lz/jobs/[^/]+/results$")
_LOG = re.compile(r"^/api/v1/lz/jobs/[^/]+/logs/[^/]+$")


class BodyRefused(Exception):
    """The body was refused while it was being read (the answer went out already)."""


class BodyTooLarge(BodyRefused):
    """The body went past its cap while it was being read."""


class BodyTooSlow(BodyRefused):
    """The body did not arrive in time."""


class BodyLimit:
    """The ASGI middleware (see the module's docstring)."""

    def __init__(self, app: ASGIApp, caps: Caps):
        self.app = app
        self.caps = caps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path, method = scope.get("path", ""), scope.get("method", "GET")
        if path.startswith("/api/v1/") and path not in _OPEN_API and \
                not headers.get("authorization", "").lower().startswith("bearer "):
            await _drain(receive, headers, 0)
            await _answer(send, 401, "a hub token is required (Authorization: Bearer …)",
                          {"www-authenticate": "Bearer"})
            return
        cap = self.caps.for_request(method, path, headers.get("content-type", ""))
        declared = headers.get("content-length", "")
        if declared and (not declared.isdigit() or int(declared) > cap):
            await _drain(receive, headers, 0)
            await _answer(send, 413, f"request body is larger than {cap} bytes" if declared.isdigit()
                          else "Content-Length is not a number")
            return
        seen = 0
        started = answered = whole = False
        deadline = None if self.caps.is_upload(method, path) else time.monotonic() + self.caps.body_s

        async def refuse(status: int, detail: str) -> None:
            nonlocal answered
            if not started and not answered:  # answer now: the app may turn the error into a 400
                answered = True
                await _answer(send, status, detail)

        async def counted_receive() -> Message:
            nonlocal seen, whole
            if whole:
                return await receive()
            wait = self.caps.idle_s if deadline is None else min(self.caps.idle_s, deadline - time.monotonic())
            try:
                message = await asyncio.wait_for(receive(), max(wait, _LATE_S))
            except TimeoutError:
                await refuse(408, "the request body did not arrive in time")
                raise BodyTooSlow() from None
            whole = message["type"] != "http.request" or not message.get("more_body", False)
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    if not whole:
                        whole = await _drain(receive, headers, seen)
                    await refuse(413, f"request body is larger than {cap} bytes")
                    raise BodyTooLarge(cap)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if answered:
                return  # the 413 went out; whatever the app says after it is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyRefused:
            pass
        except ClientDisconnect:
            if started:
                raise
            # the client went away before an answer (a trickler giving up, a cut upload): nobody
            # to answer, and nothing to log (a traceback per hang-up would let anyone fill the log)  # answered above, or the response had started: the connection closes
        except Exception:
            if not answered:
                raise


async def _drain(receive: Receive, headers: dict[str, str], seen: int) -> bool:
    """Read and drop the rest of a refused body when it is small (see the module's docstring);
    True when its end was reached."""
    declared = headers.get("content-length", "")
    if "100-continue" in headers.get("expect", "").lower() or \
            (declared and (not declared.isdigit() or int(declared) > DRAIN_BYTES)):
        return False
    deadline = time.monotonic() + DRAIN_S
    while seen <= DRAIN_BYTES:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            message = await asyncio.wait_for(receive(), min(left, DRAIN_IDLE_S))
        except TimeoutError:
            return False
        if message["type"] != "http.request":
            return True
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
    return False


async def _answer(send: Send, status: int, detail: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close"), *((k.encode(), v.encode()) for k, v in (extra or {}).items())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
