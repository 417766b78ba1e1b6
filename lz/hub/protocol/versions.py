"""Comparing lz versions: the hub's minimum and latest against what a landing zone runs.

Versions come from git tags (setuptools-scm), so a landing zone may run a development build:
``0.2.1.dev4+g1a2b3c`` is four commits after 0.2.0, before 0.2.1 (PEP 440's order: dev < a < b
< rc < the release < post). The local part (``+g…``) does not count."""

from __future__ import annotations

import re

_VERSION = re.compile(r"v?(\d+(?:\.\d+)*)(.*)", re.I)
_PHASES = (("dev", -4), ("a", -3), ("b", -2), ("c", -1), ("rc", -1), ("post", 1))


def version_key(text: str) -> tuple[int, ...]:
    """``0.10.2`` -> (0, 10, 2, 0, 0, 0): numeric, so 0.10 sorts after 0.9 (the first four
    numbers), then the phase (a dev build or a pre-release before its release) and its number."""
    found = _VERSION.match(text.strip().split("+", 1)[0])
    if found is None:
        return (0, 0, 0, 0, -5, 0)
    release = [int(n) for n in found.group(1).split(".")[:4]]
    release += [0] * (4 - len(release))
    rest = found.group(2).lower().lstrip(".-_")
    phase, number = 0, 0
    for name, rank in sorted(_PHASES, key=lambda item: -len(item[0])):
        if rest.startswith(name):
            digits = re.match(r"[._-]?(\d*)", rest[len(name):])
            phase, number = rank, int(digits.group(1) or 0) if digits else 0
            break
    return (*release, phase, number)


def below(version: str, other: str) -> bool:
    return version_key(version) < version_key(other)


PROTOCOL = 4
"""What this hub speaks to landing zones, told in every claim answer (``ClaimOut.protocol``;
absent: 1). 2 (issue 22, fewer requests per job): a claim asking ``?inline=BYTES`` gets each
claimed job's bundle inside the answer when it is at most that big (and ``INLINE_BUNDLE_MAX``):
no download request; and a finish may carry the attempt's last transitions
(``FinishIn.events``): no report request before it. Older agents ask neither and get neither;
a newer agent sends events with a finish only to a hub that said 2. 3 (issue 23, a pilot's cost per
job): a claim may name the zone's jobs whose process ended (``ClaimIn.ended``), which then take
no room, so a short job needs no report of its end before the next claim: its transitions all go
with its finish. A newer agent names them only to a hub that said 3 (an older one refuses the field).
4 (issue 22, the hub's cost per job): a finish may carry the attempt's results inline
(``FinishIn.results_inline``, base64 of the results tar, at most ``INLINE_RESULTS_MAX``): no upload
request and no fence reads before it. Larger results, and any to a hub that did not say 4, go up
as before (``PUT …/results``, then the finish)."""
INLINE_BUNDLE_MAX = 64 << 10
"""The largest bundle a claim answer carries inline (base64: a third more on the wire)."""
INLINE_RESULTS_MAX = 64 << 10
"""The largest results tar a finish carries inline (protocol 4; well under the 1 MiB JSON cap)."""
