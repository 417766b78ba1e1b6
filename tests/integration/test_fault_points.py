"""Crash the daemon at every named crash point (``lz.host.faults.POINTS``), restart it, and check the
promise: each job cleaned exactly once, run at most once, results byte-identical to a crash-free
run, nothing left behind, every transition log a path through the state machine.

The batch: ``writer`` adds, changes and deletes files; ``plain`` writes one file; ``sleeper``
writes a file and sleeps until the test cancels it (so the cancel points are passed too). Each
job's script appends a line to a marker file outside lz's reach: one line per process run.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from lz.host import faults
from tests import figures
from tests.integration import invariants
from tests.integration.landing_zone import LandingZone
from tests.integration.slurm_cluster import requires_slurm

pytestmark = [pytest.mark.integration]

OUTCOMES = {"writer": "succeeded", "plain": "succeeded", "sleeper": "cancelled"}
RETRY_POINTS = ("submit.archived",)  # only a retried job passes it: test_retries_local.py crashes there
MIGRATION_POINTS = tuple(p for p in faults.POINTS if p.startswith("migrate."))
# the engine's points; the hub's and the agent's have their own tests (test_hub_fault_points.py,
# test_agent_fault_points.py): a daemon without a hub never passes them
ENGINE_POINTS = tuple(p for p in faults.POINTS if not p.startswith(("hub.", "agent.")) and p not in RETRY_POINTS)
_REFERENCE: dict[str, dict[str, Any]] = {}


def batch(root: Path, markers: Path) -> dict[str, Path]:
    scripts = {
        "writer": "mkdir -p out\nfor i in 1 2 3; do echo \"line $i\" > out/f$i.txt; done\n"
                  "echo more >> keep.txt\nrm gone.txt\n",
        "plain": "echo plain > plain.txt\n",
        "sleeper": "echo before the cancel > early.txt\n",
    }
    folders = {}
    for name, body in scripts.items():
        job = root / name
        job.mkdir(parents=True)
        (job / "keep.txt").write_text(f"kept by {name}\n")
        (job / "gone.txt").write_text("deleted by the writer\n")
        tail = "sleep 60\n" if name == "sleeper" else ""
        (job / "run.sh").write_text(f"{body}echo run >> {markers / name}\necho done {name}\n{tail}")
        (job / "lz.toml").write_text(f'name = "{name}"\ncommand = ["sh", "run.sh"]\n[resources]\ncpus = 1\n')
        folders[name] = job
    return folders


class Zone(LandingZone):
    """A landing zone whose daemon can be started armed with a crash point."""

    def start_armed(self, point: str) -> None:
        """Not waited for: an armed daemon may crash before it writes its pid file."""
        self.daemon.launch(self.run_argv(), env={**self.env, faults.ENV: point})


def make_zone(base: Path, executor: str) -> tuple[Zone, str]:
    prefix = f"lzf{secrets.token_hex(3)}-"
    # submit_grace_s: a submission the crash left unconfirmed is looked for this long, not 30 s
    config = f'job_prefix = "{prefix}"\nobserve_interval_s = 0.5\nlost_after_s = 60\nsubmit_grace_s = 8\n'
    if executor == "slurm":
        return Zone(base, container="slurm", tick=0.3, config=config, run_args=["--runtime", "none"]), prefix
    return Zone(base, container="none", tick=0.3, config=config), prefix


def drive(zone: Zone, ids: dict[str, str], markers: Path, timeout: float) -> bool:
    """Cancel the sleeper once it runs; True when the daemon died, False when every job is cleaned."""
    sleeper = next(job_id for job_id, name in ids.items() if name == "sleeper")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (markers / "sleeper").exists() and _state(zone, sleeper) in ("queued", "running"):
            zone.cli("cancel", sleeper)
        if zone.proc is not None and zone.proc.poll() is not None:
            return True
        if all(_state(zone, j) == "cleaned" for j in ids):
            return False
        time.sleep(0.1)
    raise AssertionError(f"neither a crash nor the end in {timeout}s:\n{zone.daemon_log()[-3000:]}")


def _state(zone: Zone, job_id: str) -> str | None:
    from tests.integration.landing_zone import job_states

    return job_states(zone.db).get(job_id)


def run_batch(base: Path, executor: str, point: str | None) -> tuple[Zone, dict[str, str], Path, str, bool]:
    """One batch through a landing zone, crashed at ``point`` (None: no crash); returns the zone
    (stopped), the job ids, the marker directory, the prefix and whether the crash happened."""
    zone, prefix = make_zone(base / "lz", executor)
    markers = base / "markers"
    markers.mkdir()
    crashed = False
    if point in MIGRATION_POINTS:  # a fresh database: the daemon dies while creating its schema
        zone.start_armed(point)
        assert zone.proc is not None
        zone.proc.wait(60)
        crashed = zone.proc.returncode == faults.EXIT_STATUS
    ids = {zone.submit(folder): name for name, folder in batch(base / "jobs", markers).items()}
    try:
        if point is not None and point not in MIGRATION_POINTS:
            zone.start_armed(point)
            crashed = drive(zone, ids, markers, timeout=180)
        if crashed and point not in MIGRATION_POINTS:
            assert zone.proc is not None
            assert zone.proc.wait(10) == faults.EXIT_STATUS, zone.daemon_log()[-3000:]
            assert f"crash point {point} reached" in zone.daemon_log()
        if zone.proc is None or zone.proc.poll() is not None:
            zone.start()
        assert not drive(zone, ids, markers, timeout=180), f"the daemon died:\n{zone.daemon_log()[-3000:]}"
    finally:
        zone.stop()
    return zone, ids, markers, prefix, crashed


def reference(executor: str, factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The batch's results without a crash (once per executor per session)."""
    if executor not in _REFERENCE:
        zone, ids, markers, _, _ = run_batch(factory.mktemp(f"reference-{executor}"), executor, None)
        by_name = {name: invariants.result_digest(zone.db.parent / "results" / job_id) for job_id, name in ids.items()}
        _REFERENCE[executor] = by_name
    return _REFERENCE[executor]


def crash_and_check(executor: str, point: str, tmp_path: Path, factory: pytest.TempPathFactory) -> None:
    expected = reference(executor, factory)
    zone, ids, markers, prefix, crashed = run_batch(tmp_path, executor, point)
    verdict = invariants.check(zone, ids, markers, expected, OUTCOMES,
                               slurm_prefix=prefix if executor == "slurm" else None)
    figures.add(f"fault points ({executor})", fault_points_tried=1, jobs_checked=len(ids), lost=len(verdict.lost),
                duplicated=len(verdict.duplicated), leftovers=len(verdict.leftovers))
    assert crashed, f"the batch never passed {point}"
    assert verdict.problems() == [], f"{verdict}\n{zone.daemon_log()[-4000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("point", ENGINE_POINTS)
def test_local_crash_at(point: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    crash_and_check("local", point, tmp_path, tmp_path_factory)


@pytest.mark.slow
@pytest.mark.slurm
@requires_slurm
@pytest.mark.parametrize("point", ENGINE_POINTS)
def test_slurm_crash_at(point: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    crash_and_check("slurm", point, tmp_path, tmp_path_factory)
