"""Comparing lz versions: the hub's minimum and latest against what a landing zone runs."""

from __future__ import annotations

import re


def version_key(text: str) -> tuple[int, ...]:
    """``0.10.2`` -> (0, 10, 2): numeric, so 0.10 sorts after 0.9 (the first four numbers)."""
    return tuple(int(n) for n in re.findall(r"\d+", text)[:4])


def below(version: str, other: str) -> bool:
    return version_key(version) < version_key(other)
