"""Figures the long suites add up while they run, printed once at the end of the session
(``tests/conftest.py``): how many faults were tried, how many jobs checked, and what went wrong."""

from __future__ import annotations

from collections import Counter

FIGURES: dict[str, Counter[str]] = {}
"""suite -> counters; a suite's line is printed only when it ran."""

ORDER = ("fault points tried", "faults survived", "jobs checked", "lost", "duplicated", "leftovers")


def add(suite: str, **counts: int) -> None:
    figures = FIGURES.setdefault(suite, Counter())
    for key, value in counts.items():
        figures[key.replace("_", " ")] += value
    for key in ("lost", "duplicated", "leftovers"):
        figures.setdefault(key, 0)


def lines() -> list[str]:
    out = []
    for suite, figures in sorted(FIGURES.items()):
        keys = [k for k in ORDER if k in figures] + sorted(k for k in figures if k not in ORDER)
        out.append(f"{suite}: " + ", ".join(f"{k}: {figures[k]}" for k in keys))
    return out
