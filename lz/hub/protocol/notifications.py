"""Wire bodies of notifications (issue 26): what a landing zone forwards of a job's
``$LZ_NOTIFY`` messages, and how a user asks to get them. The hub checks sizes again: a landing
zone's report is input like any other."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from lz.core.notifications import MAX_BYTES
from lz.hub.protocol.schemas import LAST_TIMESTAMP, NAME, _Body

MAX_PER_REQUEST = 100


class NotificationIn(_Body):
    seq: int = Field(ge=1, le=1 << 62)
    at: float = Field(ge=0, le=LAST_TIMESTAMP, allow_inf_nan=False)
    text: str = Field(min_length=1, max_length=MAX_BYTES)

    @field_validator("text")
    @classmethod
    def _bytes(cls, value: str) -> str:
        if len(value.encode("utf-8", "surrogatepass")) > MAX_BYTES:
            raise ValueError(f"at most {MAX_BYTES} bytes (UTF-8)")
        if any(not (c.isprintable() or c in " \t") for c in value):
            raise ValueError("control characters")
        return value


class NotificationsIn(_Body):
    name: str = Field(pattern=NAME)
    attempt: int = Field(ge=1, le=1_000_000)
    notifications: list[NotificationIn] = Field(max_length=MAX_PER_REQUEST)


class NotificationOut(BaseModel):
    id: int
    attempt: int
    seq: int
    at: float
    text: str
    seen: bool


class NotificationsOut(BaseModel):
    notifications: list[NotificationOut]


class SubscriptionIn(_Body):
    channel: str = Field(pattern=r"^(web|email|webhook)$")
    target: str | None = Field(default=None, max_length=2048, description="An e-mail address or an http(s) URL.")
    events: list[str] = Field(default_factory=lambda: ["notifications", "job_end"], min_length=1, max_length=2)


class SubscriptionOut(BaseModel):
    id: int
    channel: str
    target: str | None
    events: list[str]
    created_at: float
    secret: str | None = Field(default=None, description="A webhook's signing key, shown once (at creation).")


def subscription_text(row: dict[str, Any]) -> str:
    """One line of ``lz station notifications list``: id, channel, target, events."""
    events = row.get("events") or []
    return f"{row['id']}  {row['channel']}  {row.get('target') or '-'}  {','.join(str(e) for e in events)}"
