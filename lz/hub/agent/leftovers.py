"""What a SIGKILL can leave in the agent's two areas of the state folder, and the sweep that
removes it (at start and on a timer): a bundle or its cut download (``.part``) in the incoming
area, a results archive (a full copy of a job's results) in the outgoing area, and folders.

Every file the agent writes there is named for its claim (``<job>-<attempt>``), so the sweep
keeps exactly what an open claim in the outbox owns (the next try overwrites it) and removes the
rest: the claim was finished, handed back or fenced off while the process was dead, or the file
is from an older version. It runs on the syncer's thread, the only one that writes there.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection, Iterable
from pathlib import Path

from lz.host.fs import remove_tree

log = logging.getLogger("lz.hub.agent.leftovers")

_NAME = re.compile(r"^\.?(?P<id>[0-9a-f]{1,32})-(?P<attempt>[0-9]{1,7})\.(?:tar\.gz|tar\.gz\.part|tar)$")


def bundle_name(job_id: str, attempt: int) -> str:
    """The claimed job's bundle in the incoming area (its download goes to ``.NAME.part`` first)."""
    return f"{job_id}-{attempt}.tar.gz"


def archive_name(job_id: str, attempt: int) -> str:
    """The attempt's results archive in the outgoing area (one name per attempt: a retry after a
    crash overwrites the copy the crash left)."""
    return f"{job_id}-{attempt}.tar"


def owner(name: str) -> tuple[str, int] | None:
    """The claim (hub job id, attempt) a file of the areas belongs to; None for any other name."""
    found = _NAME.match(name)
    return None if found is None else (found["id"], int(found["attempt"]))


def stale(entries: Iterable[tuple[str, bool]], open_claims: Collection[tuple[str, int]]) -> list[str]:
    """Of an area's entries (name, is a folder), those to remove: folders (the agent makes none
    there) and files no open claim owns."""
    return [name for name, folder in entries if folder or owner(name) not in open_claims]


def remove_owned(areas: Iterable[Path], claim: tuple[str, int]) -> None:
    """Remove the files one claim owns (it was just forgotten)."""
    job_id, attempt = claim
    for area in areas:
        for name in (bundle_name(job_id, attempt), f".{bundle_name(job_id, attempt)}.part",
                     archive_name(job_id, attempt)):
            (area / name).unlink(missing_ok=True)


def sweep(areas: Iterable[Path], open_claims: Collection[tuple[str, int]]) -> list[Path]:
    """Remove the stale entries of each area; returns what went."""
    removed = []
    for area in areas:
        try:
            with os.scandir(area) as listing:
                entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in listing]
        except FileNotFoundError:
            continue
        for name in stale(entries, open_claims):
            path = area / name
            try:
                remove_tree(path)
            except OSError as exc:
                log.warning("could not remove the leftover %s: %s", path, exc)
                continue
            removed.append(path)
    if removed:
        log.warning("removed %d leftover(s) of an earlier run: %s", len(removed), ", ".join(p.name for p in removed))
    return removed
