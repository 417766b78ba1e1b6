"""Helpers for the outage drills: a batch of small jobs with marker files, an in-process landing
zone on an injected clock, and the verdict line each drill prints."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests import figures
from tests.clock import Clock
from tests.integration import invariants
from tests.integration.landing_zone import LandingZone


def jobs(root: Path, markers: Path, count: int, sleep: float, time_limit: str = "00:10:00",
         extra: str = "") -> dict[str, Path]:
    """``count`` jobs that write a file, sleep, and append to their marker (one line per run)."""
    markers.mkdir(parents=True, exist_ok=True)
    folders = {}
    for i in range(count):
        name = f"job{i}"
        job = root / name
        job.mkdir(parents=True)
        (job / "run.sh").write_text(f"echo run >> {markers / name}\n{extra}echo {name} > out.txt\nsleep {sleep}\n"
                                    f"echo done >> out.txt\n")
        (job / "lz.toml").write_text(f'name = "{name}"\ncommand = ["sh", "run.sh"]\n'
                                     f'[resources]\ncpus = 1\ntime = "{time_limit}"\n')
        folders[name] = job
    return folders


class JumpingClock(Clock):
    """The real wall clock plus the steps the drill takes (NTP stepping the clock, an admin's
    date -s): the drill runs real jobs, so time must pass by itself too. ``now`` holds the steps."""

    def __init__(self) -> None:
        super().__init__(now=0.0)

    def __call__(self) -> float:
        return time.time() + self.now


def verdict(drill: str, zone: LandingZone, ids: dict[str, str], markers: Path, outcomes: dict[str, str],
            survived: str, slurm_prefix: str | None = None) -> invariants.Verdict:
    found = invariants.check(zone, ids, markers, None, outcomes, slurm_prefix=slurm_prefix)
    figures.add("outage drills", faults_survived=0 if found.problems() else 1, jobs_checked=len(ids),
                lost=len(found.lost), duplicated=len(found.duplicated), leftovers=len(found.leftovers))
    print(f"\n{drill}: {'survived' if not found.problems() else 'FAILED'}: {survived}")
    return found


def wait(predicate: Callable[[], bool], timeout: float, what: str, step: Callable[[], None] | None = None) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if step is not None:
            step()
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
