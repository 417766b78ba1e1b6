"""Notifications from jobs and job ends, and how each user gets them (rules on a connection).

A landing zone forwards what its job sent (``record``: idempotent by job, attempt, seq, so a
resend after a crash is harmless); each is stored for the job's page and ``lz logs
--notifications``, and, in the same transaction, one delivery is queued per e-mail or webhook
subscription of the job's owner in its Station (intent before the effect). Job ends are found by
``queue_job_ends`` (finished jobs not yet handed out), so no path that ends a job needs to know.
The sender (``lz.hub.server.deliver``) takes due deliveries with ``take_due``, which pushes each
one's next try ahead first, so two hub processes never send one at the same moment; one that dies
mid-send leaves it to be sent again once that lease passes: at least once.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from lz.hub.server.domain import claims, jobs, stations
from lz.hub.server.domain.accounts import Principal, users_t
from lz.hub.server.errors import Invalid, NotFound
from lz.hub.server.models import (
    HubJob,
    JobNotification,
    NotificationDelivery,
    NotificationSubscription,
    NotifiedJobEnd,
    Station,
)

notes_t: Any = JobNotification.__table__
subs_t: Any = NotificationSubscription.__table__
deliveries_t: Any = NotificationDelivery.__table__
ends_t: Any = NotifiedJobEnd.__table__
jobs_t: Any = HubJob.__table__
stations_t: Any = Station.__table__

CHANNELS = ("web", "email", "webhook")
EVENTS = ("notifications", "job_end")
PER_JOB = 1000  # the most a job keeps on the hub, all attempts together; later ones are dropped
PER_USER_STATION = 10  # subscriptions one user may have in one Station
SEND_LEASE_S = 120.0  # a delivery being sent is not taken again for this long
BACKOFF_S, BACKOFF_CAP_S = 10.0, 3600.0


@dataclass(frozen=True)
class Due:
    """A delivery to send now, with what it needs."""

    id: int
    channel: str
    target: str
    secret: str | None
    kind: str
    payload: dict[str, Any]
    tries: int


# -- from landing zones -------------------------------------------------------------------------
def record(conn: Connection, lz_id: int, job_id: str, attempt: int, items: Sequence[dict[str, Any]],
           now: float, lease_s: float) -> int:
    """Store what the holder of the attempt forwarded (its lease renewed, as a report does);
    returns the highest seq now stored for this attempt."""
    row = claims._held(conn, lz_id, job_id, attempt)
    conn.execute(update(jobs_t).where(jobs_t.c.id == job_id).values(lease_expires=now + lease_s))
    known = set(conn.execute(select(notes_t.c.seq).where(
        notes_t.c.job_id == job_id, notes_t.c.attempt == attempt)).scalars())
    kept = conn.execute(select(func.count()).select_from(notes_t).where(notes_t.c.job_id == job_id)).scalar_one()
    subs = _subscriptions_for(conn, row.station_id, row.submitter_id, "notifications")
    for item in sorted(items, key=lambda i: i["seq"]):
        if item["seq"] in known:
            continue
        known.add(item["seq"])
        if kept >= PER_JOB:
            continue  # acknowledged, not kept: a job cannot fill the hub
        kept += 1
        conn.execute(insert(notes_t).values(job_id=job_id, attempt=attempt, seq=item["seq"], at=item["at"],
                                            text=item["text"], received_at=now))
        payload = {"event": "notification", "job": _job_summary(conn, row), "at": item["at"], "text": item["text"]}
        _queue(conn, subs, job_id, "notification", payload, now)
    return max(known, default=0)


def hub_notice(conn: Connection, row: Any, seq: int, text: str, now: float) -> None:
    """A notification the hub itself sends about a job (credit warnings, issue 26): stored as
    attempt 0 (no landing zone uses it, so their acknowledgements never count it), idempotent by
    ``seq``, and queued to the owner's subscriptions like a job's own."""
    if conn.execute(select(notes_t.c.id).where(notes_t.c.job_id == row.id, notes_t.c.attempt == 0,
                                               notes_t.c.seq == seq)).first() is not None:
        return
    conn.execute(insert(notes_t).values(job_id=row.id, attempt=0, seq=seq, at=now, text=text, received_at=now))
    payload = {"event": "notification", "job": _job_summary(conn, row), "at": now, "text": text}
    _queue(conn, _subscriptions_for(conn, row.station_id, row.submitter_id, "notifications"), row.id,
           "notification", payload, now)


# -- job ends -----------------------------------------------------------------------------------
def queue_job_ends(conn: Connection, now: float, limit: int = 200) -> int:
    """Hand the ends of finished jobs to their owners' ``job_end`` subscriptions, once each (jobs
    that finished before the subscription was made are left alone); returns how many jobs."""
    wanted = select(subs_t.c.station_id, subs_t.c.user_id, func.min(subs_t.c.created_at).label("since")).where(
        subs_t.c.events.like("%job_end%"), subs_t.c.channel != "web").group_by(
        subs_t.c.station_id, subs_t.c.user_id).subquery()
    rows = conn.execute(
        select(jobs_t).join(wanted, and_(wanted.c.station_id == jobs_t.c.station_id,
                                         wanted.c.user_id == jobs_t.c.submitter_id))
        .outerjoin(ends_t, ends_t.c.job_id == jobs_t.c.id)
        .where(jobs_t.c.phase == "finished", ends_t.c.job_id.is_(None), jobs_t.c.updated_at >= wanted.c.since)
        .limit(limit)).all()
    for row in rows:
        conn.execute(insert(ends_t).values(job_id=row.id, at=now))
        payload = {"event": "job_end", "job": _job_summary(conn, row), "at": row.ended_at or row.updated_at,
                   "text": f"job {row.name} ({row.id}) ended: {row.outcome or row.state}"
                           + (f" ({row.reason})" if row.reason else "")}
        _queue(conn, _subscriptions_for(conn, row.station_id, row.submitter_id, "job_end"), row.id, "job_end",
               payload, now)
    return len(rows)


# -- deliveries ---------------------------------------------------------------------------------
def take_due(conn: Connection, now: float, limit: int = 50) -> list[Due]:
    """Deliveries due now, each leased to this caller for ``SEND_LEASE_S`` (a conditional update:
    another process that read the same row takes none of those this one took)."""
    rows = conn.execute(
        select(deliveries_t, subs_t.c.channel, subs_t.c.target, subs_t.c.secret)
        .join(subs_t, subs_t.c.id == deliveries_t.c.subscription_id)
        .where(deliveries_t.c.state == "pending", deliveries_t.c.next_try_at <= now)
        .order_by(deliveries_t.c.next_try_at).limit(limit)).all()
    taken = []
    for r in rows:
        done = conn.execute(update(deliveries_t).where(
            deliveries_t.c.id == r.id, deliveries_t.c.state == "pending", deliveries_t.c.next_try_at == r.next_try_at)
            .values(next_try_at=now + SEND_LEASE_S))
        if done.rowcount == 1:
            taken.append(Due(r.id, r.channel, r.target or "", r.secret, r.kind, json.loads(r.payload), r.tries))
    return taken


def delivered(conn: Connection, delivery_id: int, now: float) -> None:
    conn.execute(update(deliveries_t).where(deliveries_t.c.id == delivery_id).values(
        state="sent", sent_at=now, tries=deliveries_t.c.tries + 1, last_error=None))


def failed(conn: Connection, delivery_id: int, now: float, error: str, most_tries: int) -> None:
    """Try again after ``BACKOFF_S`` doubling per try (capped), or give up after ``most_tries``."""
    row = conn.execute(select(deliveries_t.c.tries).where(deliveries_t.c.id == delivery_id)).first()
    if row is None:
        return
    tries = row.tries + 1
    wait = min(BACKOFF_CAP_S, BACKOFF_S * 2 ** min(tries - 1, 20))
    conn.execute(update(deliveries_t).where(deliveries_t.c.id == delivery_id).values(
        tries=tries, last_error=error[:1000], next_try_at=now + wait,
        state="failed" if tries >= most_tries else "pending"))


def purge(conn: Connection, now: float, keep_s: float = 7 * 86400.0) -> int:
    """Sent and given-up deliveries older than ``keep_s`` (housekeeping)."""
    return int(conn.execute(delete(deliveries_t).where(
        deliveries_t.c.state != "pending", deliveries_t.c.created_at < now - keep_s)).rowcount or 0)


# -- for people ---------------------------------------------------------------------------------
def of_job(conn: Connection, who: Principal, job_id: str, limit: int = PER_JOB) -> list[dict[str, Any]]:
    row = jobs.find(conn, who, job_id)
    rows = conn.execute(select(notes_t).where(notes_t.c.job_id == row.id).order_by(notes_t.c.id).limit(limit)).all()
    return [{"id": r.id, "attempt": r.attempt, "seq": r.seq, "at": r.at, "text": r.text,
             "seen": r.seen_at is not None} for r in rows]


def mark_seen(conn: Connection, who: Principal, job_id: str, now: float) -> int:
    """The job's owner saw its page: its notifications are no longer new (others' views change nothing)."""
    row = jobs.find(conn, who, job_id)
    if row.submitter_id != who.user_id:
        return 0
    return int(conn.execute(update(notes_t).where(notes_t.c.job_id == row.id, notes_t.c.seen_at.is_(None))
                            .values(seen_at=now)).rowcount or 0)


def web_alerts(conn: Connection, station_id: int, user_id: int) -> bool:
    """The page's badge: on unless the user chose other ways and not ``web``."""
    chosen = set(conn.execute(select(subs_t.c.channel).where(
        subs_t.c.station_id == station_id, subs_t.c.user_id == user_id)).scalars())
    return not chosen or "web" in chosen


def subscriptions(conn: Connection, who: Principal, station: str) -> list[dict[str, Any]]:
    station_id = stations.visible(conn, who, station)
    rows = conn.execute(select(subs_t).where(subs_t.c.station_id == station_id, subs_t.c.user_id == who.user_id)
                        .order_by(subs_t.c.id)).all()
    return [{"id": r.id, "channel": r.channel, "target": r.target, "events": r.events.split(","),
             "created_at": r.created_at} for r in rows]


def subscribe(conn: Connection, who: Principal, station: str, channel: str, target: str | None,
              events: Sequence[str], now: float) -> dict[str, Any]:
    """A new way for ``who`` to get this Station's notifications of their jobs; a webhook's
    secret is made here and shown once, in the answer."""
    station_id = stations.visible(conn, who, station)
    checked = check_subscription(channel, target, events)
    count = conn.execute(select(func.count()).select_from(subs_t).where(
        subs_t.c.station_id == station_id, subs_t.c.user_id == who.user_id)).scalar_one()
    if count >= PER_USER_STATION:
        raise Invalid(f"at most {PER_USER_STATION} ways to be notified per Station")
    secret = secrets.token_urlsafe(32) if channel == "webhook" else None
    result = conn.execute(insert(subs_t).values(station_id=station_id, user_id=who.user_id, channel=channel,
                                                target=checked, secret=secret, events=",".join(events),
                                                created_at=now))
    sub_id = int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0
    return {"id": sub_id, "channel": channel, "target": checked, "events": list(events), "created_at": now,
            **({"secret": secret} if secret else {})}


def unsubscribe(conn: Connection, who: Principal, station: str, sub_id: int) -> None:
    station_id = stations.visible(conn, who, station)
    gone = conn.execute(delete(subs_t).where(subs_t.c.id == sub_id, subs_t.c.station_id == station_id,
                                             subs_t.c.user_id == who.user_id)).rowcount
    if not gone:
        raise NotFound(f"no subscription {sub_id} of yours in station {station!r}")


def check_subscription(channel: str, target: str | None, events: Sequence[str]) -> str | None:
    """The target as stored, or Invalid with one line: an e-mail address for e-mail, an http(s)
    URL for a webhook, nothing for web alerts; events among ``EVENTS``."""
    if channel not in CHANNELS:
        raise Invalid(f"channel {channel!r} is not one of {', '.join(CHANNELS)}")
    if not events or any(e not in EVENTS for e in events) or len(set(events)) != len(events):
        raise Invalid(f"events: one or more of {', '.join(EVENTS)}")
    target = (target or "").strip() or None
    if channel == "web":
        return None
    if target is None:
        raise Invalid(f"a {channel} subscription needs a target (an address or a URL)")
    if any(c.isspace() or not c.isprintable() for c in target) or len(target) > 2048:
        raise Invalid("the target holds spaces or control characters, or is too long")
    if channel == "email":
        local, _, domain = target.partition("@")
        if not local or "." not in domain or len(target) > 254 or any(c in target for c in ",;<>\"'"):
            raise Invalid(f"{target!r} is not an e-mail address")
        return target
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise Invalid("a webhook is an http:// or https:// URL without credentials in it")
    return target


# -- inside -------------------------------------------------------------------------------------
def _subscriptions_for(conn: Connection, station_id: int, user_id: int, event: str) -> list[Any]:
    return [r for r in conn.execute(select(subs_t).where(
        subs_t.c.station_id == station_id, subs_t.c.user_id == user_id, subs_t.c.channel != "web")).all()
        if event in r.events.split(",")]


def _queue(conn: Connection, subs: Sequence[Any], job_id: str, kind: str, payload: dict[str, Any], now: float) -> None:
    body = json.dumps(payload, sort_keys=True)
    for sub in subs:
        conn.execute(insert(deliveries_t).values(subscription_id=sub.id, job_id=job_id, kind=kind, payload=body,
                                                 state="pending", tries=0, next_try_at=now, created_at=now))


def _job_summary(conn: Connection, row: Any) -> dict[str, Any]:
    station = conn.execute(select(stations_t.c.name).where(stations_t.c.id == row.station_id)).scalar_one()
    owner = conn.execute(select(users_t.c.name).where(users_t.c.id == row.submitter_id)).scalar_one()
    return {"id": row.id, "name": row.name, "station": station, "owner": owner, "state": row.state,
            "outcome": row.outcome, "exit_code": row.exit_code}
