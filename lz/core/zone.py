"""The landing zone's own status, as the daemon reports it and ``lz status`` shows it (pure)."""

from __future__ import annotations

from lz.core.value_class import field, fields, value_class


@value_class
class LandingZoneStatus:
    """What the daemon last said of itself (the ``lz_status`` table), for ``lz status`` and intake."""

    name: str | None = None
    executor: str | None = None
    runtime: str | None = None
    workdir: str | None = None
    daemon_pid: int | None = None
    daemon_started: float | None = None
    last_tick: float | None = None
    controller_down_since: float | None = None
    controller_error: str | None = None
    controller_calls: dict[str, int] = field(default_factory=dict)
    log_file: str | None = None  # the daemon's --log (None: stderr, the journal under systemd)
    metrics: str | None = None  # the daemon's --metrics address (HOST:PORT)

    def tick_age(self, now: float) -> float | None:
        return None if self.last_tick is None else now - self.last_tick


STATUS_FIELDS = frozenset(f.name for f in fields(LandingZoneStatus))
