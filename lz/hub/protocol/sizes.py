"""Byte sizes as people write them (``10G``, ``500M``, ``1T``, plain bytes) and read them
(``9.5 GiB``): the quota command, its API answers and the hub's refusals say sizes alike."""

from __future__ import annotations

import re

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(?:I?B)?\s*$", re.IGNORECASE)
MAX_SIZE = 1 << 62  # what a BIGINT column holds, with room for a sum


def parse_size(text: str) -> int:
    """``10G`` -> 10 GiB in bytes (units are powers of 1024; ``B``/``iB`` suffixes allowed)."""
    found = _SIZE.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not a size (e.g. 500M, 10G, 1T, or bytes)")
    value = int(float(found.group(1)) * _UNITS[found.group(2).upper()])
    if value > MAX_SIZE:
        raise ValueError(f"{text!r} is larger than {human_bytes(MAX_SIZE)}")
    return value


def human_bytes(size: int) -> str:
    """``9.5 GiB``; below 1 KiB, ``512 bytes``."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024:
            return f"{value:.1f} {unit}"
    return f"{value / 1024:.1f} PiB"
