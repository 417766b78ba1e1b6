"""The hub process's open and wanted tunnels (issue 26): one per connection a user opens to a job's
port, carried by one WebSocket that the job's landing zone opens to this process.

A user's request waits here (``opened``) until the agent, told by its long poll (``asked``),
connects the tunnel's WebSocket (``arrived``). The user's connection and the tunnel's WebSocket
are held in this process's memory; the *wish* is also recorded in the database
(``DatabaseTunnels``), so an agent whose long poll reached another hub process hears of it
there: one checker per process (``run``) hands the waiting zones their tunnels, at once for this
process's own requests, at once for the others' when their NOTIFY arrives (PostgreSQL,
``wakeups``), and every ``recheck_s`` (the safety net; SQLite's only way). The WebSocket must then reach
this process: another one closes it with ``NOT_HERE`` and the agent tries again (through a
balancer it lands on another process each time)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from lz.hub.protocol.ports import EOF_FRAME, PortLimits, TunnelRequest
from lz.hub.server.domain import ports
from lz.hub.server.domain.ports import Target
from lz.hub.server.errors import GatewayTimeout, TooMany

log = logging.getLogger("lz.hub")


class Meter:
    """A token bucket: at most ``rate`` bytes a second, in bursts of at most a second's worth
    (``rate`` 0: no limit). Pure: the caller sleeps what ``delay`` says."""

    def __init__(self, rate: int, now: float):
        self.rate = rate
        self.tokens = float(rate)
        self.at = now

    def delay(self, size: int, now: float) -> float:
        """Seconds to wait before ``size`` more bytes may pass (they are counted now)."""
        if self.rate <= 0:
            return 0.0
        self.tokens = min(float(self.rate), self.tokens + (now - self.at) * self.rate)
        self.at = now
        self.tokens -= size
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class Channel:
    """One tunnel as the user's side sees it: bytes to and from the job's port, metered each way,
    and ended when nothing went either way for ``idle_s``."""

    def __init__(self, socket: Any, limits: PortLimits, monotonic: Callable[[], float] = time.monotonic):
        self.socket = socket  # the agent's starlette WebSocket
        self.limits = limits
        self.monotonic = monotonic
        self.last = monotonic()
        self.closed = False
        self._up = Meter(limits.bytes_per_s, self.last)
        self._down = Meter(limits.bytes_per_s, self.last)

    async def send(self, data: bytes) -> None:
        """Bytes to the job (``EOF_FRAME``: no more of them)."""
        if self.closed:
            return
        self.last = self.monotonic()
        await asyncio.sleep(self._up.delay(len(data), self.last))
        try:
            await self.socket.send_bytes(data)
        except Exception:  # the agent went away: the next receive says so
            self.closed = True

    async def receive(self) -> bytes | None:
        """The job's next bytes; None when it closed, the tunnel ended, or it was idle too long."""
        while not self.closed:
            left = self.limits.idle_s - (self.monotonic() - self.last)
            if left <= 0:
                break
            try:
                message = await asyncio.wait_for(self.socket.receive(), left)
            except TimeoutError:
                continue
            except Exception:
                break
            if message["type"] == "websocket.disconnect":
                break
            data = message.get("bytes")
            if data is None:  # a text message is not part of the protocol
                continue
            if data == EOF_FRAME:
                break
            self.last = self.monotonic()
            await asyncio.sleep(self._down.delay(len(data), self.last))
            return bytes(data)
        self.closed = True
        return None


@dataclass
class _Wanted:
    request: TunnelRequest
    lz_id: int
    arrived: asyncio.Future[Any]
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Shared(Protocol):
    """Where wanted tunnels are recorded for every hub process (the database)."""

    async def want(self, tunnel_id: str, target: Target) -> None: ...

    async def forget(self, tunnel_id: str) -> None: ...

    async def hand_out(self, lz_ids: list[int]) -> dict[int, list[dict[str, Any]]]: ...


class DatabaseTunnels:
    def __init__(self, read: Callable[..., Any], write: Callable[..., Any], now: Callable[[], float]):
        self.read = read
        self.write = write
        self.now = now

    async def want(self, tunnel_id: str, target: Target) -> None:
        """Recorded, and the other hub processes' checkers woken on its commit (PostgreSQL)."""
        from starlette.concurrency import run_in_threadpool

        from lz.hub.server import wakeups

        def _want(conn: Any) -> None:
            ports.want(conn, tunnel_id, target, self.now())
            wakeups.announce(conn, wakeups.TUNNELS)

        await run_in_threadpool(self.write, _want)

    async def forget(self, tunnel_id: str) -> None:
        from starlette.concurrency import run_in_threadpool

        await run_in_threadpool(self.write, ports.forget, tunnel_id)

    async def hand_out(self, lz_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        """A read while nothing is wanted (the idle case); a write only to take what is."""
        from starlette.concurrency import run_in_threadpool

        ids = await run_in_threadpool(self.read, ports.waiting, lz_ids)
        if not ids:
            return {}
        found: dict[int, list[dict[str, Any]]] = await run_in_threadpool(self.write, ports.take, ids, self.now())
        return found


class Tunnels:
    """``shared`` None: this process alone (its own requests, from memory)."""

    def __init__(self, limits: PortLimits, shared: Shared | None = None, recheck_s: float = 0.25,
                 monotonic: Callable[[], float] = time.monotonic):
        self.limits = limits
        self.shared = shared
        self.recheck_s = recheck_s
        self.monotonic = monotonic
        self._wanted: dict[str, _Wanted] = {}
        self._asked: dict[int, list[_Wanted]] = {}  # by landing zone: not yet handed to its agent (alone)
        self._wake: dict[int, asyncio.Event] = {}
        self._waiters: dict[int, list[asyncio.Future[list[TunnelRequest]]]] = {}  # long polls (shared)
        self._kick: asyncio.Event | None = None
        self.open_by_job: Counter[str] = Counter()

    @asynccontextmanager
    async def opened(self, target: Target) -> AsyncIterator[Channel]:
        """A tunnel to ``target``, once its landing zone connected it (504 after ``connect_s``);
        closed on leaving. At most ``per_job`` at once per job (429)."""
        if self.open_by_job[target.job_id] >= self.limits.per_job:
            raise TooMany(f"job {target.job_id} has {self.limits.per_job} connections through its ports open", 5)
        request = TunnelRequest(id=secrets.token_urlsafe(24), job_id=target.job_id, attempt=target.attempt,
                                port=target.port)
        wanted = _Wanted(request, target.lz_id, asyncio.get_running_loop().create_future())
        self._wanted[request.id] = wanted
        self.open_by_job[target.job_id] += 1
        try:
            if self.shared is not None:
                await self.shared.want(request.id, target)
                self.kick()
            else:
                self._asked.setdefault(target.lz_id, []).append(wanted)
                self._wake.setdefault(target.lz_id, asyncio.Event()).set()
            try:
                socket = await asyncio.wait_for(asyncio.shield(wanted.arrived), self.limits.connect_s)
            except TimeoutError:
                raise GatewayTimeout(f"the landing zone running job {target.job_id} opened no tunnel to port "
                                     f"{target.port} within {self.limits.connect_s:.0f}s") from None
            yield Channel(socket, self.limits, self.monotonic)
        finally:
            self._wanted.pop(request.id, None)
            asked = self._asked.get(target.lz_id, [])
            if wanted in asked:
                asked.remove(wanted)
            self.open_by_job[target.job_id] -= 1
            if self.open_by_job[target.job_id] <= 0:
                del self.open_by_job[target.job_id]
            wanted.done.set()  # the agent's handler closes its WebSocket
            if self.shared is not None:
                try:
                    await self.shared.forget(request.id)
                except Exception:  # the row goes with the stale ones
                    log.exception("forgetting tunnel %s", request.id[:8])

    def kick(self) -> None:
        if self._kick is not None:
            self._kick.set()

    async def asked(self, lz_id: int, wait_s: float) -> list[TunnelRequest]:
        """The agent's long poll: the tunnels wanted of its landing zone, as soon as there are any,
        or none after ``wait_s``."""
        if self.shared is not None:
            return await self._asked_shared(lz_id, wait_s)
        wake = self._wake.setdefault(lz_id, asyncio.Event())
        if not self._asked.get(lz_id):
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), wait_s)
            except TimeoutError:
                pass
        handed = self._asked.pop(lz_id, [])
        return [w.request for w in handed]

    async def _asked_shared(self, lz_id: int, wait_s: float) -> list[TunnelRequest]:
        waiter: asyncio.Future[list[TunnelRequest]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(lz_id, []).append(waiter)
        self.kick()
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), wait_s)
        except TimeoutError:
            if waiter.done():  # handed out just as the wait ended: keep them
                return waiter.result()
            waiter.cancel()
            return []
        finally:
            waiting = self._waiters.get(lz_id, [])
            if waiter in waiting:
                waiting.remove(waiter)
            if not waiting:
                self._waiters.pop(lz_id, None)

    async def run(self) -> None:
        """The process's one checker of the shared wishes (started with the app): at once when
        kicked (a request of this process, a new long poll), else every ``recheck_s`` while any
        long poll waits."""
        self._kick = asyncio.Event()
        while True:
            try:
                await asyncio.wait_for(self._kick.wait(), self.recheck_s)
            except TimeoutError:
                pass
            self._kick.clear()
            live = [lz for lz, waiting in self._waiters.items() if any(not w.done() for w in waiting)]
            if not live or self.shared is None:
                continue
            try:
                handed = await self.shared.hand_out(live)
            except Exception:  # the database may be briefly unreachable: the next check retries
                log.exception("handing out tunnels")
                continue
            for lz_id, found in handed.items():
                waiting = [w for w in self._waiters.get(lz_id, []) if not w.done()]
                if waiting:
                    waiting[0].set_result([TunnelRequest(**f) for f in found])
                else:
                    log.warning("tunnels %s: their long poll ended meanwhile", " ".join(f["id"][:8] for f in found))

    def arrived(self, tunnel_id: str, lz_id: int, socket: Any) -> asyncio.Event | None:
        """The agent's WebSocket for a wanted tunnel: handed to the waiting user's side. Returns
        the event set when the user's side is done; None if this process wants no such tunnel of
        this landing zone (another process does, or it is over)."""
        wanted = self._wanted.get(tunnel_id)
        if wanted is None or wanted.lz_id != lz_id or wanted.arrived.done():
            return None
        wanted.arrived.set_result(socket)
        return wanted.done
