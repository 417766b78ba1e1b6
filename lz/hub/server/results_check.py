"""Checks on a results upload from a landing zone (untrusted input): a plain tar holding only
the files a landing zone's results directory has, each a regular file, read by the strict
streaming reader (``tarfile`` would load a pax header of any claimed size into memory)."""

from __future__ import annotations

from lz.core.errors import BundleError
from lz.hub.protocol.names import RESULT_FILES
from lz.hub.server.errors import Invalid
from lz.hub.server.storage import Store
from lz.intake.tar_reader import TarStream

ALLOWED = frozenset(RESULT_FILES)


def check_results(store: Store, name: str) -> None:
    """``Invalid`` unless the upload stored under ``name`` is such a tar (read as a stream)."""
    try:
        with store.open(name) as handle:
            names = set()
            for member in TarStream(handle).members():
                if member.name not in ALLOWED or member.kind != "file" or member.name in names:
                    raise Invalid(f"results upload: unexpected entry {member.name[:80]!r}")
                names.add(member.name)
    except BundleError as exc:
        raise Invalid(f"results upload: not a readable tar ({exc})") from None
