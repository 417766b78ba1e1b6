"""How a landing zone joins a hub: what ``lz run --hub`` resolved before the daemon started."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class AgentOptions:
    """How a landing zone joins a hub (``lz run --hub URL --token FILE --max-running N``)."""

    url: str
    token_file: Path
    max_running: int
    claim_wait_s: float = 20.0
    sync_s: float = 1.0
    report_after_s: float = 1.0  # a job younger than this is told to the hub only by its finish (see HubAgent._young)
    sweep_s: float = 300.0  # how often the incoming and outgoing areas are swept of a crash's leftovers
    tokens: Any = None  # a login_client.TokenSource (memory only with --token none)
    name: str | None = None
    stations: tuple[str, ...] = ()  # to join at start (galileod --stations)
    pilot: Any = None  # lz.hub.agent.pilot.Pilot inside a SLURM allocation: claims only what fits, drains on SIGTERM
