"""The listener of long-poll wake-ups (issue 22, ``lz.hub.server.wakeups``): what it does when the
server refuses it, when its connection dies mid-listen, and when it comes back (one full check);
its own process's notifications dropped. The connections are scripted the way psycopg's behave
(``execute``, ``notifies`` that yields then ends at its timeout or raises, ``close``); the same
path on a real server, its backend terminated, is ``tests/integration/test_hub_wakeups.py``."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lz.hub.server import wakeups
from tests.unit.hub_helpers import hub_app

OWN_PID, OTHER_PID = 111, 222


@dataclass
class Note:
    channel: str
    pid: int


class Gone(Exception):
    """As psycopg's OperationalError when the server closed the connection."""


@dataclass
class Scripted:
    """One connection: ``rounds`` of ``notifies`` calls, each a list of notes that may end in an
    exception; past the last round it hangs (a quiet server) until cancelled."""

    rounds: list[list[Note | Exception]]
    sent: list[str] = field(default_factory=list)
    closed: bool = False

    async def execute(self, query: str) -> None:
        self.sent.append(query)

    async def notifies(self, *, timeout: float | None = None) -> AsyncIterator[Note]:
        if not self.rounds:
            await asyncio.Event().wait()
        for item in self.rounds.pop(0):
            if isinstance(item, Exception):
                raise item
            yield item

    async def close(self) -> None:
        self.closed = True


def test_refused_then_lost_then_back_listens_again_and_looks_once_each_time() -> None:
    first = Scripted([[Note(wakeups.CLAIMS, OTHER_PID), Note(wakeups.CLAIMS, OWN_PID),
                       Note(wakeups.TUNNELS, OTHER_PID), Note("unknown", OTHER_PID), Gone("server closed")]])
    second = Scripted([[], [Note(wakeups.CLAIMS, OTHER_PID)]])  # a quiet round (to its timeout), then a note
    outcomes: list[Scripted | Exception] = [ConnectionRefusedError("refused"), first, second]
    kicks: Counter[str] = Counter()
    lives: list[bool] = []
    sleeps: list[float] = []

    async def connect() -> Scripted:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)

    async def scenario() -> wakeups.Listener:
        listener = wakeups.Listener(connect, {wakeups.CLAIMS: lambda: kicks.update(["claims"]),
                                              wakeups.TUNNELS: lambda: kicks.update(["tunnels"])},
                                    lives.append, own_pids={OWN_PID}, sleep=sleep)
        task = asyncio.create_task(listener.run())
        for _ in range(200):
            await asyncio.sleep(0)
            if not outcomes and not second.rounds:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return listener

    listener = asyncio.run(scenario())
    assert lives == [True, False, True, False]  # listening, lost (rechecking fast), listening again, stopped
    assert sleeps == [wakeups.RETRY_S[0], wakeups.RETRY_S[0]]  # after the refusal, after the loss
    # each start: both checkers look once; then the other process's notes only (own and unknown dropped)
    assert kicks == {"claims": 1 + 1 + 1 + 1, "tunnels": 1 + 1 + 1}
    assert listener.connects == 2 and listener.heard == 3
    assert first.closed
    assert first.sent == ["LISTEN lz_hub_claims", "LISTEN lz_hub_tunnels"]
    # each round of notifies ended at its timeout: a ping before the next
    assert second.sent == ["LISTEN lz_hub_claims", "LISTEN lz_hub_tunnels", "SELECT 1", "SELECT 1"]


def test_a_server_away_for_long_is_tried_ever_less_often_and_said_once(caplog: pytest.LogCaptureFixture) -> None:
    sleeps: list[float] = []
    tries = 0

    async def connect() -> Scripted:
        nonlocal tries
        tries += 1
        raise ConnectionRefusedError("refused")

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 6:
            raise asyncio.CancelledError
        await asyncio.sleep(0)

    listener = wakeups.Listener(connect, {wakeups.CLAIMS: lambda: None}, lambda up: None, sleep=sleep)
    with caplog.at_level("WARNING", "lz.hub"), pytest.raises(asyncio.CancelledError):
        asyncio.run(listener.run())
    assert sleeps == [0.5, 1.0, 2.0, 5.0, 5.0, 5.0]
    assert tries == 6
    assert len([r for r in caplog.records if "cannot listen" in r.message]) == 1


def test_sqlite_hub_has_no_listener_and_rechecks_at_its_own_pace(tmp_path: Path) -> None:
    with hub_app(tmp_path) as app:
        hub = app.hub
        assert hub.listener is None
        assert hub.notifier.recheck_s == hub.config.recheck_s
        hub._listening(True)  # what the listener would say on PostgreSQL
        assert (hub.notifier.recheck_s, hub.tunnels.recheck_s) == (hub.config.wakeup_recheck_s,) * 2
        hub._listening(False)
        assert (hub.notifier.recheck_s, hub.tunnels.recheck_s) == (hub.config.recheck_s, hub.config.ports.recheck_s)


def test_a_wake_up_while_no_claim_waits_is_checked_when_the_next_claim_waits() -> None:
    """The race: a zone's claim makes its own look (nothing), another process's submission commits
    and its NOTIFY kicks this process's checker while that claim is not waiting yet (its look's
    transaction, the way back to the event loop), then the claim waits. The checker, finding no
    claim waiting, dropped the kick: the job waited for the next recheck, 5 s with the wake-ups
    (0.25 s before them). Now the claim that comes to wait has it checked at once."""
    from lz.hub.server.notify import Notifier

    claimable = {1: 0}

    async def scenario() -> tuple[bool, float]:
        notifier = Notifier(60.0, lambda: (dict(claimable), {7: (1,)}))  # the recheck: never, here
        notifier.bind(asyncio.get_running_loop())
        checker = asyncio.create_task(notifier.run())
        try:
            await asyncio.sleep(0.05)  # the zone's own look found nothing
            claimable[1] = 1  # committed elsewhere, its NOTIFY heard while nobody waits
            notifier.notify()
            await asyncio.sleep(0.05)  # the checker has woken, and found no claim waiting
            started = asyncio.get_running_loop().time()
            woken = await notifier.wait(7, 2.0)
            return woken, asyncio.get_running_loop().time() - started
        finally:
            checker.cancel()
            await asyncio.gather(checker, return_exceptions=True)

    woken, took = asyncio.run(scenario())
    assert woken and took < 0.5, f"woken {woken} after {took:.2f} s"  # before: False after 2 s
