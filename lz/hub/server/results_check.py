"""Checks on a results upload from a landing zone (untrusted input): a plain tar holding only
the files a landing zone's results directory has, each a regular file, read by the strict
streaming reader (``tarfile`` would load a pax header of any claimed size into memory)."""

from __future__ import annotations

import base64
import binascii
import io
from typing import BinaryIO

from lz.core.errors import BundleError
from lz.hub.protocol.names import RESULT_FILES
from lz.hub.server.errors import Invalid, TooLarge
from lz.hub.server.storage import Store
from lz.intake.tar_reader import TarStream

ALLOWED = frozenset(RESULT_FILES)


def check_results(store: Store, name: str) -> None:
    """``Invalid`` unless the upload stored under ``name`` is such a tar (read as a stream)."""
    with store.open(name) as handle:
        _check(handle)


def inline_results(text: str, max_bytes: int) -> bytes:
    """The results tar a finish carried as base64 (protocol 4), checked as an upload is: ``Invalid``
    when it is not base64 or not such a tar, ``TooLarge`` past the hub's results limit."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("results_inline: not base64") from None
    if len(data) > max_bytes:
        raise TooLarge(f"results are larger than {max_bytes} bytes")
    _check(io.BytesIO(data))
    return data


def _check(handle: BinaryIO) -> None:
    try:
        names = set()
        for member in TarStream(handle).members():
            if member.name not in ALLOWED or member.kind != "file" or member.name in names:
                raise Invalid(f"results upload: unexpected entry {member.name[:80]!r}")
            names.add(member.name)
    except BundleError as exc:
        raise Invalid(f"results upload: not a readable tar ({exc})") from None
