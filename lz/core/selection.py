"""Which jobs a command means, in words an HPC user already types (``squeue -t R -n NAME``):
states with squeue's short forms, outcomes, name patterns and ``--since``. Pure: the store and the
hub turn a ``Selection`` into their own queries, so ``lz status`` and ``lz cancel`` mean the same
thing locally and against a hub.

States (case-insensitive, comma-separated or repeated):

=================  =============================================
word               lz states
=================  =============================================
an lz state        itself (``received`` ... ``cleaned``)
``PD``, pending    received, building, queued (not started yet)
``R``, running     running
``S``, suspended   paused
``CG``, completing cancelling, collecting (ending)
``active``         every state but cleaned
``all``            every state
=================  =============================================

Slurm's ended states (``CD``, ``F``, ``CA``, ``TO``, ``NF``) are outcomes in lz: ``--outcome CD``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time

from lz.core.errors import UserError, printable
from lz.core.machine import ACTIVE, STATES, Outcome, State

_WAITING = (State.RECEIVED.value, State.BUILDING.value, State.QUEUED.value)
_ENDING = (State.CANCELLING.value, State.COLLECTING.value)

STATE_WORDS: dict[str, tuple[str, ...]] = {
    "PD": _WAITING, "PENDING": _WAITING,
    "R": (State.RUNNING.value,),
    "S": (State.PAUSED.value,), "SUSPENDED": (State.PAUSED.value,),
    "CG": _ENDING, "COMPLETING": _ENDING,
    "ACTIVE": ACTIVE,
    "ALL": tuple(STATES),
}
"""squeue's words (upper case) for lz states; an lz state's own name always means itself."""

OUTCOME_WORDS: dict[str, str] = {
    "CD": Outcome.SUCCEEDED.value, "COMPLETED": Outcome.SUCCEEDED.value,
    "F": Outcome.FAILED.value,
    "CA": Outcome.CANCELLED.value,
    "TO": Outcome.TIMED_OUT.value, "TIMEOUT": Outcome.TIMED_OUT.value,
    "NF": Outcome.LOST.value, "NODE_FAIL": Outcome.LOST.value,
}
"""squeue's ended states (upper case) for lz outcomes; an outcome's own name means itself."""

OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome)
MAX_WORDS = 32  # more words than states and outcomes together: a mistake, not a filter
MAX_PATTERNS = 8
MAX_PATTERN = 128  # a job name's own limit


@dataclass(frozen=True)
class Selection:
    """Jobs by state, outcome, name pattern and creation time; empty fields select everything.
    ``limit``: the newest that many (None: all)."""

    states: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    since: float | None = None
    limit: int | None = None

    def filters(self) -> bool:
        """Whether anything narrows the selection (a limit alone does not)."""
        return bool(self.states or self.outcomes or self.names or self.since is not None)


def _words(values: Iterable[str], what: str) -> list[str]:
    words = [w.strip() for v in values for w in v.split(",") if w.strip()]
    if len(words) > MAX_WORDS:
        raise UserError(f"too many {what}s ({len(words)}; at most {MAX_WORDS})")
    return words


def parse_states(values: Iterable[str]) -> tuple[str, ...]:
    """lz states from ``-t`` words (``R,PD``, ``running``, ``active``), in lifecycle order."""
    found: set[str] = set()
    for word in _words(values, "state"):
        if word.lower() in STATES:
            found.add(word.lower())
        elif word.upper() in STATE_WORDS:
            found.update(STATE_WORDS[word.upper()])
        elif word.upper() in OUTCOME_WORDS or word.lower() in OUTCOMES:
            raise UserError(f"{printable(word[:32])!r} is an outcome in lz, not a state: use --outcome {word[:32]}")
        else:
            raise UserError(f"unknown state {printable(word[:32])!r} (states: {', '.join(STATES)}; "
                            f"squeue's PD, R, S, CG; active, all)")
    return tuple(s for s in STATES if s in found)


def parse_outcomes(values: Iterable[str]) -> tuple[str, ...]:
    """lz outcomes from ``--outcome`` words (``failed``, ``CD``, ``TO``)."""
    found: set[str] = set()
    for word in _words(values, "outcome"):
        if word.lower() in OUTCOMES:
            found.add(word.lower())
        elif word.upper() in OUTCOME_WORDS:
            found.add(OUTCOME_WORDS[word.upper()])
        else:
            raise UserError(f"unknown outcome {printable(word[:32])!r} (outcomes: {', '.join(OUTCOMES)}; "
                            f"squeue's CD, F, CA, TO, NF)")
    return tuple(o for o in OUTCOMES if o in found)


def compact_state(state: str, outcome: str | None) -> str:
    """squeue's compact state (``%t``): PD, R, S, CG, or for an ended job its outcome's code."""
    for code in ("PD", "R", "S", "CG"):
        if state in STATE_WORDS[code]:
            return code
    by_outcome = {o: code for code, o in OUTCOME_WORDS.items() if len(code) <= 2}
    return by_outcome.get(outcome or "", "CD")


def check_patterns(values: Iterable[str]) -> tuple[str, ...]:
    """``-n`` patterns, checked for size (``*`` any characters, ``?`` one; case-insensitive)."""
    patterns = tuple(v for v in values if v)
    if len(patterns) > MAX_PATTERNS:
        raise UserError(f"too many name patterns ({len(patterns)}; at most {MAX_PATTERNS})")
    for pattern in patterns:
        if len(pattern) > MAX_PATTERN:
            raise UserError(f"name pattern longer than {MAX_PATTERN} characters")
    return patterns


def like_pattern(glob: str) -> str:
    """A ``*``/``?`` pattern as SQL LIKE with ``\\`` as the escape: ``%``, ``_`` and ``\\`` are
    literal in the user's pattern."""
    out = []
    for char in glob:
        if char in "%_\\":
            out.append("\\" + char)
        else:
            out.append({"*": "%", "?": "_"}.get(char, char))
    return "".join(out)


_DURATION = re.compile(r"^(?:(\d{1,6})w)?(?:(\d{1,6})d)?(?:(\d{1,7})h)?(?:(\d{1,9})m)?(?:(\d{1,10})s)?$")
_UNITS = (7 * 86400, 86400, 3600, 60, 1)


def parse_since(text: str, now: float) -> float:
    """``--since``: a duration back from ``now`` (``90s``, ``15m``, ``2h``, ``3d``, ``1w``,
    ``1h30m``), a clock time today (``09:30``), or an ISO 8601 date or time (``2026-12-01``,
    ``2026-12-01T09:30``, ``...Z`` or ``+01:00``); without an offset, local time (as sacct)."""
    word = text.strip()
    if not word or len(word) > 40:
        raise UserError(f"--since {printable(word[:40])!r}: give a duration (2h, 30m, 1d) or a time")
    match = _DURATION.match(word.lower())
    if match and any(match.groups()):
        seconds = sum(int(n) * unit for n, unit in zip(match.groups(), _UNITS) if n)
        return now - min(seconds, 100 * 365 * 86400)
    try:
        if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", word):
            when = datetime.combine(datetime.fromtimestamp(now).date(), time.fromisoformat(word if word[2] == ":" else "0" + word))
        else:
            when = datetime.fromisoformat(word.replace("Z", "+00:00"))
        return when.timestamp()
    except (ValueError, OverflowError, OSError):
        raise UserError(f"--since {printable(word)!r}: give a duration (2h, 30m, 1d), a time (09:30) "
                        f"or a date (2026-12-01, 2026-12-01T09:30)") from None
