"""The promise, as checks: every job ends exactly once, runs at most once, returns the same results
as a run without faults, leaves nothing behind, and moved only along the state machine's arrows.

Shared by the fault-point suite and the outage drills; each check returns the problems it found
(empty: the promise held), sorted into lost, duplicated and leftovers for the figures.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lz.core.errors import InvalidTransition
from lz.core.machine import Lifecycle
from tests.integration.landing_zone import LandingZone

_LIFECYCLE = Lifecycle()


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [*self.lost, *self.duplicated, *self.leftovers, *self.other]


def histories(db: Path) -> dict[str, list[tuple[str, str, str]]]:
    """job id -> its transitions (from, to, event) in order, straight from SQLite."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute("SELECT job_id, from_state, to_state, event FROM transitions ORDER BY id").fetchall()
    finally:
        conn.close()
    found: dict[str, list[tuple[str, str, str]]] = {}
    for job_id, source, dest, event in rows:
        found.setdefault(job_id, []).append((source, dest, event))
    return found


def path_problems(history: list[tuple[str, str, str]]) -> list[str]:
    """Where a transition log leaves the state machine (empty: a valid path from receive to cleaned)."""
    if not history or history[0] != ("", "received", "receive"):
        return [f"does not start with receive: {history[:1]}"]
    problems = []
    state = "received"
    for source, dest, event in history[1:]:
        if source != state:
            problems.append(f"{event}: from {source} but the job was {state}")
        try:
            expected = _LIFECYCLE.next_state(source, event)
        except InvalidTransition as exc:
            problems.append(f"{event} from {source}: {exc}")
            expected = dest
        if expected != dest:
            problems.append(f"{event} from {source} led to {dest}, not {expected}")
        state = dest
    return problems


def result_digest(results: Path) -> dict[str, Any]:
    """What a job returned, without times: manifest entries and the archive's member contents."""
    manifest = json.loads((results / "manifest.json").read_text())
    entries = sorted((e["path"], e["status"], e["type"], e["size"], e["sha256"]) for e in manifest["entries"])
    members: dict[str, str | None] = {}
    with tarfile.open(results / "results.tar.gz") as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            members[member.name] = hashlib.sha256(handle.read()).hexdigest() if handle else member.type.decode()
    return {"entries": entries, "members": members}


def tmp_traces(job_ids: Iterable[str], roots: Iterable[Path] = (Path("/tmp"),)) -> list[str]:
    """Build scratch or anything else named after these jobs in /tmp (one level, like the runtimes use)."""
    ids = list(job_ids)
    found = []
    for root in roots:
        for entry in root.iterdir() if root.is_dir() else ():
            if any(job_id in entry.name for job_id in ids):
                found.append(str(entry))
    return found


def slurm_count(name: str) -> int:
    out = subprocess.run(["squeue", "-h", "--states=all", f"--name={name}", "-o", "%i"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return len(set(out.split()))


def check(zone: LandingZone, ids: Mapping[str, str], markers: Path, reference: Mapping[str, Any] | None,
          outcomes: Mapping[str, str], slurm_prefix: str | None = None) -> Verdict:
    """Every invariant for the jobs ``ids`` (job id -> the name the batch gave it)."""
    verdict = Verdict()
    logs = histories(zone.db)
    results_root = zone.db.parent / "results"
    for job_id, name in ids.items():
        history = logs.get(job_id, [])
        cleans = sum(1 for _, _, event in history if event == "clean")
        if cleans == 0 or history[-1][1] != "cleaned":
            verdict.lost.append(f"{name}: never cleaned ({history[-1:]})")
        if cleans > 1:
            verdict.duplicated.append(f"{name}: cleaned {cleans} times")
        verdict.other += [f"{name}: {p}" for p in path_problems(history)]
        runs = len((markers / name).read_text().splitlines()) if (markers / name).exists() else 0
        if runs > 1:
            verdict.duplicated.append(f"{name}: its process ran {runs} times")
        if slurm_prefix is not None and slurm_count(f"{slurm_prefix}{job_id}") > 1:
            verdict.duplicated.append(f"{name}: more than one SLURM job")
        outcome = zone_outcome(zone, job_id)
        if outcome != outcomes[name]:
            verdict.lost.append(f"{name}: outcome {outcome}, expected {outcomes[name]}")
        if reference is not None:
            results = results_root / job_id
            if not (results / "manifest.json").exists():
                verdict.lost.append(f"{name}: no results stored")
            elif result_digest(results) != reference[name]:
                verdict.lost.append(f"{name}: results differ from the crash-free run")
    verdict.leftovers += zone.leftovers()
    if results_root.is_dir():
        verdict.leftovers += [str(p) for p in results_root.iterdir() if p.name not in ids]
    verdict.leftovers += tmp_traces(ids)
    return verdict


def zone_outcome(zone: LandingZone, job_id: str) -> str | None:
    conn = sqlite3.connect(f"file:{zone.db}?mode=ro", uri=True, timeout=30)
    try:
        row = conn.execute("SELECT outcome FROM jobs WHERE id = ?", (job_id,)).fetchone()
    finally:
        conn.close()
    return row[0] if row else None


# -- no trace in the shared temporary directories ---------------------------------------------------
SHARED_TMP = (Path("/tmp"), Path("/var/tmp"))
FOREIGN_TMP = re.compile(os.environ.get("LZ_TEST_FOREIGN_TMP") or "^pytest-of-")
"""Names in /tmp that other programs make meanwhile: on a shared development machine, set
LZ_TEST_FOREIGN_TMP to a regular expression for them; CI runs nothing else, so the check is strict."""


def tmp_listing() -> dict[Path, set[str]]:
    """What /tmp, /var/tmp and this test worker's own scratch (when the suite runs in streams) hold."""
    own = Path(tempfile.gettempdir())
    return {d: set(os.listdir(d)) for d in dict.fromkeys((*SHARED_TMP, own)) if d.is_dir()}


def no_trace_in(before: dict[Path, set[str]]) -> None:
    for directory, names in before.items():
        new = sorted(n for n in set(os.listdir(directory)) - names if not FOREIGN_TMP.search(n))
        assert new == [], f"left in {directory}: {new}"
