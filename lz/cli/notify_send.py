"""``lz-notify TEXT...``: one notification from inside a job to its owner, through ``$LZ_NOTIFY``
(the same as ``echo TEXT > $LZ_NOTIFY``, but it never waits: a channel nobody reads, or one
that is full, is an error at once). Where ``$LZ_NOTIFY`` is ``host:port`` (the landing zone's
``notify_tcp``), it sends ``$LZ_NOTIFY_TOKEN``'s line, then the message's, over TCP."""

from __future__ import annotations

import errno
import os
import socket
import stat
import sys
from collections.abc import Mapping, Sequence

from lz.core.notifications import MAX_BYTES, TOKEN_ENV


def line_of(words: Sequence[str]) -> bytes:
    """One line of at most ``MAX_BYTES`` bytes and its newline (a single write to a pipe of up to
    PIPE_BUF bytes is never interleaved with another writer's)."""
    text = " ".join(words).replace("\r", " ").replace("\n", " ")
    data = text.encode("utf-8", "replace")
    if len(data) > MAX_BYTES:
        data = data[:MAX_BYTES - 1]
    return data + b"\n"


def tcp_address(value: str) -> tuple[str, int] | None:
    """``host:port`` or ``[v6]:port`` of ``$LZ_NOTIFY``, or None where it is a path."""
    if value.startswith("/") or ":" not in value:
        return None
    host, _, port = value.rpartition(":")
    if not port.isascii() or not port.isdigit() or not host:
        return None
    return host.removeprefix("[").removesuffix("]"), int(port)


def send_tcp(address: tuple[str, int], token: str, line: bytes, timeout_s: float = 10.0) -> str | None:
    """None once the landing zone took it, else why not (it answers only a refusal)."""
    try:
        with socket.create_connection(address, timeout=timeout_s) as conn:
            conn.sendall(token.encode("ascii", "replace") + b"\n" + line)
            conn.shutdown(socket.SHUT_WR)
            said = conn.recv(512)
    except OSError as exc:
        return f"the landing zone at {address[0]}:{address[1]} did not take it: {exc.strerror or exc}"
    return said.decode("utf-8", "replace").strip().removeprefix("lz-notify: ") or None


def send(words: Sequence[str], environ: Mapping[str, str] = os.environ) -> str | None:
    """None once sent, else why not."""
    path = environ.get("LZ_NOTIFY")
    if not path:
        return "$LZ_NOTIFY is not set: this is not an lz job"
    address = tcp_address(path)
    if address is not None:
        token = environ.get(TOKEN_ENV)
        if not token:
            return f"$LZ_NOTIFY is an address but ${TOKEN_ENV} is not set"
        return send_tcp(address, token, line_of(words))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            return "the landing zone is not reading this job's channel (its daemon is down, or the job runs on another node)"
        return f"{path}: {exc.strerror}"
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return f"{path} is not a notification channel"
        os.write(fd, line_of(words))
    except BlockingIOError:
        return "the channel is full (too many notifications); this one was dropped"
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    finally:
        os.close(fd)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or words[0] in ("-h", "--help"):
        print(__doc__.split("\n\n")[0] if __doc__ else "", file=sys.stderr)
        return 2
    problem = send(words)
    if problem:
        print(f"lz-notify: {problem}", file=sys.stderr)
        return 1
    if len(line_of(words)) > MAX_BYTES:
        print(f"lz-notify: cut to {MAX_BYTES} bytes", file=sys.stderr)
    return 0
