"""Outage drills: the clock jumping, the database locked, the work root full, the controller gone.
Each: no job lost or duplicated, a clear reason, recovery without a restart once the fault is gone.
Each prints what it survived; the figures line adds them up."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lz.config import load_settings
from lz.core.events import Listeners
from lz.engine import assembly
from lz.executors.local import LocalExecutor
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import upgrade
from tests.integration.landing_zone import LandingZone, job_states
from tests.integration.outage_zone import JumpingClock, jobs, verdict, wait
from tests.integration.slurm_cluster import controller, requires_slurm

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def zone_at(base: Path, config: str = "", **kwargs: object) -> LandingZone:
    prefix = f"lzo{secrets.token_hex(3)}-"
    config = f'job_prefix = "{prefix}"\nobserve_interval_s = 0.3\n{config}'
    return LandingZone(base, container="none", tick=0.3, config=config, **kwargs)  # type: ignore[arg-type]


def test_clock_jumping_forward_and_back(tmp_path: Path) -> None:
    """An hour forward while jobs run (no time limit may fire, nothing may count as lost), then two
    hours back (the daemon must keep looking at its jobs, not wait for the clock to catch up)."""
    zone = zone_at(tmp_path / "lz")
    markers = tmp_path / "markers"
    ids = {zone.submit(folder): name for name, folder in jobs(tmp_path / "jobs", markers, 3, sleep=3).items()}
    settings = load_settings(environ=zone.env)
    clock = JumpingClock()
    db = make_engine(settings.db)
    upgrade(db)
    store = JobStore(db, clock=clock)
    lz = assembly.landing_zone(settings, store, runtime_=assembly.runtime(settings),
                               executor_=LocalExecutor(slots=3, clock=clock), listeners=Listeners(),
                               wake=lambda: None, clock=clock)
    try:
        wait(lambda: all((markers / n).exists() for n in ids.values()), 60, "every job running", lz.engine.tick)
        clock.step(3600)
        for _ in range(10):
            lz.engine.tick()
            time.sleep(0.1)
        clock.step(-7200)
        wait(lambda: set(job_states(zone.db).values()) == {"cleaned"}, 60, "every job cleaned", lz.engine.tick)
    finally:
        lz.engine.shutdown()
    found = verdict("clock drill", zone, ids, markers, dict.fromkeys(ids.values(), "succeeded"),
                    "the clock jumped 1 h forward and 2 h back while 3 jobs ran")
    assert found.problems() == []


def mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_work_root_full_during_a_build_and_during_collection(tmp_path: Path) -> None:
    """A 1 MiB work root: one job cannot even be staged (a 2 MiB input), one fills the disk while it
    runs and is collected from a full disk. The first waits, with the reason in ``lz status``; once
    the work root grows, everything finishes without a restart."""
    zone = zone_at(tmp_path / "lz")
    mount_tmpfs(zone.workdir, "1m")
    markers = tmp_path / "markers"
    try:
        folders = jobs(tmp_path / "jobs", markers, 3, sleep=0.5)
        (folders["job0"] / "big.bin").write_bytes(os.urandom(2 << 20))
        (folders["job1"] / "run.sh").write_text(
            f"echo run >> {markers / 'job1'}\nhead -c 4M /dev/zero > filler 2>/dev/null\necho full > out.txt\nexit 0\n")
        zone.start()
        ids = {zone.submit(folder): name for name, folder in folders.items()}
        big = next(j for j, n in ids.items() if n == "job0")
        wait(lambda: "waiting for space in the work root" in (zone.status(big).get("reason") or ""), 60,
             "the reason in lz status")
        reason = zone.status(big)["reason"]
        subprocess.run(["mount", "-o", "remount,size=64m", str(zone.workdir)], check=True)
        zone.wait_all_cleaned(list(ids), timeout=120)
    finally:
        zone.stop()
        subprocess.run(["umount", "-l", str(zone.workdir)], check=False)
    found = verdict("work root full", zone, ids, markers, dict.fromkeys(ids.values(), "succeeded"),
                    f"a 1 MiB work root: staging waited ({reason!r}), a full disk collected, grown without restart")
    assert found.problems() == [], found


HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
"""


def test_database_locked_past_the_busy_timeout(tmp_path: Path) -> None:
    """Another process holds the write lock for 8 s while jobs run; the daemon's busy timeout is
    1 s. It must say so in one line, lose and repeat nothing, and carry on once the lock is gone."""
    zone = zone_at(tmp_path / "lz", config="busy_timeout_s = 1\n")
    markers = tmp_path / "markers"
    folders = jobs(tmp_path / "jobs", markers, 3, sleep=2)
    try:
        zone.start()
        ids = {zone.submit(folder): name for name, folder in folders.items()}
        wait(lambda: any((markers / n).exists() for n in ids.values()), 60, "a job running")
        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(zone.db), "8"], stdout=subprocess.PIPE,
                                  text=True)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        status_while_locked = zone.cli("status").stdout
        assert holder.wait(30) == 0
        assert zone.proc is not None and zone.proc.poll() is None, "the daemon died of a locked database"
        zone.wait_all_cleaned(list(ids), timeout=120)
    finally:
        zone.stop()
    log = zone.daemon_log()
    assert "database is locked" in log and "Traceback" not in log, log[-3000:]
    found = verdict("database locked", zone, ids, markers, dict.fromkeys(ids.values(), "succeeded"),
                    "the write lock held 8 s by another process (busy timeout 1 s) while 3 jobs ran; "
                    f"lz status meanwhile: {status_while_locked.splitlines()[0]!r}")
    assert found.problems() == [], found


def strangers_in_queue(prefix: str) -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True, timeout=30).stdout
    return [name for name in out.split() if not name.startswith(prefix)]


@pytest.mark.slurm
@requires_slurm
def test_controller_stopped_and_slurmd_killed_while_jobs_run(tmp_path: Path) -> None:
    """slurmctld stopped and slurmd SIGKILLed while 3 jobs run; 25 s later both come back. Jobs keep
    their state meanwhile, ``lz status`` says the controller is unreachable, and once it answers
    every job ends once, as it really ended. Refuses to run while anybody else's jobs are queued:
    the cluster is taken down for everyone."""
    zone = LandingZone(tmp_path / "lz", container="slurm", tick=0.5, run_args=["--runtime", "none"],
                       config=f'job_prefix = "lzc{secrets.token_hex(3)}-"\nobserve_interval_s = 1\n'
                              "backoff_max_s = 4\nlost_after_s = 120\n")
    prefix = load_settings(environ=zone.env).job_prefix
    deadline = time.monotonic() + 120  # jobs of the test before may still be draining
    while strangers_in_queue(prefix) and time.monotonic() < deadline:
        time.sleep(2)
    if strangers_in_queue(prefix):
        pytest.skip(f"other jobs are queued on this Slurm: {strangers_in_queue(prefix)[:5]}")
    markers = tmp_path / "markers"
    folders = jobs(tmp_path / "jobs", markers, 3, sleep=20)
    try:
        zone.start()
        ids = {zone.submit(folder): name for name, folder in folders.items()}
        wait(lambda: all((markers / n).exists() for n in ids.values()), 120, "every job running")
        controller("stop-controller")
        slurmd_pid = Path("/var/tmp/lz-slurm/run/slurmd.pid")
        if slurmd_pid.exists():
            os.kill(int(slurmd_pid.read_text().split()[0]), 9)
        wait(lambda: "controller unreachable" in zone.cli("status").stdout, 60, "lz status to say so")
        said = next(line for line in zone.cli("status").stdout.splitlines() if "unreachable" in line)
        states = set(job_states(zone.db).values())
        time.sleep(25)
        assert set(job_states(zone.db).values()) <= states | {"running"}, "a job moved while nobody could know"
    finally:
        controller("up")  # idempotent: starts whatever is missing (slurmctld, slurmd), waits for the node
    try:
        zone.wait_all_cleaned(list(ids), timeout=240)
        assert "controller unreachable" not in zone.cli("status").stdout  # and it says so no more
    finally:
        zone.stop()
    found = verdict("controller outage", zone, ids, markers, dict.fromkeys(ids.values(), "succeeded"),
                    f"slurmctld stopped and slurmd killed for 25 s while 3 jobs ran; lz status said {said!r}",
                    slurm_prefix=prefix)
    assert found.problems() == [], found
