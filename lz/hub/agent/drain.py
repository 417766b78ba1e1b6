"""The pilot's drain on SIGTERM (what ``scancel`` sends first; SIGKILL follows after Slurm's
KillWait, 30 s by default): stop claiming, hand every held job back to the hub (each is queued
again as a new attempt, not a failure), cancel the local copies, say offline, and be gone well
before the SIGKILL. What the drain does not finish is what a SIGKILL leaves: the leases expire.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from lz.core.machine import State
from lz.hub.agent import outbox
from lz.hub.agent.client import HubRefused, HubUnavailable

if TYPE_CHECKING:
    from lz.hub.agent.agent import HubAgent

log = logging.getLogger("lz.hub.agent.drain")


def drain(agent: HubAgent, budget_s: float = 20.0) -> None:
    """Hand back, cancel, wait for the local copies to be cleaned (their work directories
    removed), then say offline. Bounded by ``budget_s`` in all, on the agent's monotonic clock.

    It never waits for a claim in flight: a cluster's KillWait may be a few seconds, shorter than
    one long poll. Once stopping, the claimer hands back whatever such a claim brings
    (``HubAgent._hand_back``), and if the process is gone first, the hub sees the closed
    connection and claims nothing, or the lease expires."""
    now = agent.monotonic
    deadline = now() + budget_s
    agent.draining = True
    agent._stop.set()  # no more claims; the heartbeat and syncer threads end too
    agent._room.set()
    agent._kick.set()
    _release(agent, offline=False)
    local = [c.local_job_id for c in outbox.claims(agent.engine) if c.local_job_id is not None]
    for job_id in local:
        agent._cancel_local(job_id, "the pilot is draining")
    while local and now() < deadline - 2:
        local = [j for j in local if agent.store.get(j).state != State.CLEANED]
        agent.wake_daemon()
        time.sleep(0.1)
    if local:
        log.warning("drain: %d local job(s) not cleaned in time; the next start cleans them", len(local))
    _release(agent, offline=True)  # also what a claim in flight recorded meanwhile
    for claim in outbox.claims(agent.engine):
        if claim.local_job_id is None or agent.store.get(claim.local_job_id).state == State.CLEANED:
            agent.forget(claim)


def _release(agent: HubAgent, offline: bool) -> None:
    held = [c for c in outbox.claims(agent.engine) if not c.lease_lost]
    try:
        answer = agent.client.post("/api/v1/lz/release", {
            "name": agent.name, "offline": offline,
            "jobs": [{"id": c.hub_job_id, "attempt": c.attempt} for c in held]}, retries=1, timeout_s=5.0)
    except (HubUnavailable, HubRefused, OSError) as exc:
        log.warning("drain: hub %s: %s; the leases will expire instead", agent.client.url, exc)
        for claim in held:  # never report these attempts again: the hub will requeue them
            outbox.mark(agent.engine, claim, lease_lost=True)
        return
    for claim in held:
        outbox.mark(agent.engine, claim, lease_lost=True)
    if answer.get("released"):
        log.warning("drain: handed back %s", ", ".join(answer["released"]))
