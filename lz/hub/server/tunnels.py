"""The hub process's open and wanted tunnels (issue 26): one per connection a user opens to a job's
port, carried by one WebSocket that the job's landing zone opens to this process.

A user's request waits here (``opened``) until the agent, told by its long poll (``asked``),
connects the tunnel's WebSocket (``arrived``). Held in memory: a tunnel lives as long as the
user's connection to this process, so nothing of it needs the database. With several hub
processes, the agent's long poll and its WebSocket must reach the process the user's request
came to; the one that does not know the tunnel closes it with ``NOT_HERE`` and the agent tries
again (see docs/hub.md, "Interactive ports")."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from lz.hub.protocol.ports import EOF_FRAME, PortLimits, TunnelRequest
from lz.hub.server.domain.ports import Target
from lz.hub.server.errors import GatewayTimeout, TooMany


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


class Tunnels:
    def __init__(self, limits: PortLimits, monotonic: Callable[[], float] = time.monotonic):
        self.limits = limits
        self.monotonic = monotonic
        self._wanted: dict[str, _Wanted] = {}
        self._asked: dict[int, list[_Wanted]] = {}  # by landing zone: not yet handed to its agent
        self._wake: dict[int, asyncio.Event] = {}
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
        self._asked.setdefault(target.lz_id, []).append(wanted)
        self._wake.setdefault(target.lz_id, asyncio.Event()).set()
        self.open_by_job[target.job_id] += 1
        try:
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

    async def asked(self, lz_id: int, wait_s: float) -> list[TunnelRequest]:
        """The agent's long poll: the tunnels wanted of its landing zone, as soon as there are any,
        or none after ``wait_s``."""
        wake = self._wake.setdefault(lz_id, asyncio.Event())
        if not self._asked.get(lz_id):
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), wait_s)
            except TimeoutError:
                pass
        handed = self._asked.pop(lz_id, [])
        return [w.request for w in handed]

    def arrived(self, tunnel_id: str, lz_id: int, socket: Any) -> asyncio.Event | None:
        """The agent's WebSocket for a wanted tunnel: handed to the waiting user's side. Returns
        the event set when the user's side is done; None if this process wants no such tunnel of
        this landing zone (another process does, or it is over)."""
        wanted = self._wanted.get(tunnel_id)
        if wanted is None or wanted.lz_id != lz_id or wanted.arrived.done():
            return None
        wanted.arrived.set_result(socket)
        return wanted.done
