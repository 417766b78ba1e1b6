"""The ``store`` setting (``lz hub serve --store URL``) parsed: a folder or an S3 location. A URL
never carries credentials (they come from the environment or ``store_credentials``): one in it is
refused, so a secret never sits in argv, a unit file's flags or a log line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from lz.core.errors import UserError

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_PART = re.compile(r"[A-Za-z0-9._-]+")
_QUERY = ("endpoint", "region")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or "a/b" (no slashes at the ends)
    endpoint: str | None
    region: str | None

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return where + (f" at {self.endpoint}" if self.endpoint else "")


def parse_store(url: str) -> Path | S3Location:
    """A local folder (``file:///abs/path`` or an absolute path) or an S3 location; UserError
    with one line saying what is wrong."""
    def bad(why: str) -> UserError:
        return UserError(f"--store / store: {why} (file:///DIR or s3://BUCKET/PREFIX?endpoint=URL&region=NAME)")

    if "://" not in url:
        if not url.startswith("/"):
            raise bad("a folder must be an absolute path")
        return Path(url)
    try:
        parts = urlsplit(url)
        port = parts.port  # a malformed port raises here
    except ValueError:
        raise bad("not a URL") from None
    if parts.username is not None or parts.password is not None:
        raise bad("credentials do not go in the URL: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
                  "or store_credentials")
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or parts.query or not parts.path.startswith("/"):
            raise bad("a file URL is file:///ABSOLUTE/PATH")
        return Path(parts.path)
    if parts.scheme != "s3":
        raise bad(f"unknown scheme {parts.scheme!r}")
    if port is not None or not _BUCKET.fullmatch(parts.hostname or "") or parts.netloc != parts.hostname:
        raise bad("the bucket name is 3-63 lowercase letters, digits, dots or dashes")
    pieces = [p for p in parts.path.split("/") if p]
    if any(not _PREFIX_PART.fullmatch(p) or p in (".", "..") for p in pieces):
        raise bad("the prefix is folder names of letters, digits, '.', '_' or '-'")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - set(_QUERY))
    if unknown or len(parse_qsl(parts.query, keep_blank_values=True)) != len(query):
        raise bad(f"unknown or repeated parameter {', '.join(unknown) or 'given twice'}")
    endpoint = query.get("endpoint") or None
    if endpoint is not None:
        try:
            target = urlsplit(endpoint)
            target.port  # noqa: B018 - a malformed port raises
        except ValueError:
            raise bad("endpoint is not a URL") from None
        if target.scheme not in ("http", "https") or not target.hostname or target.username or target.password:
            raise bad("endpoint is http(s)://HOST[:PORT], with no credentials")
    return S3Location(parts.hostname or "", "/".join(pieces), endpoint, query.get("region") or None)
