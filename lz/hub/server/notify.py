"""Wake-ups for long polls: one database check per hub process, not one per waiting claim.

A waiting claim does not read the database itself. One checker per process asks which Stations
have claimable jobs (how many) and which landing zones are linked to them: at once when this
process submits, requeues or links (``notify``), at once when another hub process did (its NOTIFY,
PostgreSQL: ``wakeups``), and every ``recheck_s`` while any claim waits (SQLite's only way to hear
of other processes; with PostgreSQL's wake-ups a slow safety net, ``wakeup_recheck_s``). Each check hands out *tickets*: per Station as many as it has
claimable jobs, each given to one waiting claim of a landing zone linked to it (the longest
waiting first), which then runs the claim transaction. So an idle hub costs one small query per
``recheck_s`` however many landing zones wait, and one submission wakes one claim. (Before: every
waiting claim re-read the database four times a second, and each submission woke all of them.)

A ticket is *in flight* from its taking until its claim transaction ended (``release``): a check
hands out only the claimable jobs no ticket is in flight for. Otherwise a burst of submissions,
each followed by a check, woke another claim for the same pending jobs at every check until one
claim took them: with 1,000 zones waiting on PostgreSQL, 150 jobs cost 245 statements each and
2 jobs/s (issue 22). A ticket not released within ``INFLIGHT_S`` (a claim that died) counts no more.

A wake-up while no claim waits is not dropped: it is *unheard* until the next claim that waits has
it checked. That claim may have made its own look before the change committed (its look, then the
commit and its wake-up, then its wait): dropped, the change waited for the next recheck, 5 s with
PostgreSQL's wake-ups (``wakeup_recheck_s``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

log = logging.getLogger("lz.hub")

Claimable = tuple[dict[int, int], dict[int, tuple[int, ...]]]
"""Claimable jobs by Station id, and the Stations among those of each landing zone id."""
INFLIGHT_S = 10.0


class Notifier:
    def __init__(self, recheck_s: float, check: Callable[[], Claimable], clock: Callable[[], float] = time.monotonic):
        self.recheck_s = recheck_s
        self.check = check  # a blocking database read: run in a worker thread
        self.clock = clock
        self._inflight: dict[int, list[tuple[int, float]]] = {}  # by zone: (Station, taken at) of its tickets
        self._tickets: dict[int, int] = {}
        self._left = 0  # tickets not taken yet
        self._stations_of: dict[int, tuple[int, ...]] = {}
        self._took: set[int] = set()  # zones that took a ticket of the latest check (one each, so a
        # zone that cannot fit a Station's backlog tries once per check, not once per waiting job)
        self._waiters: dict[int, list[asyncio.Future[bool]]] = {}  # by landing zone, longest waiting first
        self._kick: asyncio.Event | None = None
        self._unheard = False  # woken while no claim waited: the next to wait has it checked
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_problem = ""
        self._wakes = 0  # notify() calls so far (from any thread: a change, not a count, is what matters)
        self._known: tuple[int, frozenset[int], float] | None = None  # the last check: wakes when it
        # began, the zones with claimable jobs in their Stations, when it ended

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._kick = asyncio.Event()

    def waiting(self) -> int:
        """The long polls waiting in this process now (for tests and the metrics' curious)."""
        return sum(len(queue) for queue in list(self._waiters.values()))

    def nothing_for(self, lz_id: int) -> bool:
        """True when the last check, younger than ``recheck_s``, found nothing claimable in this
        zone's Stations and nothing was notified since it began: a poll about to wait may skip its
        own look, as if it had been waiting when that check ran (it hears of anything new as those
        do). 1,000 idle zones: some 60 reads a second fewer, each a thread hop (issue 22)."""
        known = self._known
        return (known is not None and known[0] == self._wakes and lz_id not in known[1]
                and self.clock() - known[2] < self.recheck_s)

    def notify(self) -> None:
        """A check now. Callable from any thread (the submit handler runs in the thread pool)."""
        self._wakes += 1
        loop, kick = self._loop, self._kick
        if loop is not None and kick is not None:
            loop.call_soon_threadsafe(kick.set)

    async def wait(self, lz_id: int, timeout: float) -> bool:
        """True once this landing zone may claim (it holds a ticket), False after ``timeout``.
        Unbound (no running checker): True after ``min(timeout, recheck_s)``, to look itself."""
        if self._loop is None:
            await asyncio.sleep(min(timeout, self.recheck_s))
            return True
        if lz_id not in self._took and self._take(lz_id):  # left over: a check just before it waited
            return True
        waiter: asyncio.Future[bool] = self._loop.create_future()
        self._waiters.setdefault(lz_id, []).append(waiter)
        if self._unheard and self._kick is not None:  # a change since its own look, maybe: check now
            self._unheard = False
            self._kick.set()
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        finally:
            queue = self._waiters.get(lz_id, [])
            if waiter in queue:
                queue.remove(waiter)
            if not queue:
                self._waiters.pop(lz_id, None)

    async def run(self) -> None:
        """The checker (one task per process): a check when notified, and every ``recheck_s``
        while anyone waits; nothing at all while no claim waits."""
        assert self._kick is not None, "bind first"
        while True:
            try:
                await asyncio.wait_for(self._kick.wait(), self.recheck_s)
            except TimeoutError:
                pass
            woken = self._kick.is_set()
            self._kick.clear()
            if not self._waiters:  # a claim that starts looks in the database itself; one past its
                self._unheard = self._unheard or woken  # look already has the wake-up checked
                continue
            self._unheard = False  # this check sees it (one past its look then finds its ticket left)
            wakes = self._wakes
            try:
                tickets, stations_of = await asyncio.to_thread(self.check)
            except Exception as exc:  # noqa: BLE001 - the database away for a moment: the next check
                problem = f"{type(exc).__name__}: {exc}"
                if problem != self._last_problem:
                    log.warning("long-poll check: %s", problem)
                self._last_problem = problem
                continue
            self._last_problem = ""
            self._known = (wakes, frozenset(stations_of), self.clock())
            self._hand_out(tickets, stations_of)

    def release(self, lz_id: int) -> None:
        """The zone's claim transaction ended (it took its jobs, or found none): its ticket is no
        longer in flight. Nothing when it holds none (its first look needs no ticket)."""
        held = self._inflight.get(lz_id)
        if held:
            held.pop(0)
            if not held:
                del self._inflight[lz_id]

    def _in_flight(self) -> dict[int, int]:
        """Tickets taken and not released, by Station (those past ``INFLIGHT_S`` forgotten)."""
        oldest = self.clock() - INFLIGHT_S
        counts: dict[int, int] = {}
        for lz_id, held in list(self._inflight.items()):
            held[:] = [(s, t) for s, t in held if t > oldest]
            if not held:
                del self._inflight[lz_id]
            for station_id, _ in held:
                counts[station_id] = counts.get(station_id, 0) + 1
        return counts

    def _hand_out(self, tickets: dict[int, int], stations_of: dict[int, tuple[int, ...]]) -> None:
        flying = self._in_flight()
        tickets = {s: n - flying.get(s, 0) for s, n in tickets.items() if n > flying.get(s, 0)}
        self._tickets, self._stations_of, self._took = dict(tickets), stations_of, set()
        self._left = sum(tickets.values())
        for lz_id, queue in list(self._waiters.items()):
            if self._left <= 0:
                return
            for waiter in queue:
                if not waiter.done() and self._take(lz_id):
                    waiter.set_result(True)

    def _take(self, lz_id: int) -> bool:
        for station_id in self._stations_of.get(lz_id, ()):
            if self._tickets.get(station_id, 0) > 0:
                self._tickets[station_id] -= 1
                self._left -= 1
                self._took.add(lz_id)
                self._inflight.setdefault(lz_id, []).append((station_id, self.clock()))
                return True
        return False
