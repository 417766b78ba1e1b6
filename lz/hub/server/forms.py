"""Small posted forms (the OAuth endpoints, the web page's forms): urlencoded as browsers and
RFC 6749 send them, or JSON as auth0-python does; anything over 16 KiB reads as empty."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from fastapi import Request

MAX_FORM_BYTES = 16384


async def read_fields(request: Request) -> dict[str, str]:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return {}
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items() if v is not None} if isinstance(data, dict) else {}
    return dict(parse_qsl(raw.decode("utf-8", "replace")))
