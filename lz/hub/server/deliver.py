"""Sending queued notifications: e-mails through the hub's SMTP server and signed webhooks.

A webhook is a POST of the delivery's JSON with ``X-LZ-Signature: sha256=<hex>``, the
HMAC-SHA256 of the exact body under the subscription's secret (GitHub's scheme), and
``X-LZ-Delivery``, the delivery's id: at least once means a receiver may see one twice, and
that id tells it so. Any answer but 2xx, or none within ``webhook_timeout_s`` (the whole
exchange, however slowly the receiver trickles), is a failure, tried again later
(``domain.notifications.failed``). Redirects are not followed (a 3xx is a failure), the answer's
body is never read, and the request goes to the address ``webhook_target`` checked (SSRF; the name
is resolved before the clock starts, within the resolver's own timeouts). The loop runs beside the
reaper, on the hub's event loop, each pass in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import json
import logging
import smtplib
import socket
import threading
import urllib.request
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool

from lz.hub.server import webhook_target
from lz.hub.server.config import SmtpConfig
from lz.hub.server.domain import notifications
from lz.hub.server.domain.notifications import Due
from lz.hub.server.errors import Invalid

if TYPE_CHECKING:
    from lz.hub.server.hub import Hub

log = logging.getLogger("lz.hub")
SIGNATURE_HEADER = "X-LZ-Signature"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does (and the tests): compare in constant time."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


def webhook_request(due: Due) -> urllib.request.Request:
    """The request a webhook delivery makes (pure: tests look at it)."""
    body = json.dumps({**due.payload, "delivery": due.id}, sort_keys=True).encode("utf-8")
    return urllib.request.Request(due.target, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "lz-hub", "X-LZ-Event": due.kind,
        "X-LZ-Delivery": str(due.id), SIGNATURE_HEADER: sign(due.secret or "", body)})


def email_message(due: Due, sender: str) -> EmailMessage:
    job = due.payload.get("job", {})
    what = "ended" if due.kind == "job_end" else "says"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = due.target
    subject = f"[lz] job {job.get('name', '?')} ({job.get('id', '?')}) {what}: {due.payload.get('text', '')}"
    message["Subject"] = " ".join(subject.split())[:200]
    message["X-LZ-Delivery"] = str(due.id)
    message.set_content(f"{due.payload.get('text', '')}\n\nStation {job.get('station', '?')}, job {job.get('id', '?')}"
                        f" ({job.get('name', '?')}), {job.get('outcome') or job.get('state') or ''}\n")
    return message


def send_webhook(due: Due, timeout_s: float, allow_private: bool = False,
                 resolve: webhook_target.Resolver = webhook_target.system_resolver) -> None:
    """POST to the checked address (the URL's host in Host and TLS's SNI); OSError when it failed."""
    request = webhook_request(due)
    host, port = webhook_target.host_port(due.target)
    address = webhook_target.pinned(due.target, allow_private, resolve)
    connection = _connection(request.type, host, port, address, timeout_s)
    late = threading.Event()
    cutoff = threading.Timer(timeout_s, _cut, [connection, late])  # the whole exchange, not each read
    cutoff.daemon = True
    cutoff.start()
    try:
        connection.request("POST", request.selector, body=request.data,  # type: ignore[arg-type]
                           headers=dict(request.header_items()))
        status = connection.getresponse().status
    except (http.client.HTTPException, ValueError, OSError) as exc:
        if late.is_set():
            raise OSError(f"no whole answer within {timeout_s:g} s") from None
        raise OSError(f"{type(exc).__name__}: {exc}") from None
    finally:
        cutoff.cancel()
        connection.close()
    if late.is_set():
        raise OSError(f"no whole answer within {timeout_s:g} s")
    if not 200 <= status < 300:
        raise OSError(f"answered {status}" + (" (redirects are not followed)" if 300 <= status < 400 else ""))


def _cut(connection: http.client.HTTPConnection, late: threading.Event) -> None:
    """Wakes a read blocked on a receiver that answers too slowly (a shutdown does; a close may not)."""
    late.set()
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _connection(scheme: str, host: str, port: int, address: str, timeout_s: float) -> http.client.HTTPConnection:
    """A connection to ``host:port`` whose socket goes to ``address``, whatever ``host`` resolves
    to by then."""
    connection: http.client.HTTPConnection
    if scheme == "https":
        connection = http.client.HTTPSConnection(host, port, timeout=timeout_s)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout_s)

    def _to_checked(_: tuple[str, int], timeout: float | None = None,
                    source_address: tuple[str, int] | None = None) -> socket.socket:
        return socket.create_connection((address, port), timeout, source_address)

    connection._create_connection = _to_checked  # type: ignore[attr-defined]
    return connection


def send_email(due: Due, smtp: SmtpConfig) -> None:
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as server:
        if smtp.starttls:
            server.starttls()
        password = smtp.password()
        if smtp.username and password is not None:
            server.login(smtp.username, password)
        server.send_message(email_message(due, smtp.sender))


def deliver_once(hub: Hub) -> dict[str, int]:
    """One pass: queue job ends, then send what is due; counts sent and failed."""
    hub.write(notifications.queue_job_ends, hub.now())
    counts = {"sent": 0, "failed": 0}
    for due in hub.write(notifications.take_due, hub.now()):
        try:
            _send(hub, due)
        except (OSError, smtplib.SMTPException, ValueError, Invalid) as exc:
            counts["failed"] += 1
            error = f"{type(exc).__name__}: {exc}"
            log.warning("notification %s (%s to %s) not delivered: %s", due.id, due.channel, due.target, error)
            hub.write(notifications.failed, due.id, hub.now(), error, hub.config.deliver_tries)
        else:
            counts["sent"] += 1
            hub.write(notifications.delivered, due.id, hub.now())
    return counts


def _send(hub: Hub, due: Due) -> None:
    if due.channel == "webhook":
        send_webhook(due, hub.config.webhook_timeout_s, hub.config.webhook_allow_private)
    elif due.channel == "email":
        if hub.config.smtp is None:
            raise ValueError("this hub has no [smtp] server configured")
        send_email(due, hub.config.smtp)
    else:
        raise ValueError(f"unknown channel {due.channel!r}")


async def run(hub: Hub) -> Any:
    """The delivery loop (one task per hub process), every ``deliver_s``."""
    while True:
        await asyncio.sleep(hub.config.deliver_s)
        try:
            await run_in_threadpool(deliver_once, hub)
        except Exception:  # noqa: BLE001 - the database away for a moment: the next pass
            log.exception("notification delivery failed")
