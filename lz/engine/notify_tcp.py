"""The TCP channel (``notify_tcp = "HOST:PORT"``): the original's ``$LZ_NOTIFY=host:port``, for
jobs on nodes that cannot reach the daemon's FIFO (a FIFO is one host's, even on a shared file
system).

The protocol is plain text lines, as the original's, with one line added in front: a connection
sends the job's token (``$LZ_NOTIFY_TOKEN``) as its first line, then one message a line::

    { echo "$LZ_NOTIFY_TOKEN"; echo "half way there"; } | nc "${LZ_NOTIFY%:*}" "${LZ_NOTIFY##*:}"

A token is the job's id and an HMAC of it under the landing zone's key (``lz.core.notifications``):
a job cannot post as another, and a token is good only while its job runs. A wrong token is
answered with one line and the connection closed; a right one is answered with nothing. The lines
go through the same limits as the FIFO's (4 KiB, the job's rate limit: the reader admits them with
the job's one bucket). Hostile input is bounded: at most ``max_connections`` at once (a new one
pushes out the oldest that has not said its token yet), ``per_job`` of one job, the token within
``token_s``, an idle connection closed after ``idle_s`` and any after ``life_s`` (slowloris), at
most ``max_bytes`` read from one (a line longer than 4 KiB keeps its start only), and at most
``pending`` lines a job between two ticks (the rest counted as dropped).

One thread runs a selector over the listening socket and the connections; the tick takes what
arrived (``take``) and says which jobs may talk (``allow``).
"""

from __future__ import annotations

import logging
import os
import secrets
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lz.core.notifications import MAX_BYTES, MAX_TOKEN_BYTES, Lines, job_of_token

log = logging.getLogger(__name__)
KEY_FILE = "notify.key"
REFUSED = b"lz-notify: not the token of a job running on this landing zone\n"
BUSY = b"lz-notify: too many connections of this job\n"


@dataclass(frozen=True)
class TcpLimits:
    max_connections: int = 64
    per_job: int = 4
    token_s: float = 5.0
    idle_s: float = 30.0
    life_s: float = 300.0
    max_bytes: int = 1 << 20
    pending: int = 100


def load_key(state_dir: Path) -> bytes:
    """The landing zone's key for job tokens, made (0600) on first use and kept, so tokens of
    running jobs outlive a daemon restart."""
    path = state_dir / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        from lz.host.secret_file import read_secret

        text = read_secret(path, "notification key", "it is made on the first start").strip()
        return bytes.fromhex(text)
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key.hex() + "\n")
    return key


def advertised(bound: tuple[str, int], host: str) -> str:
    """What ``$LZ_NOTIFY`` says: the configured host, or this host's name when bound to all."""
    shown = socket.getfqdn() if host in ("", "0.0.0.0", "::") else host
    return f"[{shown}]:{bound[1]}" if ":" in shown else f"{shown}:{bound[1]}"


@dataclass
class _Conn:
    sock: socket.socket
    opened: float
    last: float
    job_id: str | None = None
    head: bytearray = field(default_factory=bytearray)  # the token line so far
    lines: Lines = field(default_factory=lambda: Lines(MAX_BYTES))
    received: int = 0


class TcpListener:
    """Listens on ``host:port``; ``address`` is what jobs are told."""

    def __init__(self, host: str, port: int, key: bytes, limits: TcpLimits = TcpLimits(),
                 clock: Callable[[], float] = time.monotonic):
        self.key = key
        self.limits = limits
        self.clock = clock
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._server = socket.create_server((host, port), family=family, backlog=128)
        self._server.setblocking(False)
        self.address = advertised(self._server.getsockname()[:2], host)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._server, selectors.EVENT_READ)
        self._conns: dict[int, _Conn] = {}
        self._lock = threading.Lock()
        self._allowed: frozenset[str] = frozenset()
        self._pending: dict[str, list[bytes]] = {}
        self._dropped: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lz-notify-tcp", daemon=True)

    # -- the tick's side ----------------------------------------------------------------------------
    def start(self) -> TcpListener:
        self._thread.start()
        return self

    def allow(self, job_ids: Iterable[str]) -> None:
        """The jobs whose tokens are good now (their connections are closed once they are not)."""
        with self._lock:
            self._allowed = frozenset(job_ids)

    def take(self) -> dict[str, tuple[list[bytes], int]]:
        """Lines that arrived since the last call, and how many were dropped, by job."""
        with self._lock:
            out = {j: (lines, self._dropped.pop(j, 0)) for j, lines in self._pending.items()}
            out.update({j: ([], n) for j, n in self._dropped.items()})
            self._pending, self._dropped = {}, {}
        return out

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        for conn in list(self._conns.values()):
            self._drop(conn)
        self._selector.close()
        self._server.close()

    @property
    def connections(self) -> int:
        return len(self._conns)

    # -- the listener's thread ----------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for key, _ in self._selector.select(timeout=0.2):
                    if key.fileobj is self._server:
                        self._accept()
                    else:
                        conn = self._conns.get(key.fd)
                        if conn is not None:
                            self._read(conn)
                self._sweep()
            except Exception:  # noqa: BLE001 - one bad connection must not end the channel
                log.exception("notification listener")

    def _accept(self) -> None:
        for _ in range(64):
            try:
                sock, _peer = self._server.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors: the backlog waits
                log.warning("notification listener: %s", exc.strerror)
                return
            if len(self._conns) >= self.limits.max_connections and not self._make_room():
                sock.close()
                continue
            sock.setblocking(False)
            now = self.clock()
            self._conns[sock.fileno()] = _Conn(sock, now, now)
            self._selector.register(sock, selectors.EVENT_READ)

    def _make_room(self) -> bool:
        """Close the oldest connection that has not said its token; False when all have."""
        waiting = [c for c in self._conns.values() if c.job_id is None]
        if not waiting:
            return False
        self._drop(min(waiting, key=lambda c: c.opened))
        return True

    def _read(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._finish(conn)
            return
        conn.last = self.clock()
        conn.received += len(data)
        if conn.job_id is None:
            data = self._token(conn, data)
            if conn.job_id is None:
                return
        self._push(conn.job_id, conn.lines.feed(data))
        if conn.received > self.limits.max_bytes:
            self._finish(conn)

    def _token(self, conn: _Conn, data: bytes) -> bytes:
        """Reads the token line; what follows it is returned (the connection closed when wrong)."""
        conn.head += data
        cut = conn.head.find(b"\n")
        if cut < 0:
            if len(conn.head) > MAX_TOKEN_BYTES:
                self._refuse(conn, REFUSED)
            return b""
        token, rest = bytes(conn.head[:cut]), bytes(conn.head[cut + 1:])
        conn.head.clear()
        job_id = job_of_token(self.key, token)
        with self._lock:
            allowed = job_id is not None and job_id in self._allowed
        if not allowed or job_id is None:
            self._refuse(conn, REFUSED)
            return b""
        if sum(1 for c in self._conns.values() if c.job_id == job_id) >= self.limits.per_job:
            self._refuse(conn, BUSY)
            return b""
        conn.job_id = job_id
        return rest

    def _push(self, job_id: str, lines: list[bytes]) -> None:
        if not lines:
            return
        with self._lock:
            queue = self._pending.setdefault(job_id, [])
            room = max(0, self.limits.pending - len(queue))
            queue.extend(lines[:room])
            if len(lines) > room:
                self._dropped[job_id] = self._dropped.get(job_id, 0) + len(lines) - room

    def _sweep(self) -> None:
        now = self.clock()
        with self._lock:
            allowed = self._allowed
        for conn in list(self._conns.values()):
            if conn.job_id is None:
                if now - conn.opened > self.limits.token_s:
                    self._drop(conn)
            elif conn.job_id not in allowed or now - conn.last > self.limits.idle_s \
                    or now - conn.opened > self.limits.life_s:
                self._finish(conn)

    def _finish(self, conn: _Conn) -> None:
        """The writer is done (or is made to be): its last line counts without its newline."""
        if conn.job_id is not None:
            self._push(conn.job_id, conn.lines.flush())
        self._drop(conn)

    def _refuse(self, conn: _Conn, why: bytes) -> None:
        try:
            conn.sock.send(why)
        except OSError:
            pass
        self._drop(conn)

    def _drop(self, conn: _Conn) -> None:
        fd = conn.sock.fileno()
        if self._conns.pop(fd, None) is not None:
            try:
                self._selector.unregister(conn.sock)
            except (KeyError, ValueError):
                pass
        conn.sock.close()
