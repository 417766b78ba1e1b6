"""Real Charliecloud builds and runs (local executor and SLURM gateway), and the Apptainer path
through its stand-in executable."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone
from tests.integration.slurm_cluster import ROOT, slurm_answers

pytestmark = [pytest.mark.integration]

have_charliecloud = shutil.which("ch-image") is not None and shutil.which("ch-run") is not None
requires_charliecloud = pytest.mark.skipif(not have_charliecloud, reason="Charliecloud (ch-image, ch-run) not installed")


@pytest.fixture(scope="module")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("images") / "busybox"
    subprocess.run([str(ROOT / "scripts" / "make-busybox-rootfs"), str(root)], check=True, capture_output=True)
    return root


def container_job(root: Path, name: str, dockerfile: str, script: str = "", command: bool = True) -> Path:
    job = root / name
    job.mkdir(parents=True)
    (job / "Dockerfile").write_text(dockerfile)
    (job / "input.txt").write_text("unchanged input\n")
    (job / "log.txt").write_text("first line\n")
    (job / "run.sh").write_text(script or "cat /built.txt > from-image.txt\necho appended >> log.txt\n")
    (job / "lz.toml").write_text(f'name = "{name}"\n' + ('command = ["sh", "run.sh"]\n' if command else ""))
    return job


DOCKERFILE = "FROM busybox\nRUN echo built-in-image > /built.txt\nCMD [\"sh\", \"run.sh\"]\n"


def check_results(lz: LandingZone, job_id: str, out: Path) -> None:
    lz.cli("results", job_id, "-o", str(out))
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and ".lz" not in p.parts)
    assert files == ["from-image.txt", "log.txt"]
    assert (out / "from-image.txt").read_text() == "built-in-image\n"
    assert (out / "log.txt").read_text() == "first line\nappended\n"
    manifest = json.loads((out / ".lz" / "manifest.json").read_text())
    assert {e["path"]: e["status"] for e in manifest["entries"]} == {"from-image.txt": "added", "log.txt": "modified"}
    assert "build" in (out / ".lz" / "build.log").read_text().lower()


def no_trace(lz: LandingZone, job_ids: list[str]) -> None:
    assert lz.leftovers() == []
    for root in (lz.workdir, lz.db.parent / "spool"):
        for path in root.rglob("*") if root.exists() else []:
            assert not any(j in str(path) for j in job_ids), path


@pytest.mark.charliecloud
@requires_charliecloud
def test_charliecloud_local(tmp_path: Path, busybox_rootfs: Path) -> None:
    lz = LandingZone(tmp_path / "lz", container="charliecloud",
                     config=f'build_timeout = 20\n[images]\nbusybox = "{busybox_rootfs}"\n')
    jobs = tmp_path / "jobs"
    try:
        lz.start()
        good = lz.submit(container_job(jobs, "good", DOCKERFILE))
        by_cmd = lz.submit(container_job(jobs, "bycmd", DOCKERFILE, command=False))
        broken = lz.submit(container_job(jobs, "broken", "FROM busybox\nRUN exit 7\n"))
        syntax = lz.submit(container_job(jobs, "syntax", "FROM busybox\nBOGUS instruction here\nRUN (\n"))
        forever = lz.submit(container_job(jobs, "forever", "FROM busybox\nRUN sleep 600\n"))
        cancelled = lz.submit(container_job(jobs, "cancelled", DOCKERFILE, script="sleep 300\n"))
        cancel_build = lz.submit(container_job(jobs, "cancelbuild", "FROM busybox\nRUN sleep 600\n"))
        lz.wait_for_state(cancel_build, ["building"], timeout=120)
        time.sleep(1)
        lz.cli("cancel", cancel_build)
        stopped = lz.wait_all_cleaned([cancel_build], timeout=15)[cancel_build]
        assert stopped["outcome"] == "cancelled", stopped
        lz.wait_for_state(cancelled, ["running"], timeout=120)
        lz.cli("cancel", cancelled)
        done = lz.wait_all_cleaned([good, by_cmd, broken, syntax, forever, cancelled], timeout=240)
        assert done[good]["outcome"] == "succeeded" and done[by_cmd]["outcome"] == "succeeded"
        check_results(lz, good, tmp_path / "out-good")
        check_results(lz, by_cmd, tmp_path / "out-bycmd")
        assert done[broken]["outcome"] == "failed" and done[broken]["reason"].startswith("build failed: build failed (exit")
        assert done[syntax]["outcome"] == "failed" and done[syntax]["reason"].startswith("build failed")
        assert done[forever]["outcome"] == "failed" and "timed out after 20s" in done[forever]["reason"]
        assert done[cancelled]["outcome"] == "cancelled"
        no_trace(lz, list(done))
        assert subprocess.run(["pgrep", "-f", "sleep 600"], capture_output=True).returncode != 0
    finally:
        lz.stop()


@pytest.mark.charliecloud
@pytest.mark.slurm
@requires_charliecloud
@pytest.mark.skipif(not slurm_answers(), reason="no Slurm answers here: run scripts/slurm-dev-cluster up")
def test_charliecloud_through_slurm(tmp_path: Path, busybox_rootfs: Path) -> None:
    lz = LandingZone(tmp_path / "lz", container="slurm", run_args=["--runtime", "charliecloud"],
                     config=f'[images]\nbusybox = "{busybox_rootfs}"\n')
    try:
        lz.start()
        job_id = lz.submit(container_job(tmp_path / "jobs", "viaslurm", DOCKERFILE))
        job = lz.wait_all_cleaned([job_id], timeout=180)[job_id]
        assert job["outcome"] == "succeeded" and job["slurm_job_id"], job
        check_results(lz, job_id, tmp_path / "out")
        no_trace(lz, [job_id])
    finally:
        lz.stop()


def test_apptainer_path_through_the_stand_in(tmp_path: Path, busybox_rootfs: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(ROOT / "tests" / "data" / "fake-apptainer", bin_dir / "apptainer")
    calls = bin_dir / "calls.jsonl"
    lz = LandingZone(tmp_path / "lz", container="apptainer", config=f'[images]\nbusybox = "{busybox_rootfs}"\n',
                     extra_env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    try:
        lz.start()
        job_id = lz.submit(container_job(tmp_path / "jobs", "appt", DOCKERFILE,
                                         script="echo built-in-image > from-image.txt\necho appended >> log.txt\n"))
        job = lz.wait_all_cleaned([job_id], timeout=60)[job_id]
        assert job["outcome"] == "succeeded", job
        recorded = [json.loads(line) for line in calls.read_text().splitlines()]
        build, run = recorded[0], recorded[1]
        work = lz.workdir / f"lz-{job_id}"
        assert build[1:] == ["build", f"{work}/runtime/image.sif", f"{work}/runtime/job.def"]
        assert run[1:] == ["exec", "--contain", "--cleanenv", "--pwd", "/lz/work", "--bind", f"{work}/work:/lz/work",
                           f"{work}/runtime/image.sif", "sh", "run.sh"]
        out = tmp_path / "out"
        lz.cli("results", job_id, "-o", str(out))
        assert (out / "log.txt").read_text() == "first line\nappended\n"
        no_trace(lz, [job_id])
    finally:
        lz.stop()


@pytest.mark.charliecloud
@pytest.mark.slow
@requires_charliecloud
def test_sigkill_during_a_container_build(tmp_path: Path, busybox_rootfs: Path) -> None:
    """The daemon dies mid-build; the orphaned build is killed, the image built again, the job
    succeeds once, and no process or file of the job is left."""
    from tests.integration.landing_zone import job_states, wait_until

    lz = LandingZone(tmp_path / "lz", container="charliecloud", config=f'[images]\nbusybox = "{busybox_rootfs}"\n')
    slow = DOCKERFILE.replace("RUN echo", "RUN sleep 8 && echo")
    try:
        job_id = lz.submit(container_job(tmp_path / "jobs", "slowbuild", slow))
        lz.start()
        wait_until(lambda: job_states(lz.db).get(job_id) == "building", 60, "the build")
        wait_until(lambda: subprocess.run(["pgrep", "-f", f"lz-{job_id}"], capture_output=True).returncode == 0,
                   30, "a build process")
        lz.kill9()
        lz.start()
        job = lz.wait_all_cleaned([job_id], timeout=180)[job_id]
        assert job["outcome"] == "succeeded", job
        history = lz.status(job_id)["history"]
        assert [h["event"] for h in history].count("built") == 1
        check_results(lz, job_id, tmp_path / "out")
        no_trace(lz, [job_id])
        assert subprocess.run(["pgrep", "-f", f"lz-{job_id}"], capture_output=True).returncode != 0
    finally:
        lz.stop()
