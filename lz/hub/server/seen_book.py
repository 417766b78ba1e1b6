"""Landing zones' ``last_seen``, written for all of them at once (issue 22).

Every heartbeat and every long-poll claim says "this zone is here". Before, each read the zone's
row to decide whether ``last_seen`` was due (``zones.seen_due``) and one in a third of
``online_s`` wrote it: with 1,000 idle zones some 150 reads and 50 write transactions a second,
for a timestamp nobody needs to the second. Now this process remembers what it last wrote or
read of each zone's row (``know``): while that is fresh (younger than ``every_s``), the zone
online and its load unchanged, a visit touches no database at all (``quiet``) and is only noted;
one UPDATE for all zones noted (``take``, ``zones.seen_many``) goes out every ``flush_s``.

Anything people see changes at once, as before: a zone that was offline or unknown to this
process, or whose load changed, is written on the spot (the caller's direct path). With several
hub processes each keeps its own book; the buffered write never clears ``offline_at`` (a goodbye
through another process is never undone by a visit noted before it), so such a zone shows
offline until its next visit that reaches the direct path (at most ``every_s`` later). A process
killed before its flush loses at most ``flush_s`` of visits: the zones stay online (``online_s``
is far longer)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

MAX_ZONES = 100_000  # past this many, the book starts over (every zone takes the direct path once)


class SeenBook:
    def __init__(self, every_s: float):
        self.every_s = every_s
        self.lock = threading.Lock()
        self.known: dict[int, tuple[float, dict[str, Any]]] = {}  # lz_id -> (last_seen in its row, load)
        self.noted: dict[int, float] = {}  # lz_id -> its latest visit, not written yet

    def quiet(self, lz_id: int, now: float, load: Mapping[str, Any] | None = None) -> bool:
        """True (and the visit noted for the next flush) when the zone's row needs no write now:
        this process knows it online with ``last_seen`` younger than ``every_s`` (not ahead of
        ``now``: a clock stepped back) and the same load. False: the caller reads or writes."""
        with self.lock:
            found = self.known.get(lz_id)
            if found is None or not 0 <= now - found[0] < self.every_s:
                return False
            seen_load = found[1]
            if any(v is not None and seen_load.get(k) != v for k, v in (load or {}).items()):
                return False
            self.noted[lz_id] = max(now, self.noted.get(lz_id, now))
            return True

    def know(self, lz_id: int, last_seen: float, load: Mapping[str, Any] | None = None) -> None:
        """The zone's row, online, says ``last_seen`` and this load (just written or read)."""
        with self.lock:
            if len(self.known) >= MAX_ZONES:
                self.known.clear()
            before = self.known.get(lz_id, (0.0, {}))[1]
            self.known[lz_id] = (last_seen, {**before, **{k: v for k, v in (load or {}).items() if v is not None}})

    def forget(self, lz_id: int) -> None:
        """The zone's row changed in a way this book cannot tell (it went offline)."""
        with self.lock:
            self.known.pop(lz_id, None)
            self.noted.pop(lz_id, None)

    def take(self) -> dict[int, float]:
        """The visits noted since the last ``take``, to write; each zone's row is then known to
        say its visit (the write that follows makes it so)."""
        with self.lock:
            noted, self.noted = self.noted, {}
            for lz_id, at in noted.items():
                found = self.known.get(lz_id)
                if found is not None:
                    self.known[lz_id] = (at, found[1])
            return noted

    def give_back(self, noted: Mapping[int, float]) -> None:
        """A flush that failed: its visits are noted again, for the next one."""
        with self.lock:
            for lz_id, at in noted.items():
                self.noted[lz_id] = max(at, self.noted.get(lz_id, at))
