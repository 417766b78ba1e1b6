"""The gateway (`lz run --container slurm`) against the real single-node Slurm."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone, job_states, wait_until
from tests.integration.slurm_cluster import ROOT, requires_slurm, slurm_jobs_named

pytestmark = [pytest.mark.slurm, pytest.mark.integration, requires_slurm]


def gateway(tmp_path: Path, **kwargs: object) -> LandingZone:
    base = tmp_path / "lz"
    # the work root must be on the "shared filesystem": on one node any local path is
    return LandingZone(base, container="slurm", run_args=["--runtime", "none", "--name", "test"],
                       config="[slurm]\nsstat_interval_s = 2\nlost_after_s = 30\n", **kwargs)  # type: ignore[arg-type]


def job_folder(root: Path, name: str, script: str, **toml: str) -> Path:
    job = root / name
    job.mkdir(parents=True)
    (job / "input.txt").write_text(f"input of {name}\n")
    (job / "run.sh").write_text(script)
    extra = "".join(f'{k} = "{v}"\n' for k, v in toml.items())
    (job / "lz.toml").write_text(f'name = "{name}"\ncommand = ["sh", "run.sh"]\n[resources]\ncpus = 1\n{extra}')
    return job


@pytest.fixture
def lz(tmp_path: Path):  # type: ignore[no-untyped-def]
    zone = gateway(tmp_path)
    yield zone
    zone.stop()


def test_twenty_jobs_succeed_with_their_results(lz: LandingZone, tmp_path: Path) -> None:
    lz.start()
    ids = {}
    for i in range(20):
        job = job_folder(tmp_path / "jobs", f"j{i:02d}", f"echo {i} > out.txt\ncat input.txt >> out.txt\nhostname\n")
        ids[lz.submit(job)] = i
    jobs = lz.wait_all_cleaned(list(ids), timeout=240)
    for job_id, i in ids.items():
        job = jobs[job_id]
        assert (job["outcome"], job["exit_code"]) == ("succeeded", 0), job
        assert job["slurm_job_id"] and job["executor"] == "slurm"
        out = tmp_path / "results" / job_id
        lz.cli("results", job_id, "-o", str(out))
        assert (out / "out.txt").read_text() == f"{i}\ninput of j{i:02d}\n"
        assert not (out / "input.txt").exists() and not (out / "run.sh").exists()
        assert len(slurm_jobs_named(f"lz-{job_id}")) == 1
    assert lz.leftovers() == []


def test_exit_code_and_noisy_job(lz: LandingZone, tmp_path: Path) -> None:
    lz.start()
    failing = lz.submit(job_folder(tmp_path / "jobs", "fails", "echo before > partial.txt\nexit 3\n"))
    noisy = lz.submit(job_folder(
        tmp_path / "jobs", "noisy",
        "i=0\nwhile [ $i -lt 200000 ]; do echo \"line $i of a chatty job\"; i=$((i+1)); done\n"
        "mkdir many\nfor i in $(seq 1 2000); do echo $i > many/f$i; done\n",
    ))
    jobs = lz.wait_all_cleaned([failing, noisy], timeout=180)
    assert (jobs[failing]["outcome"], jobs[failing]["exit_code"], jobs[failing]["reason"]) == ("failed", 3, "exit code 3")
    assert jobs[noisy]["outcome"] == "succeeded"
    out = tmp_path / "noisy"
    lz.cli("results", noisy, "-o", str(out))
    assert len(list((out / "many").iterdir())) == 2000
    assert (out / ".lz" / "stdout").read_text().count("\n") == 200000
    partial = tmp_path / "partial"
    lz.cli("results", failing, "-o", str(partial))
    assert (partial / "partial.txt").read_text() == "before\n"


def test_cancel_pending_and_running(lz: LandingZone, tmp_path: Path) -> None:
    lz.start()
    cpus = os.cpu_count() or 2
    holder = lz.submit(job_folder(tmp_path / "jobs", "holder", "echo up > up.txt\nsleep 120\n", time="00:05:00"),
                       "--cpus", str(cpus))
    lz.wait_for_state(holder, ["running"], timeout=60)
    waiting = lz.submit(job_folder(tmp_path / "jobs", "waiting", "echo never > never.txt\n"), "--cpus", str(cpus))
    wait_until(lambda: (lz.status(waiting).get("pending_reason") or "") != "", 60, "a pending reason")
    assert lz.status(waiting)["state"] == "queued"
    lz.cli("cancel", waiting)
    lz.cli("cancel", holder)
    jobs = lz.wait_all_cleaned([holder, waiting], timeout=120)
    assert jobs[waiting]["outcome"] == "cancelled" and jobs[holder]["outcome"] == "cancelled"
    out = tmp_path / "holder"
    lz.cli("results", holder, "-o", str(out))
    assert (out / "up.txt").read_text() == "up\n"


@pytest.mark.slow
def test_time_limit_is_timed_out(lz: LandingZone, tmp_path: Path) -> None:
    lz.start()
    job_id = lz.submit(job_folder(tmp_path / "jobs", "slow", "echo begun > begun.txt\nsleep 600\n", time="00:01:00"))
    job = lz.wait_all_cleaned([job_id], timeout=200)[job_id]
    assert (job["outcome"], job["reason"]) == ("timed_out", "time limit 00:01:00 reached")


@pytest.mark.slow
def test_sigkill_while_queued_running_and_after_sbatch(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    lz = gateway(tmp_path)
    try:
        ids = [lz.submit(job_folder(tmp_path / "jobs", f"c{i}", f"echo start >> {marks}/c{i}\nsleep {4 + i}\necho ok > ok.txt\n"))
               for i in range(4)]
        # 1. killed right after sbatch answered, before the SLURM id was committed
        lz.env["PATH"] = f"{ROOT / 'tests/data/bin-crash-after-sbatch'}:{os.environ['PATH']}"
        lz.start()
        lz.proc.wait(60)  # type: ignore[union-attr]
        lz.env["PATH"] = os.environ["PATH"]
        # 2. killed while jobs are queued, 3. while they run
        for target in ("queued", "running"):
            lz.start()
            wait_until(lambda target=target: target in job_states(lz.db).values(), 60, f"a job {target}")
            lz.kill9()
        lz.start()
        jobs = lz.wait_all_cleaned(ids, timeout=240)
        for i, job_id in enumerate(ids):
            assert jobs[job_id]["outcome"] == "succeeded", jobs[job_id]
            assert len(slurm_jobs_named(f"lz-{job_id}")) == 1, "submitted twice"
            assert (marks / f"c{i}").read_text() == "start\n"
        assert lz.leftovers() == []
    finally:
        lz.stop()


