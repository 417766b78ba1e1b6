"""Long-poll wake-ups shared by hub processes on PostgreSQL (issue 22): LISTEN/NOTIFY, no polling.

A process that commits what may wake a long poll elsewhere (a submission, a requeue, a link of
a landing zone to a Station: ``CLAIMS``; a wanted tunnel: ``TUNNELS``) sends ``pg_notify`` in
that same transaction (``announce``), so it is delivered on commit and never for a rollback.
Each process holds ONE listening connection (``Listener``) that kicks its own checkers
(``notify.Notifier``, ``tunnels.Tunnels``); what it sent itself it has woken already, and drops.
The checkers' periodic recheck stays, slow (``wakeup_recheck_s``), as a safety net; while the
listening connection is lost they recheck at their fast pace again (``recheck_s``), and after it
is back every checker looks once (what was committed while nobody listened).

SQLite (one process) has neither: its checkers recheck as before."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from typing import Any, Protocol

from sqlalchemy import Engine, event, text

log = logging.getLogger("lz.hub")

CLAIMS = "lz_hub_claims"
TUNNELS = "lz_hub_tunnels"
RETRY_S = (0.5, 1.0, 2.0, 5.0)  # between tries to listen again, the last repeated
PING_S = 30.0  # a listening connection with no notification this long is asked a ``SELECT 1``:
# a server gone without a word (no FIN) shows there, not only at the TCP keepalive's hour


def announce(conn: Any, channel: str) -> None:
    """Wake the other hub processes' ``channel`` when this transaction commits (PostgreSQL; a
    no-op elsewhere). Several in one transaction are delivered once."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})


class Note(Protocol):
    channel: str
    pid: int  # the backend process that sent it


class ListeningConnection(Protocol):
    """What ``Listener`` needs of a connection (``psycopg.AsyncConnection`` in autocommit)."""

    async def execute(self, query: str) -> Any: ...

    def notifies(self, *, timeout: float | None = None) -> AsyncIterator[Note]: ...

    async def close(self) -> None: ...


class Listener:
    """One listening connection per process: each notification kicks ``wake[channel]``, unless
    this process's own pool sent it (``own_pids``). ``live(True)`` once it listens (again), then
    every channel kicked once; ``live(False)`` when it lost the connection, then tries again
    after ``RETRY_S``, however long the server stays away."""

    def __init__(self, connect: Callable[[], Awaitable[ListeningConnection]],
                 wake: Mapping[str, Callable[[], None]], live: Callable[[bool], None],
                 own_pids: Collection[int] = (), sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 ping_s: float = PING_S):
        self.connect = connect
        self.wake = wake
        self.live = live
        self.own_pids = own_pids
        self.sleep = sleep
        self.ping_s = ping_s
        self.listening = False
        self.connects = 0  # times it started listening (the first, then each reconnect)
        self.heard = 0  # notifications that kicked a checker

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                conn = await self.connect()
            except Exception as exc:  # noqa: BLE001 - the server away: try again, said once
                if failures == 0:
                    log.warning("long-poll wake-ups: cannot listen (%s: %s); rechecking every recheck_s meanwhile",
                                type(exc).__name__, exc)
                failures += 1
                await self.sleep(RETRY_S[min(failures, len(RETRY_S)) - 1])
                continue
            try:
                await self._listen(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the connection died: back to rechecking, listen again
                log.warning("long-poll wake-ups: lost the listening connection (%s: %s); listening again",
                            type(exc).__name__, exc)
            finally:
                if self.listening:
                    self.listening = False
                    self.live(False)
                try:
                    await conn.close()
                except Exception:  # noqa: BLE001, S110 - already broken
                    pass
            failures = 1
            await self.sleep(RETRY_S[0])

    async def _listen(self, conn: ListeningConnection) -> None:
        for channel in self.wake:
            await conn.execute(f"LISTEN {channel}")  # our own constants: plain identifiers
        if self.connects:
            log.warning("long-poll wake-ups: listening again")
        self.connects += 1
        self.listening = True
        self.live(True)
        for kick in self.wake.values():  # what was committed while nobody listened
            kick()
        while True:
            async for note in conn.notifies(timeout=self.ping_s):
                if note.pid in self.own_pids:
                    continue  # this process woke its checkers itself, without the round trip
                heard = self.wake.get(note.channel)
                if heard is not None:
                    self.heard += 1
                    heard()
            await conn.execute("SELECT 1")  # quiet a while: is the server still there?


class BackendPids:
    """The server-side process ids of an engine's pooled connections, as a set kept current by
    the pool's events: how the listener tells this process's notifications from the others'."""

    def __init__(self, engine: Engine):
        self.pids: set[int] = set()
        event.listen(engine, "connect", self._connect)
        event.listen(engine, "close", self._close)
        event.listen(engine, "close_detached", self._close)

    def _connect(self, dbapi_conn: Any, _record: Any) -> None:
        pid = _backend_pid(dbapi_conn)
        if pid:
            self.pids.add(pid)

    def _close(self, dbapi_conn: Any, *_args: Any) -> None:
        self.pids.discard(_backend_pid(dbapi_conn))

    def __contains__(self, pid: object) -> bool:
        return pid in self.pids

    def __iter__(self) -> Any:
        return iter(set(self.pids))

    def __len__(self) -> int:
        return len(self.pids)


def _backend_pid(dbapi_conn: Any) -> int:
    """psycopg knows it without a round trip (0 for a closed connection or another driver)."""
    try:
        return int(dbapi_conn.info.backend_pid)
    except Exception:  # noqa: BLE001 - closed, or not psycopg
        return 0


def psycopg_connect(engine: Engine) -> Callable[[], Awaitable[ListeningConnection]] | None:
    """How to open the listening connection to the engine's database: psycopg's own async
    connection with the engine's connect arguments, in autocommit (a LISTEN inside a transaction
    hears nothing until it ends). None unless the engine is PostgreSQL through psycopg."""
    if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
        return None
    cargs, cparams = engine.dialect.create_connect_args(engine.url)
    params = {k: v for k, v in cparams.items() if k != "context"}  # SQLAlchemy's adapters: not ours
    params.setdefault("keepalives", 1)
    params.setdefault("keepalives_idle", 30)

    async def connect() -> ListeningConnection:
        import psycopg

        conn: Any = await psycopg.AsyncConnection.connect(*cargs, autocommit=True, **params)
        return conn  # type: ignore[no-any-return]

    return connect
