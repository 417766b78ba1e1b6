"""What a heartbeat answer asks of this landing zone, by attempt (pure), and when the next beat
is due (on the monotonic clock: a wall clock stepped back by NTP or ``date -s`` must never hold
the beats back, or the leases lapse and every job runs again elsewhere).

One landing zone can hold two attempts of one job: attempt 1's lease lapsed while the zone was
slow, the hub requeued the job and the same zone claimed attempt 2. The answer names attempts
(``gone_jobs``, ``cancel_jobs``, ``controls[].attempt``), so the stale copy is stopped and the live
one runs on. A hub older than those fields answers job ids only: an id held in two attempts is
then ambiguous and left alone (the stale copy is fenced anyway: its next report is refused)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lz.hub.agent.outbox import Claim


@dataclass(frozen=True)
class Orders:
    gone: list[Claim] = field(default_factory=list)
    cancel: list[Claim] = field(default_factory=list)
    controls: list[tuple[Claim, dict[str, Any]]] = field(default_factory=list)


def held(claims: Sequence[Claim]) -> list[Claim]:
    """The claims a heartbeat renews (a lost lease is never renewed)."""
    return [c for c in claims if not c.lease_lost]


def orders(sent: Sequence[Claim], answer: Mapping[str, Any]) -> Orders:
    """The claims among ``sent`` the answer names, for each thing it asks."""
    by_key = {(c.hub_job_id, c.attempt): c for c in sent}
    copies = Counter(c.hub_job_id for c in sent)

    def one(job_id: str, attempt: Any) -> Claim | None:
        if attempt is not None:
            return by_key.get((job_id, int(attempt)))
        if copies[job_id] != 1:  # an older hub's bare id, ambiguous (or not ours)
            return None
        return next(c for c in sent if c.hub_job_id == job_id)

    def named(new: str, old: str) -> list[Claim]:
        if new in answer:
            found = [one(e["id"], e["attempt"]) for e in answer[new]]
        else:
            found = [one(job_id, None) for job_id in answer.get(old, [])]
        return [c for c in found if c is not None]

    controls = []
    for wanted in answer.get("controls", []):
        claim = one(wanted["id"], wanted.get("attempt"))
        if claim is not None:
            controls.append((claim, dict(wanted)))
    return Orders(named("gone_jobs", "gone"), named("cancel_jobs", "cancel"), controls)


def due_in(now: float, last_beat: float | None, every_s: float) -> float:
    """Seconds until the next beat (0: now): ``every_s`` (a third of the lease; longer while the
    zone holds no job, when the hub says so) after the last one, both on the monotonic clock."""
    if last_beat is None:
        return 0.0
    return max(0.0, every_s - (now - last_beat))
