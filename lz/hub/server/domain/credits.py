"""Prices and credit limits (issue 26): what a CPU-hour, a GiB-hour of memory and a GPU-hour cost
in a Station, and how much may be spent, set for the Station, for a role or for a user.

Money is integer milli-credits (``mc``) everywhere; a price or limit a person types is a decimal
with at most three places (``parse_credits``), shown back with exactly three (``show_credits``):
no float ever holds an amount. A price is the user's rule's if set, else their role's, else the
Station's, else free. Two limits may hold back one user: their own (the user's rule, else their
role's), over what they spent in the Station, and the Station's, over what all its members spent.
A job waits while the spending plus its estimate (its resources over its time limit, priced)
would pass a limit; a running job is stopped once a limit is reached (``usage.charge``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from lz.core.errors import printable
from lz.hub.server.domain import roles
from lz.hub.server.domain.accounts import Principal, users_t
from lz.hub.server.errors import Invalid, NotFound
from lz.hub.server.models import CreditRule, JobUsage, StationMember

rules_t: Any = CreditRule.__table__
usage_t: Any = JobUsage.__table__
members_t: Any = StationMember.__table__

SCOPES = ("station", "role", "user")
PRICES = ("cpu_hour_mc", "mem_gib_hour_mc", "gpu_hour_mc")
FIELDS = (*PRICES, "limit_mc")
SHOWN = {"cpu_hour_mc": "cpu_hour", "mem_gib_hour_mc": "memory_gib_hour", "gpu_hour_mc": "gpu_hour",
         "limit_mc": "limit"}  # the API's names (amounts in credits) of the columns (milli-credits)
MAX_MC = 10 ** 15  # a trillion credits: above any sane price or limit, far below BigInteger's range
MIB_PER_GIB = 1024
S_PER_HOUR = 3600


def parse_credits(text: str) -> int:
    """``"1.5"`` -> 1500 milli-credits; ``Invalid`` for anything else than 0 to 10^12 with at most
    three decimals (Decimal, never float: ``0.1 + 0.2`` must cost 300 mc)."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise Invalid(f"not an amount of credits: {printable(str(text)[:40])!r}") from None
    if not value.is_finite() or value < 0 or value * 1000 > MAX_MC:
        raise Invalid(f"an amount of credits is between 0 and {MAX_MC // 1000:,}: {printable(str(text)[:40])!r}")
    mc = value * 1000
    if mc != mc.to_integral_value():
        raise Invalid(f"credits have at most three decimals: {printable(str(text)[:40])!r}")
    return int(mc)


def show_credits(mc: int | None) -> str | None:
    """1500 -> ``"1.500"`` (exact: integer division, no float)."""
    if mc is None:
        return None
    sign = "-" if mc < 0 else ""
    whole, part = divmod(abs(mc), 1000)
    return f"{sign}{whole}.{part:03d}"


@dataclass(frozen=True)
class Prices:
    """Milli-credits per CPU-hour, GiB-hour of memory and GPU-hour."""

    cpu_hour_mc: int = 0
    mem_gib_hour_mc: int = 0
    gpu_hour_mc: int = 0

    def cost(self, cpu_s: int, mem_mib_s: int, gpu_s: int) -> int:
        """The cost in milli-credits of these totals, rounded down once (never per increment, so
        many small reports cost what one big one does)."""
        scaled = (cpu_s * self.cpu_hour_mc * MIB_PER_GIB + mem_mib_s * self.mem_gib_hour_mc
                  + gpu_s * self.gpu_hour_mc * MIB_PER_GIB)
        return scaled // (S_PER_HOUR * MIB_PER_GIB)

    @property
    def free(self) -> bool:
        return not (self.cpu_hour_mc or self.mem_gib_hour_mc or self.gpu_hour_mc)


def estimate(resources: dict[str, Any], prices: Prices) -> int:
    """What a job would cost if it used all it asks for (CPUs, memory, GPUs) for its whole time
    limit; 0 without a time limit (nothing to bound it by: it is held back only once the
    spending itself reaches the limit)."""
    time_s = resources.get("time_s")
    if not time_s:
        return 0
    wall = int(float(time_s))
    cpus = int(resources.get("cpus") or 1)
    mem = int(resources.get("memory_mb") or 0)
    gpus = int(resources.get("gpus") or 0)
    return prices.cost(cpus * wall, mem * wall, gpus * wall)


@dataclass(frozen=True)
class Limit:
    """A limit that holds a user back: whose it is (for the reason), the amount and the spending."""

    whose: str
    limit_mc: int
    spent_mc: int

    def reached(self) -> bool:
        return self.spent_mc >= self.limit_mc

    def would_pass(self, more_mc: int) -> bool:
        """A job of this estimate would take the spending past the limit (or it is reached)."""
        return self.reached() or self.spent_mc + more_mc > self.limit_mc

    def fraction(self) -> Decimal:
        return Decimal(self.spent_mc) / Decimal(self.limit_mc) if self.limit_mc else Decimal(1)

    def describe(self) -> str:
        return f"{self.whose} spent {show_credits(self.spent_mc)} of {show_credits(self.limit_mc)} credits"


def waiting_reason(limits: list[Limit], estimate_mc: int) -> str | None:
    """One line when a job must wait for credit; None when every limit leaves room for it."""
    for limit in limits:
        if limit.would_pass(estimate_mc):
            more = f" and this job may cost up to {show_credits(estimate_mc)}" if estimate_mc else ""
            return f"waiting: credit limit: {limit.describe()}{more}"
    return None


# -- rules in the database ------------------------------------------------------------------------
@dataclass(frozen=True)
class Terms:
    """The prices and limits that apply to one user in one Station."""

    prices: Prices
    own_limit_mc: int | None  # the user's rule's limit, else their role's
    station_limit_mc: int | None


def _rules(conn: Connection, station_id: int) -> dict[tuple[str, str], Any]:
    return {(r.scope, r.subject): r for r in conn.execute(_station_rules(), {"station_id": station_id})}


@functools.cache
def _station_rules() -> Any:
    """Built once: each finish reads it (``claims._insert_event``)."""
    return select(rules_t).where(rules_t.c.station_id == bindparam("station_id"))


def terms(conn: Connection, station_id: int, user_id: int) -> Terms:
    rules = _rules(conn, station_id)
    if not rules:
        return Terms(Prices(), None, None)
    role = roles.role(conn, station_id, user_id)
    chain = [rules.get(("user", str(user_id))), rules.get(("role", role or "")), rules.get(("station", ""))]

    def first(name: str) -> Any:
        return next((getattr(r, name) for r in chain if r is not None and getattr(r, name) is not None), None)

    prices = Prices(*(first(p) or 0 for p in PRICES))
    own = next((r.limit_mc for r in chain[:2] if r is not None and r.limit_mc is not None), None)
    station = chain[2].limit_mc if chain[2] is not None else None
    return Terms(prices, own, station)


def spent(conn: Connection, station_id: int, user_id: int | None = None) -> int:
    """Milli-credits charged in the Station (to one user, with ``user_id``), all attempts."""
    query = select(func.coalesce(func.sum(usage_t.c.credits_mc), 0)).where(usage_t.c.station_id == station_id)
    if user_id is not None:
        query = query.where(usage_t.c.user_id == user_id)
    return int(conn.execute(query).scalar_one())


def limits(conn: Connection, station_id: int, user_id: int, station: str, user: str,
           found: Terms | None = None) -> list[Limit]:
    """The limits that hold for the user in the Station, with what was spent against each."""
    found = found or terms(conn, station_id, user_id)
    held = []
    if found.own_limit_mc is not None:
        held.append(Limit(f"user {user} in station {station}", found.own_limit_mc, spent(conn, station_id, user_id)))
    if found.station_limit_mc is not None:
        held.append(Limit(f"station {station}", found.station_limit_mc, spent(conn, station_id)))
    return held


def any_limit(conn: Connection) -> bool:
    """A cheap first check for the claim: with no limit anywhere there is nothing to hold back."""
    return conn.execute(_any_limit()).first() is not None


@functools.cache
def _any_limit() -> Any:
    return select(rules_t.c.station_id).where(rules_t.c.limit_mc.is_not(None)).limit(1)


def exhausted(conn: Connection) -> list[tuple[int, int | None]]:
    """(Station, None) for each Station whose own limit is reached, (Station, user) for each
    user whose own limit there is: the claim keeps their jobs out of its query (as the running
    quota does), so a queue full of them cannot hide other members' jobs from the look-ahead."""
    limited = conn.execute(select(rules_t.c.station_id, rules_t.c.scope, rules_t.c.limit_mc)
                           .where(rules_t.c.limit_mc.is_not(None))).all()
    if not limited:
        return []
    ids = sorted({r.station_id for r in limited})
    by_station: dict[int, Any] = dict(conn.execute(select(usage_t.c.station_id, func.sum(usage_t.c.credits_mc))
                                   .where(usage_t.c.station_id.in_(ids)).group_by(usage_t.c.station_id)).all())
    found: list[tuple[int, int | None]] = [
        (r.station_id, None) for r in limited if r.scope == "station" and int(by_station.get(r.station_id) or 0) >= r.limit_mc]
    per_user = {r.station_id for r in limited if r.scope != "station"}
    for station_id, user_id, mc in conn.execute(
            select(usage_t.c.station_id, usage_t.c.user_id, func.sum(usage_t.c.credits_mc))
            .where(usage_t.c.station_id.in_(sorted(per_user))).group_by(usage_t.c.station_id, usage_t.c.user_id)):
        own = terms(conn, station_id, user_id).own_limit_mc
        if own is not None and int(mc or 0) >= own:
            found.append((station_id, user_id))
    return found


class Gate:
    """The credit check of one claim or one list of waiting jobs: why a job must wait (None:
    it may run), its Station's and user's terms and names read once each."""

    def __init__(self, conn: Connection, active: bool | None = None):
        self.conn = conn
        self.active = any_limit(conn) if active is None else active  # ``active``: the caller just read it
        self._terms: dict[tuple[int, int], tuple[Terms, list[Limit]]] = {}

    def reason(self, station_id: int, user_id: int, spec: str | dict[str, Any]) -> str | None:
        if not self.active:
            return None
        key = (station_id, user_id)
        if key not in self._terms:
            from lz.hub.server.models import Station

            station = self.conn.execute(select(Station.__table__.c.name).where(
                Station.__table__.c.id == station_id)).scalar_one()
            user = self.conn.execute(select(users_t.c.name).where(users_t.c.id == user_id)).scalar_one()
            found = terms(self.conn, station_id, user_id)
            self._terms[key] = (found, limits(self.conn, station_id, user_id, station, user, found))
        found, held = self._terms[key]
        if not held:
            return None
        resources = (json.loads(spec) if isinstance(spec, str) else spec).get("resources") or {}
        return waiting_reason(held, estimate(resources, found.prices))


def _subject(conn: Connection, station_id: int, scope: str, name: str | None) -> str:
    if scope not in SCOPES:
        raise Invalid(f"unknown scope {printable(scope[:16])!r} (scopes: {', '.join(SCOPES)})")
    if scope == "station":
        if name:
            raise Invalid("a Station's own rule names no role or user")
        return ""
    if not name:
        raise Invalid(f"name the {scope}")
    if scope == "role":
        return "owner" if name == "owner" else roles.known(conn, station_id, name)  # the owner may have a limit too
    uid = conn.execute(select(users_t.c.id).where(users_t.c.name == name)).scalar_one_or_none()
    if uid is None or not roles.is_member(conn, station_id, uid):
        raise NotFound(f"no member {printable(name[:64])!r} in this station")
    return str(uid)


def describe(conn: Connection, who: Principal, station: str) -> dict[str, Any]:
    """The Station's rules and what was spent (any member may read them: they are what they pay)."""
    sid = roles.visible(conn, who, station)
    rules = conn.execute(select(rules_t).where(rules_t.c.station_id == sid)
                         .order_by(rules_t.c.scope, rules_t.c.subject)).all()
    ids = [int(r.subject) for r in rules if r.scope == "user"]
    names: dict[int, str] = {u.id: u.name for u in conn.execute(
        select(users_t.c.id, users_t.c.name).where(users_t.c.id.in_(ids)))} if ids else {}
    rows = []
    for r in rules:
        name = names.get(int(r.subject), r.subject) if r.scope == "user" else (r.subject or None)
        rows.append({"scope": r.scope, "name": name, **{SHOWN[f]: show_credits(getattr(r, f)) for f in FIELDS}})
    return {"station": station, "rules": rows, "spent": show_credits(spent(conn, sid)),
            "spent_by_you": show_credits(spent(conn, sid, who.user_id))}


def set_rule(conn: Connection, who: Principal, station: str, scope: str, name: str | None,
             values: dict[str, int | None], now: float) -> dict[str, Any]:
    """Set prices and the limit of one rule (fields left out stay; None clears one; a rule left
    with nothing set is removed). Those who change the Station's settings (``manage_members``)."""
    sid = roles.require(conn, who, station, "manage_members")
    subject = _subject(conn, sid, scope, name)
    for field, value in values.items():
        if field not in FIELDS:
            raise Invalid(f"unknown field {printable(field[:32])!r}")
        if value is not None and not 0 <= value <= MAX_MC:
            raise Invalid(f"{field}: between 0 and {MAX_MC} milli-credits")
    key = (rules_t.c.station_id == sid, rules_t.c.scope == scope, rules_t.c.subject == subject)
    row = conn.execute(select(rules_t).where(*key).with_for_update()).first()
    if row is None:
        conn.execute(insert(rules_t).values(station_id=sid, scope=scope, subject=subject, updated_at=now,
                                            **{f: values.get(f) for f in FIELDS}))
    elif values:
        conn.execute(update(rules_t).where(*key).values(updated_at=now, **values))
    after = conn.execute(select(rules_t).where(*key)).one()
    if all(getattr(after, f) is None for f in FIELDS):
        conn.execute(delete(rules_t).where(*key))
    return describe(conn, who, station)
