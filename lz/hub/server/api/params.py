"""Path parameters shared by the routers: names, job ids, log names and volume names, each
checked against its pattern before a handler runs."""

from __future__ import annotations

from typing import Any

from fastapi import Path

from lz.hub.protocol.names import LOG_PATTERN
from lz.hub.protocol.schemas import JOB_ID, NAME, ZONE_REF

VOLUME = r"^[A-Za-z][A-Za-z0-9_]{0,31}$"


def name() -> Any:
    return Path(pattern=NAME)


def job_id() -> Any:
    return Path(pattern=JOB_ID)


def log_name() -> Any:
    return Path(pattern=LOG_PATTERN)


def volume() -> Any:
    return Path(pattern=VOLUME)


def zone_ref() -> Any:
    """In a route as ``{lz:path}``, so that ``OWNER/NAME`` may stand where a name did."""
    return Path(pattern=ZONE_REF, description="A landing zone: NAME (your own, else the only one of that name "
                                              "in question) or OWNER/NAME.")
