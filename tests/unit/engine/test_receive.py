"""The intake door with a real SQLite store: a rejection is one commit (issue 8, defect 5), the
landing zone refuses what it can never give (defect 13), and the CLI says why in one line."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import event

from lz.config import Settings
from lz.intake.capacity import Capacity
from lz.intake.receive import Rejected, receive
from lz.store.db import make_engine
from lz.store.jobs import JobStore
from lz.store.migrate import upgrade
from tests.paths import ROOT
from tests.unit.corpus import bad_input, report_to, tried

REPO = ROOT


@pytest.fixture(autouse=True)
def _corpus(request: pytest.FixtureRequest) -> None:
    report_to(request.config)


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(db=tmp_path / "state" / "lz.db", workdir=tmp_path / "work", runtime="none")


@pytest.fixture()
def store(settings: Settings) -> JobStore:
    engine = make_engine(settings.db)
    upgrade(engine)
    return JobStore(engine)


def job_folder(base: Path, name: str, files: dict[str, str]) -> Path:
    folder = base / name
    folder.mkdir(parents=True)
    for rel, text in files.items():
        (folder / rel).write_text(text)
    return folder


BAD_FOLDERS = {
    "no-command": {"Dockerfile": "FROM busybox\n"},  # runtime none needs a command
    "bad-toml": {"lz.toml": "command = [\n"},
    "bad-cpus": {"lz.toml": 'command = ["true"]\n[resources]\ncpus = "²"\n'},
    "escaping-recipe": {"lz.toml": f'command = ["true"]\nrecipe = "{"../" * 20}etc/passwd"\n'},
}


def test_a_rejected_job_is_never_seen_received(tmp_path: Path, settings: Settings, store: JobStore) -> None:
    """After every commit, look at the database as another process would: a rejected job must
    never be visible in a state a tick could act on (it used to be ``received`` for one commit)."""
    seen: list[tuple[str, str]] = []

    @event.listens_for(store.engine.pool, "checkin")
    def _look(*_: object) -> None:  # a connection is returned after each transaction ends
        with sqlite3.connect(settings.db) as db:
            seen.extend(db.execute("SELECT id, state FROM jobs").fetchall())

    rejected = []
    for round_ in range(5):
        for name, files in BAD_FOLDERS.items():
            with bad_input(Rejected):
                try:
                    receive(store, settings, job_folder(tmp_path / f"r{round_}", name, files))
                except Rejected as exc:
                    rejected.append(exc.job)
                    raise
    assert {state for _, state in seen} == {"cleaned"}
    for job in rejected:
        assert job.state == "cleaned" and job.outcome == "failed" and job.reason.startswith("rejected at intake: ")
        assert job.ended_at is not None
        assert [(t.from_state, t.to_state, t.event) for t in store.history(job.id)] == [
            ("", "received", "receive"), ("received", "cleaned", "reject")]
    assert sorted(os.listdir(settings.spool_dir)) == [], "no spool entry for a rejected job"


def test_beyond_this_machine_is_refused_locally(tmp_path: Path, settings: Settings, store: JobStore) -> None:
    folder = job_folder(tmp_path, "huge", {"lz.toml": 'command = ["true"]\n[resources]\ncpus = 4\n'})
    with bad_input(Rejected, r"cpus 4 is more than this landing zone can give one job \(2\)"):
        receive(store, settings, folder, capacity=Capacity(cpus=2))
    cpus = os.cpu_count() or 1
    with bad_input(Rejected, rf"cpus {cpus + 1} is more than this landing zone can give one job \({cpus}\)"):
        receive(store, settings, folder, overrides={"cpus": str(cpus + 1)})  # this machine's own capacity
    job = receive(store, settings, folder, capacity=Capacity(cpus=4))
    assert job.state == "received" and (settings.spool_dir / job.id / "lz.toml").is_file()


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LZ_DB": str(settings.db), "LZ_WORKDIR": str(settings.workdir), "LZ_CONTAINER": "none",
           "LZ_CONFIG": str(settings.db.parent.parent / "absent.toml")}
    (settings.db.parent.parent / "absent.toml").write_text("")
    return subprocess.run([sys.executable, "-m", "lz.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, cwd=REPO)


def test_cli_prints_the_reason_in_one_line(tmp_path: Path, settings: Settings) -> None:
    good = job_folder(tmp_path, "good", {"lz.toml": 'command = ["true"]\n'})
    cases = [
        (["submit", str(job_folder(tmp_path, "nocmd", BAD_FOLDERS["no-command"]))], "`command` is required"),
        (["submit", "--time", "²", str(good)], "time '²' is not a SLURM time"),
        (["submit", "--cpus", "4096", str(good)], "cpus 4096 is more than this landing zone can give one job"),
        (["submit", str(job_folder(tmp_path, "tomldir", {}))], None),
    ]
    (tmp_path / "tomldir" / "lz.toml").mkdir()
    for args, reason in cases:
        tried()
        result = _cli(settings, *args)
        errors = [line for line in result.stderr.splitlines() if line.startswith("lz: error: ")]
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert len(errors) == 1 and (reason or "lz.toml: must be a regular file") in errors[0], result.stderr


def test_an_intake_holds_the_intake_lock_from_its_copy_to_its_row(tmp_path: Path, settings: Settings,
                                                                  store: JobStore, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The daemon's recovery removes a spool entry without a row at once only when it can take
    the intake lock: while a copy is made and until its row commits, it cannot."""
    import lz.intake.receive as receive_module
    from lz.host.intake_lock import no_intake_in_flight

    seen: list[bool] = []
    real_create = store.create

    def create(*args, **kwargs):  # type: ignore[no-untyped-def]
        with no_intake_in_flight(settings.spool_dir) as quiet:
            seen.append(quiet)
        return real_create(*args, **kwargs)

    real_stage = receive_module.stage_bundle

    def stage(*args, **kwargs):  # type: ignore[no-untyped-def]
        with no_intake_in_flight(settings.spool_dir) as quiet:
            seen.append(quiet)
        return real_stage(*args, **kwargs)

    monkeypatch.setattr(store, "create", create)
    monkeypatch.setattr(receive_module, "stage_bundle", stage)
    folder = job_folder(tmp_path, "ok", {"lz.toml": 'command = ["true"]\n'})
    receive(store, settings, folder)
    assert seen == [False, False]
    with no_intake_in_flight(settings.spool_dir) as quiet:
        assert quiet  # released once the row is there
