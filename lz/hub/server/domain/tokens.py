"""Hub tokens (pure): a random secret shown once, stored as its sha256, with an optional expiry."""

from __future__ import annotations

import hashlib
import re
import secrets
from enum import StrEnum

from lz.core.errors import UserError

PREFIX = "lzh_"
SCOPES = ("user", "landing-zone")
DEFAULT_MAX_S = 90 * 86400.0  # the longest a token minted over the API may live (HubConfig.max_token_s)
LABEL_MAX = 64


class Origin(StrEnum):
    """How a token was made: what ``GET /api/v1/tokens`` calls its kind."""

    ADMIN = "admin"  # ``lz hub token create`` on the hub host: may never expire
    DEVICE = "device"  # a device login's short-lived access token (of a refresh family)
    API = "api"  # ``POST /api/v1/tokens`` by a signed-in user: capped, tied to the minting family
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def new_token() -> str:
    """32 random bytes; the prefix lets secret scanners and people recognise a hub token."""
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    """What the database keeps. A sha256 is enough for 256-bit random secrets (no guessing)."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def parse_duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``2w`` or plain seconds -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise UserError(f"duration {text!r}: expected a positive number with s, m, h, d or w (e.g. 30d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def valid_name(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name))
