"""The local source: jobs that ``lz submit`` put into this landing zone's own store.

Intake commits them directly (the CLI works while the daemon is down) and wakes the daemon, so
there is nothing to fetch: the tick finds them among the active jobs.
"""

from __future__ import annotations


class LocalSource:
    name = "local"

    def poll(self, now: float) -> int:
        return 0
