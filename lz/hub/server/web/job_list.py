"""The Jobs tab's list as a bookmarkable query string: filters (state, outcome, Station, landing
zone, name, since), an order, a page size and a page cursor, read from a plain GET form and turned
into the domain's ``JobFilter`` and ``page`` arguments (the API's listing, one implementation).
A bad value is one line for the form (``Invalid``), never a 500."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from urllib.parse import urlencode

from lz.core.errors import UserError, printable
from lz.core.machine import STATES
from lz.core.selection import MAX_PATTERN, OUTCOMES, parse_outcomes, parse_since, parse_states
from lz.hub.protocol.schemas import NAME
from lz.hub.server.domain import jobs
from lz.hub.server.errors import HubError

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_SIZE = 50
MAX_FIELD = 256  # what is kept of a field: more than any valid value, so a longer one is refused, not cut
STATE_CHOICES = (("active", "active (not ended)"), ("PD", "waiting (received, building, queued)"),
                 ("R", "running"), ("S", "paused"), ("CG", "ending (cancelling, collecting)"),
                 *((s, s) for s in STATES))
"""The state menu: squeue's words for groups of lz states, then each lz state (``lz.core.selection``)."""
ORDER_CHOICES = ((jobs.NEWEST, "newest first"), (jobs.OLDEST, "oldest first"), (jobs.BY_NAME, "by name"),
                 (jobs.BY_STATE, "by state"))


class BadFilter(HubError):
    """A value of the Jobs tab's form the list cannot use: the form again, with this line."""

    status = 400


@dataclass(frozen=True)
class JobQuery:
    """The form's fields as given (kept in the form and in the paging links); empty: any."""

    state: str = ""
    outcome: str = ""
    station: str = ""
    zone: str = ""
    name: str = ""
    since: str = ""
    order: str = jobs.NEWEST
    size: str = str(DEFAULT_SIZE)
    after: str = ""
    before: str = ""

    @classmethod
    def of(cls, params: dict[str, str]) -> JobQuery:
        """From a query string's values; every field is cut to ``MAX_FIELD`` before use."""
        return cls(**{k: params.get(k, getattr(cls(), k))[:MAX_FIELD].strip() for k in cls.__dataclass_fields__})

    def url(self, path: str = "/jobs", **changes: str) -> str:
        """``path`` with this query (less what is empty or default) and ``changes``."""
        fields = asdict(replace(self, **changes))
        default = asdict(JobQuery())
        kept = {k: v for k, v in fields.items() if v and v != default[k]}
        return f"{path}?{urlencode(kept)}" if kept else path

    def filters(self) -> dict[str, str]:
        """The filter fields (what a page link keeps)."""
        return {k: v for k, v in asdict(self).items() if k not in ("after", "before")}

    def sorted_by(self, order: str) -> str:
        """This list in another order, from its first page (a column heading's link)."""
        return self.url(order=order, after="", before="")

    def where(self, now: float) -> jobs.JobFilter:
        """The domain's filter, or ``BadFilter`` with one line saying what is wrong."""
        try:
            states = parse_states([self.state]) if self.state else ()
            outcomes = parse_outcomes([self.outcome]) if self.outcome else ()
            since = parse_since(self.since, now) if self.since else None
        except UserError as exc:
            raise BadFilter(str(exc).replace("--since ", "since ").replace("--outcome ", "the outcome ")) from None
        for what, value in (("Station", self.station), ("landing zone", self.zone)):
            if value and not re.fullmatch(NAME, value):
                raise BadFilter(f"no {what} is named {printable(value[:64])!r} (letters, digits, . _ -)")
        if len(self.name) > MAX_PATTERN:
            raise BadFilter(f"a name pattern is at most {MAX_PATTERN} characters")
        names = (self.name if any(c in self.name for c in "*?") else f"*{self.name}*",) if self.name else ()
        return jobs.JobFilter(self.station or None, states if set(states) != set(STATES) else (), outcomes, names,
                              self.zone or None, since)

    def page_size(self) -> int:
        if not self.size.isdigit() or not 1 <= int(self.size) <= PAGE_SIZES[-1]:
            raise BadFilter(f"a page shows 1 to {PAGE_SIZES[-1]} jobs, not {printable(self.size[:16])!r}")
        return int(self.size)

    def checked_order(self) -> str:
        if self.order not in jobs.ORDERS:
            raise BadFilter(f"unknown order {printable(self.order[:16])!r} (orders: {', '.join(jobs.ORDERS)})")
        return self.order


OUTCOME_CHOICES = tuple((o, o.replace("_", " ")) for o in OUTCOMES)
