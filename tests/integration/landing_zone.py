"""A landing zone daemon as a real subprocess, for end-to-end and crash tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.integration.processes import Process


class LandingZone:
    """Runs ``lz run`` and the CLI against one database and work root under ``base``."""

    def __init__(self, base: Path, *, container: str = "none", tick: float = 0.5,
                 config: str = "", extra_env: dict[str, str] | None = None, run_args: Sequence[str] = (),
                 user: str | None = None):
        """``user``: run the daemon and the CLI as that account (the caller is root)."""
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.db = base / "state" / "lz.db"
        self.workdir = base / "work"
        self.config = base / "config.toml"
        self.config.write_text(config)
        self.container = container
        self.tick = tick
        self.run_args = list(run_args)
        runtime = run_args[run_args.index("--runtime") + 1] if "--runtime" in run_args else "auto"
        # the CLI and the daemon read the same settings, as they would from one config file
        self.env = {**os.environ, "LZ_DB": str(self.db), "LZ_WORKDIR": str(self.workdir),
                    "LZ_CONTAINER": container, "LZ_RUNTIME": runtime,
                    "LZ_CONFIG": str(self.config), "USER": os.environ.get("USER", "root"), **(extra_env or {})}
        self.daemon = Process(base, "daemon", self.env)
        self.as_user: dict[str, Any] = {}
        if user is not None:
            import pwd

            entry = pwd.getpwnam(user)
            self.as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
            for path in (base, self.config):
                os.chown(path, entry.pw_uid, entry.pw_gid)

    # -- daemon ---------------------------------------------------------------------------------
    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.daemon.proc

    def run_argv(self) -> list[str]:
        return [sys.executable, "-m", "lz.cli", "run", "--container", self.container, "--tick", str(self.tick),
                "-v", *self.run_args]

    def start(self) -> None:
        """Started once its pid file names it (it holds the zone's lock by then): a killed daemon's
        file, still there, must not pass for it (a stop sent before the new one blocks SIGTERM
        would kill it where it stands, and leave that file behind)."""
        pid_file = self.db.parent / "lz.pid"

        def ready() -> bool:
            try:
                return self.proc is not None and pid_file.read_text().strip() == str(self.proc.pid)
            except OSError:
                return False

        self.daemon.start(self.run_argv(), ready, **self.as_user)

    def kill9(self) -> None:
        """SIGKILL the daemon alone (jobs it started keep running, as after a real crash)."""
        self.daemon.kill9()

    def stop(self) -> None:
        self.daemon.stop(grace=60)

    def daemon_log(self) -> str:
        return self.daemon.log()

    # -- CLI ------------------------------------------------------------------------------------
    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "lz.cli", *args], env=self.env, capture_output=True,
                                text=True, timeout=timeout, **self.as_user)
        if check and result.returncode != 0:
            raise AssertionError(f"lz {' '.join(args)} -> {result.returncode}\n{result.stdout}\n{result.stderr}")
        return result

    def submit(self, path: Path, *args: str) -> str:
        return self.cli("submit", str(path), *args).stdout.strip().splitlines()[-1]

    def status(self, job_id: str | None = None) -> Any:
        return json.loads(self.cli("status", *([job_id] if job_id else []), "--json").stdout)

    def wait_all_cleaned(self, job_ids: Sequence[str], timeout: float = 120) -> dict[str, Any]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            jobs = {j["id"]: j for j in self.status() if j["id"] in job_ids}
            if len(jobs) == len(job_ids) and all(j["state"] == "cleaned" for j in jobs.values()):
                return jobs
            time.sleep(0.3)
        raise AssertionError(f"not all cleaned in {timeout}s: {self.status()}\n{self.daemon_log()[-4000:]}")

    def wait_for_state(self, job_id: str, states: Sequence[str], timeout: float = 60) -> dict[str, Any]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.status(job_id)
            if job["state"] in states:
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} never reached {states}: {self.status(job_id)}")

    def leftovers(self) -> list[str]:
        """Everything under the work root and the spool (both must be empty once jobs are cleaned)."""
        found = []
        for root in (self.workdir, self.db.parent / "spool"):
            if root.exists():
                found += [str(p) for p in root.rglob("*")]
        return found


def script_job(root: Path, name: str, script: str, toml: str = "") -> Path:
    """A job folder ``root/name`` that runs ``script`` with ``sh``; ``toml`` is added to its lz.toml."""
    job = root / name
    job.mkdir(parents=True)
    (job / "run.sh").write_text(script)
    (job / "lz.toml").write_text(f'name = "{name}"\ncommand = ["sh", "run.sh"]\n{toml}')
    return job


def job_states(db: Path) -> dict[str, str]:
    """Every job's state, read straight from SQLite (fast enough to catch short-lived states)."""
    import sqlite3

    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return dict(conn.execute("SELECT id, state FROM jobs").fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")
