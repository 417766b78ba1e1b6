"""The landing zone's side of interactive ports (issue 26): it long-polls the hub for the
connections users want to the ports of its running jobs, checks each against its own records,
connects to the job's node and port, and opens one WebSocket to the hub that carries that TCP
connection byte for byte. Nothing on the cluster listens for the hub: every connection is
outbound.

No open relay: a tunnel goes only to a port the job declared (``ports`` in its ``lz.toml``, as
this zone's own intake read it), of a job this zone holds under that attempt, while it runs,
on the node it runs on (127.0.0.1 for the local executor and pilots; the batch host from squeue
for Slurm). Its tunnels close when the job's process ends (``close_job`` from the agent's
transition listener)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from lz.core.errors import LzError
from lz.core.job import Job
from lz.core.machine import State
from lz.hub.agent import outbox
from lz.hub.agent.client import HubClient, HubRefused, HubUnavailable
from lz.hub.protocol.ports import EOF_FRAME, NOT_HERE, TunnelRequest, TunnelsOut
from lz.store.jobs import JobStore

log = logging.getLogger("lz.hub.agent.ports")
WAIT_S = 25.0
TRIES = 8  # WebSockets tried for one tunnel when it lands on another hub process (NOT_HERE)
MAX_OPEN = 256  # tunnels at once, all jobs together: more wanted by the hub are refused
LOOPBACK = "127.0.0.1"


class Refused(LzError):
    """A tunnel this zone will not open (one line, logged)."""


@dataclass(frozen=True)
class Endpoint:
    local_job_id: str
    host: str
    port: int


def websocket_url(hub_url: str, tunnel_id: str, zone: str) -> str:
    """``http(s)://hub/`` as ``ws(s)://hub/api/v1/lz/tunnels/ID?name=ZONE``."""
    parts = urlsplit(hub_url)
    scheme = {"https": "wss", "http": "ws"}[parts.scheme]
    path = parts.path.rstrip("/") + f"/api/v1/lz/tunnels/{quote(tunnel_id, safe='')}"
    return urlunsplit((scheme, parts.netloc, path, f"name={quote(zone, safe='')}", ""))


def endpoint(request: TunnelRequest, claims: list[outbox.Claim], job_of: Callable[[str], Job],
             host_of: Callable[[Job], str | None]) -> Endpoint:
    """Where a wanted tunnel goes, or ``Refused``: only to a declared port of a running job this
    zone holds under the attempt the hub names."""
    held = [c for c in claims if c.hub_job_id == request.job_id and c.attempt == request.attempt
            and not c.lease_lost and c.local_job_id is not None]
    if not held or held[0].local_job_id is None:
        raise Refused(f"hub job {request.job_id} attempt {request.attempt} is not held here")
    job = job_of(held[0].local_job_id)
    if job.state != State.RUNNING:
        raise Refused(f"job {job.id} is not running ({job.state})")
    if request.port not in job.spec.ports:
        raise Refused(f"job {job.id} declares no port {request.port}")
    host = host_of(job)
    if host is None:
        raise Refused(f"job {job.id}: the node it runs on is not known")
    return Endpoint(job.id, host, request.port)


def job_host(job: Job, run: Callable[..., Any] | None = None) -> str | None:
    """The node a job's processes run on: this host for the local executor (and in a pilot),
    the batch host squeue names for a Slurm job."""
    if job.executor != "slurm":
        return LOOPBACK
    if not job.executor_id:
        return None
    from lz.host.process import CommandTimeout, run_command
    from lz.slurm.commands import batch_host_argv
    from lz.slurm.parse import read_batch_host

    try:
        done = (run or run_command)(batch_host_argv(job.executor_id), timeout=10.0)
    except (CommandTimeout, OSError):
        return None
    return read_batch_host(done.returncode, done.stdout)


class PortTunnels:
    """The long poll's thread, and two threads per open tunnel (one each way)."""

    def __init__(self, client: HubClient, zone: str, store: JobStore, stop: threading.Event,
                 host_of: Callable[[Job], str | None] = job_host, connect_s: float = 10.0):
        self.client = client
        self.zone = zone
        self.store = store
        self._stop = stop
        self.host_of = host_of
        self.connect_s = connect_s
        self._open: dict[str, set[Any]] = {}  # by local job id: its sockets and WebSockets
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_OPEN)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._poll, name="hub-ports", daemon=True)
        thread.start()
        return thread

    def close_job(self, local_job_id: str) -> None:
        """The job's process ended: every tunnel to it closes now (the hub sees the WebSocket go)."""
        with self._lock:
            held = self._open.pop(local_job_id, set())
        for thing in held:
            _close(thing)
        if held:
            log.info("job %s ended: %d tunnel(s) to its ports closed", local_job_id, len(held))

    def open_count(self, local_job_id: str) -> int:
        with self._lock:
            return len(self._open.get(local_job_id, ()))

    def _poll(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                answer = self.client.post("/api/v1/lz/tunnels/wait", {"name": self.zone, "wait_s": WAIT_S},
                                          timeout_s=WAIT_S + 15, retries=0)
                for wanted in TunnelsOut.model_validate(answer).tunnels:
                    threading.Thread(target=self.serve, args=(wanted,), name="hub-port", daemon=True).start()
                delay = 1.0
            except (HubUnavailable, HubRefused, OSError, ValueError) as exc:  # not registered yet, an older hub
                log.info("hub %s ports: %s; trying again in %.0fs", self.client.url, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 60.0)
            except Exception:  # a bug must not stop the landing zone
                log.exception("hub ports")
                self._stop.wait(delay)

    def serve(self, wanted: TunnelRequest) -> None:
        """One tunnel, from its checks to its end (run on a thread of its own); at most
        ``MAX_OPEN`` at once, whatever the hub asks."""
        if not self._slots.acquire(blocking=False):
            log.warning("tunnel to hub job %s port %s refused: %d open already", wanted.job_id, wanted.port, MAX_OPEN)
            return
        try:
            self._serve(wanted)
        finally:
            self._slots.release()

    def _serve(self, wanted: TunnelRequest) -> None:
        try:
            where = endpoint(wanted, outbox.claims(self.store.engine), self.store.get, self.host_of)
        except (Refused, LzError) as exc:
            log.warning("tunnel to hub job %s port %s refused: %s", wanted.job_id, wanted.port, exc)
            self._refuse(wanted)
            return
        try:
            sock = socket.create_connection((where.host, where.port), timeout=self.connect_s)
        except OSError as exc:
            log.warning("job %s port %s on %s: %s", where.local_job_id, where.port, where.host, exc)
            self._refuse(wanted)
            return
        sock.settimeout(None)
        ws, first = self._websocket(wanted)
        if ws is None:
            sock.close()
            return
        if not self._keep(where.local_job_id, sock, ws):
            return
        try:
            self._relay(sock, ws, first)
        finally:
            with self._lock:
                self._open.get(where.local_job_id, set()).difference_update({sock, ws})
            _close(sock)
            _close(ws)

    def _keep(self, local_job_id: str, sock: socket.socket, ws: Any) -> bool:
        """Recorded under its job, unless the job ended meanwhile (then closed at once)."""
        with self._lock:
            if self.store.get(local_job_id).state == State.RUNNING:
                self._open.setdefault(local_job_id, set()).update({sock, ws})
                return True
        _close(sock)
        _close(ws)
        return False

    def _connect(self, tunnel_id: str) -> Any:
        import websocket

        token = self.client.token if isinstance(self.client.token, str) else self.client.token()
        options: dict[str, Any] = {}
        bundle = os.environ.get("REQUESTS_CA_BUNDLE")
        if bundle:
            options["sslopt"] = {"ca_certs": bundle}
        return websocket.create_connection(websocket_url(self.client.url, tunnel_id, self.zone),
                                           header=[f"Authorization: Bearer {token}"], timeout=self.connect_s,
                                           enable_multithread=True, **options)

    def _websocket(self, wanted: TunnelRequest) -> tuple[Any, bytes | None]:
        """The tunnel's WebSocket and its first bytes, tried again while it reaches a hub process
        that does not know it (several processes behind a balancer)."""
        import websocket

        for _ in range(TRIES):
            try:
                ws = self._connect(wanted.id)
                opcode, data = ws.recv_data(control_frame=True)
                while opcode in (websocket.ABNF.OPCODE_PING, websocket.ABNF.OPCODE_PONG):
                    opcode, data = ws.recv_data(control_frame=True)
            except (websocket.WebSocketException, OSError) as exc:
                log.warning("tunnel %s: %s", wanted.id[:8], exc)
                return None, None
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                _close(ws)
                if int.from_bytes(data[:2], "big") == NOT_HERE:
                    continue
                return None, None
            ws.settimeout(None)
            return ws, data
        log.warning("tunnel %s: no hub process waited for it after %d tries", wanted.id[:8], TRIES)
        return None, None

    def _refuse(self, wanted: TunnelRequest) -> None:
        """Tell the waiting user's side at once (its answer: 502), rather than let it time out."""
        ws, _ = self._websocket(wanted)
        if ws is not None:
            _close(ws)

    def _relay(self, sock: socket.socket, ws: Any, first: bytes | None) -> None:
        """Hub to job on a thread of its own, job to hub here; either end closing ends both."""
        import websocket

        def _to_job() -> None:
            data = first
            try:
                while True:
                    if data is not None:
                        if data == EOF_FRAME:
                            sock.shutdown(socket.SHUT_WR)
                        else:
                            sock.sendall(data)
                    opcode, data = ws.recv_data(control_frame=True)
                    if opcode == websocket.ABNF.OPCODE_CLOSE:
                        break
                    if opcode not in (websocket.ABNF.OPCODE_BINARY, websocket.ABNF.OPCODE_CONT):
                        data = None
            except (websocket.WebSocketException, OSError):
                pass
            _close(sock)

        other = threading.Thread(target=_to_job, name="hub-port-in", daemon=True)
        other.start()
        try:
            while True:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    break
                ws.send_binary(chunk)
        except (websocket.WebSocketException, OSError):
            pass
        _close(ws)
        other.join(5.0)


def _close(thing: Any) -> None:
    try:
        if isinstance(thing, socket.socket):
            try:
                thing.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        thing.close()
    except Exception:  # closing twice, or an end already gone
        pass
