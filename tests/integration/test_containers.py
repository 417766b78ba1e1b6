"""Real container builds and runs, the same scenarios for every runtime on this machine
(Charliecloud, Apptainer, Singularity), through the local executor and through the SLURM gateway.

Apptainer and ``singularity`` come from scripts/install-apptainer on test machines. The stand-in
(tests/data/fake-apptainer) is kept only for what cannot run here: ``--nv`` needs a GPU.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.invariants import no_trace_in
from tests.integration.landing_zone import LandingZone, job_states, wait_until
from tests.integration.runtimes_present import runtimes
from tests.integration.slurm_cluster import ROOT, requires_slurm

pytestmark = [pytest.mark.integration]

ALL = runtimes("charliecloud", "apptainer", "singularity")
APPTAINER = runtimes("apptainer")

# -- images and jobs ------------------------------------------------------------------------------
def catalogue(images: dict[str, Path], extra: str = "") -> str:
    return extra + "[images]\n" + "".join(f'{name} = "{path}"\n' for name, path in images.items())


DOCKERFILE = 'FROM busybox\nRUN echo built-in-image > /built.txt\nCMD ["sh", "run.sh"]\n'
DEFINITION = ("Bootstrap: docker\nFrom: busybox\n\n%post\n    echo built-in-image > /built.txt\n"
              "%runscript\n    sh run.sh\n")
MULTI_STAGE = ("FROM busybox AS build\nWORKDIR /src\nRUN echo built-in-image > built.txt\n"
               "FROM busybox\nCOPY --from=build /src/built.txt /built.txt\nCMD [\"sh\", \"run.sh\"]\n")
UNSUPPORTED = ("FROM busybox\nUSER nobody\nEXPOSE 80\nSTOPSIGNAL SIGINT\nHEALTHCHECK CMD true\n"
               "RUN echo built-in-image > /built.txt\n")
SCRIPT = "cat /built.txt > from-image.txt\necho appended >> log.txt\n"

HOSTILE = {
    "H_HOME": "$HOME", "H_SUBST": "$(id -u)", "H_TICKS": "`id -u`", "H_QUOTES": "a\"b'c", "H_BACKSLASH": "back\\slash\\n",
    "H_NEWLINE": "line1\nline2\n", "H_SEMI": "x; echo y", "H_COMMA": "a,b=c", "H_SPACES": "  lead and trail  ",
    "H_GLOB": "*", "H_EMPTY": "",
}
"""Job environment values that must arrive byte for byte (Apptainer evaluates --env and --env-file)."""

HOSTILE_SCRIPT = "".join(f'printf %s "${name}" > {name}.txt\n' for name in HOSTILE)


def container_job(root: Path, name: str, recipe: str, *, script: str = SCRIPT, command: bool = True,
                  recipe_file: str = "Dockerfile", env: dict[str, str] | None = None) -> Path:
    job = root / name
    job.mkdir(parents=True)
    (job / recipe_file).write_text(recipe)
    (job / "input.txt").write_text("unchanged input\n")
    (job / "log.txt").write_text("first line\n")
    (job / "run.sh").write_text(script)
    toml = f'name = "{name}"\n' + ('command = ["sh", "run.sh"]\n' if command else "")
    if env:
        toml += "[env]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in env.items())
    (job / "lz.toml").write_text(toml)
    return job


def check_results(lz: LandingZone, job_id: str, out: Path) -> None:
    lz.cli("results", job_id, "-o", str(out))
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and ".lz" not in p.parts)
    assert [f for f in files if not f.startswith("H_")] == ["from-image.txt", "log.txt"]  # H_*: check_hostile_env
    assert (out / "from-image.txt").read_text() == "built-in-image\n"
    assert (out / "log.txt").read_text() == "first line\nappended\n"
    manifest = json.loads((out / ".lz" / "manifest.json").read_text())
    entries = {e["path"]: e["status"] for e in manifest["entries"] if not e["path"].startswith("H_")}
    assert entries == {"from-image.txt": "added", "log.txt": "modified"}
    assert "build" in (out / ".lz" / "build.log").read_text().lower()


def check_hostile_env(lz: LandingZone, job_id: str, out: Path) -> None:
    lz.cli("results", job_id, "-o", str(out))
    got = {name: (out / f"{name}.txt").read_bytes().decode() for name in HOSTILE}
    assert got == HOSTILE


# -- no trace -------------------------------------------------------------------------------------
def no_trace(lz: LandingZone, job_ids: list[str], before: dict[Path, set[str]]) -> None:
    assert lz.leftovers() == []
    for root in (lz.workdir, lz.db.parent / "spool"):
        for path in root.rglob("*") if root.exists() else []:
            assert not any(j in str(path) for j in job_ids), path
    no_trace_in(before)
    for job_id in job_ids:
        assert subprocess.run(["pgrep", "-f", f"lz-{job_id}"], capture_output=True).returncode != 0, job_id


# -- the matrix -----------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("runtime", ALL)
def test_container_jobs_through_the_local_executor(runtime: str, tmp_path: Path, images: dict[str, Path],
                                                   shared_tmp: dict[Path, set[str]]) -> None:
    """Dockerfile and definition jobs with a command and without, hostile environment values,
    multi-stage and tarball bases, instructions Apptainer lacks, a failing RUN, a syntax error, a
    build timeout, cancel during the build and during the run, a daemon whose environment has a
    site's APPTAINER_BIND; then nothing is left anywhere."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "site-file").write_text("a site's bind for runs\n")
    lz = LandingZone(tmp_path / "lz", container=runtime, config=catalogue(images, "build_timeout = 20\n"),
                     extra_env={"APPTAINER_BIND": f"{site}:/mnt", "SINGULARITY_BIND": f"{site}:/mnt"})
    jobs = tmp_path / "jobs"
    hostile_script = SCRIPT + HOSTILE_SCRIPT
    isolated = DOCKERFILE.replace("RUN echo", "RUN test ! -e /mnt/site-file && echo")  # builds ignore the daemon's env
    try:
        lz.start()
        cancel_build = lz.submit(container_job(jobs, "cancelbuild", "FROM busybox\nRUN sleep 600\n"))
        wait_until(lambda: "sleep 600" in _log_text(lz, cancel_build), 60, "the build's RUN step")
        lz.cli("cancel", cancel_build)
        ids = {
            "good": lz.submit(container_job(jobs, "good", isolated, script=hostile_script, env=HOSTILE)),
            "bycmd": lz.submit(container_job(jobs, "bycmd", DOCKERFILE, command=False)),
            "defcmd": lz.submit(container_job(jobs, "defcmd", DEFINITION, recipe_file="Singularity")),
            "defrun": lz.submit(container_job(jobs, "defrun", DEFINITION, recipe_file="job.def", command=False,
                                              script=hostile_script, env=HOSTILE)),
            "multistage": lz.submit(container_job(jobs, "multistage", MULTI_STAGE, command=False)),
            "tarball": lz.submit(container_job(jobs, "tarball", DOCKERFILE.replace("busybox", "busybox-tar"))),
            "unsupported": lz.submit(container_job(jobs, "unsupported", UNSUPPORTED)),
            "broken": lz.submit(container_job(jobs, "broken", "FROM busybox\nRUN exit 7\n")),
            "syntax": lz.submit(container_job(jobs, "syntax", "FROM busybox\nBOGUS instruction here\nRUN (\n")),
            "forever": lz.submit(container_job(jobs, "forever", "FROM busybox\nRUN sleep 600\n")),
            "cancelrun": lz.submit(container_job(jobs, "cancelrun", DOCKERFILE, script="sleep 300\n")),
        }
        stopped = lz.wait_all_cleaned([cancel_build], timeout=60)[cancel_build]
        assert stopped["outcome"] == "cancelled", stopped
        wait_until(lambda: job_states(lz.db).get(ids["cancelrun"]) == "running", 240, "the job to run")
        time.sleep(1)
        lz.cli("cancel", ids["cancelrun"])
        done = lz.wait_all_cleaned(list(ids.values()), timeout=300)
        # every scenario is checked and every problem reported (each fix shows on its own)
        expected = {**{name: "succeeded" for name in ("good", "bycmd", "defcmd", "defrun", "multistage", "tarball",
                                                       "unsupported")},
                    "broken": "failed", "syntax": "failed", "forever": "failed", "cancelrun": "cancelled"}
        problems = [f"{name}: {done[job_id]['outcome']} ({done[job_id]['reason']})" for name, job_id in ids.items()
                    if done[job_id]["outcome"] != expected[name]]
        checks = {f"results of {name}": (check_results, ids[name], name) for name in
                  ("good", "bycmd", "defcmd", "multistage", "tarball", "unsupported") if name not in str(problems)}
        checks |= {f"env of {name}": (check_hostile_env, ids[name], f"{name}-env") for name in ("good", "defrun")}
        for what, (check, job_id, out) in checks.items():
            try:
                check(lz, job_id, tmp_path / f"out-{out}")
            except (AssertionError, OSError) as exc:
                problems.append(f"{what}: {exc}")
        if not done[ids["broken"]]["reason"].startswith("build failed: build failed (exit"):
            problems.append(f"broken: {done[ids['broken']]['reason']}")
        if "timed out after 20s" not in done[ids["forever"]]["reason"]:
            problems.append(f"forever: {done[ids['forever']]['reason']}")
        if runtime != "charliecloud" and "USER is not supported by Apptainer/Singularity and is ignored" not in \
                lz.cli("logs", ids["unsupported"], "--build").stdout:
            problems.append("unsupported: the build log does not say USER is ignored")
        try:
            no_trace(lz, [*ids.values(), cancel_build], shared_tmp)
        except AssertionError as exc:
            problems.append(f"trace: {exc}")
        assert not problems, "\n".join(problems)
        assert subprocess.run(["pgrep", "-f", "sleep 600"], capture_output=True).returncode != 0
    finally:
        lz.stop()


@pytest.mark.slow
@pytest.mark.slurm
@requires_slurm
@pytest.mark.parametrize("runtime", ALL)
def test_container_jobs_through_the_slurm_gateway(runtime: str, tmp_path: Path, images: dict[str, Path],
                                                  shared_tmp: dict[Path, set[str]]) -> None:
    """``--container slurm --runtime X``: built on the gateway, run by SLURM, collected, gone."""
    lz = LandingZone(tmp_path / "lz", container="slurm", run_args=["--runtime", runtime], config=catalogue(images))
    jobs = tmp_path / "jobs"
    try:
        lz.start()
        docker = lz.submit(container_job(jobs, "viaslurm", DOCKERFILE, script=SCRIPT + HOSTILE_SCRIPT, env=HOSTILE))
        definition = lz.submit(container_job(jobs, "defviaslurm", DEFINITION, recipe_file="job.def", command=False))
        done = lz.wait_all_cleaned([docker, definition], timeout=240)
        for job_id in (docker, definition):
            assert done[job_id]["outcome"] == "succeeded" and done[job_id]["slurm_job_id"], done[job_id]
        check_results(lz, definition, tmp_path / "out-def")
        check_hostile_env(lz, docker, tmp_path / "out-docker")
        no_trace(lz, [docker, definition], shared_tmp)
    finally:
        lz.stop()


@pytest.mark.slow
@pytest.mark.parametrize("runtime", ALL)
def test_sigkill_during_a_container_build(runtime: str, tmp_path: Path, images: dict[str, Path],
                                          shared_tmp: dict[Path, set[str]]) -> None:
    """The daemon dies mid-build; the orphaned build is killed, the image built again, the job
    succeeds once, and no process or file of the job is left (Apptainer's temporary directories
    included)."""
    lz = LandingZone(tmp_path / "lz", container=runtime, config=catalogue(images))
    slow = DOCKERFILE.replace("RUN echo", "RUN sleep 8 && echo")
    try:
        job_id = lz.submit(container_job(tmp_path / "jobs", "slowbuild", slow))
        lz.start()
        wait_until(lambda: job_states(lz.db).get(job_id) == "building", 60, "the build")
        wait_until(lambda: "sleep 8" in _log_text(lz, job_id), 60, "the RUN step")
        lz.kill9()
        lz.start()
        job = lz.wait_all_cleaned([job_id], timeout=180)[job_id]
        assert job["outcome"] == "succeeded", job
        history = lz.status(job_id)["history"]
        assert [h["event"] for h in history].count("built") == 1
        check_results(lz, job_id, tmp_path / "out")
        no_trace(lz, [job_id], shared_tmp)
    finally:
        lz.stop()


def _log_text(lz: LandingZone, job_id: str) -> str:
    try:
        return (lz.workdir / f"lz-{job_id}" / "lz" / "build.log").read_text(errors="replace")
    except OSError:
        return ""


# -- Apptainer only ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def busybox_sif(images: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sif") / "busybox.sif"
    definition = out.with_suffix(".def")
    definition.write_text(f"Bootstrap: localimage\nFrom: {images['busybox']}\n")
    subprocess.run(["apptainer", "build", str(out), str(definition)], check=True, capture_output=True)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("runtime", APPTAINER)
def test_apptainer_sandbox_and_a_sif_base(runtime: str, tmp_path: Path, images: dict[str, Path],
                                                           busybox_sif: Path, shared_tmp: dict[Path, set[str]]) -> None:
    """``--sandbox`` builds writable directories (the job's changes inside come back under
    ``container/``); a SIF base works."""
    lz = LandingZone(tmp_path / "lz", container=runtime, run_args=["--sandbox"],
                     config=catalogue({**images, "busybox-sif": busybox_sif}))
    jobs = tmp_path / "jobs"
    try:
        lz.start()
        writes = lz.submit(container_job(jobs, "writes", DOCKERFILE, script=SCRIPT + "mkdir -p /opt && echo inside > /opt/made-here.txt\n"))
        sif = lz.submit(container_job(jobs, "sifbase", DOCKERFILE.replace("busybox", "busybox-sif")))
        done = lz.wait_all_cleaned([writes, sif], timeout=180)
        assert done[writes]["outcome"] == "succeeded" and done[sif]["outcome"] == "succeeded", done
        out = tmp_path / "out"
        lz.cli("results", writes, "-o", str(out))
        assert (out / "container" / "opt" / "made-here.txt").read_text() == "inside\n"
        assert (out / "from-image.txt").read_text() == "built-in-image\n"
        check_results(lz, sif, tmp_path / "out-sif")
        no_trace(lz, [writes, sif], shared_tmp)
    finally:
        lz.stop()


@pytest.mark.slow
@pytest.mark.parametrize("runtime", APPTAINER)
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start the daemon as another user")
def test_unprivileged_daemon_builds_with_fakeroot(runtime: str, images: dict[str, Path],
                                                 shared_tmp: dict[Path, set[str]]) -> None:
    """The daemon as ``nobody``: ``build --fakeroot`` (root-mapped here, no /etc/subuid entry), a
    tarball base unpacked by that user, the SIF run unprivileged."""
    import pwd

    from lz.service.account import unreachable

    blocked = unreachable(Path(sys.executable), "nobody") or _unsearchable(Path(__file__).resolve().parents[2] / "lz")
    if blocked:  # e.g. a checkout under root's 0700 home: the daemon as nobody cannot import lz from it
        pytest.skip(f"the unprivileged daemon cannot reach this checkout ({blocked}); clone it where "
                    "other accounts can read it (e.g. /srv or /opt) to run this test")
    user = pwd.getpwnam("nobody")
    base = Path(_private_dir_for(user.pw_uid, user.pw_gid))
    try:
        tarball = base / "busybox.tar.gz"
        shutil.copy(images["busybox-tar"], tarball)
        os.chown(tarball, user.pw_uid, user.pw_gid)
        lz = LandingZone(base / "lz", container=runtime, config=catalogue({"busybox": tarball}),
                         user="nobody", extra_env={"HOME": str(base), "USER": "nobody"})
        try:
            job_dir = container_job(base / "jobs", "fakeroot", DOCKERFILE.replace("RUN echo", "RUN id -u > /uid && echo"))
            for path in [base / "jobs", *(base / "jobs").rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
            lz.start()
            job_id = lz.submit(job_dir)
            job = lz.wait_all_cleaned([job_id], timeout=180)[job_id]
            assert job["outcome"] == "succeeded", job
            out = base / "out"
            lz.cli("results", job_id, "-o", str(out))
            assert (out / "from-image.txt").read_text() == "built-in-image\n"
            log = (out / ".lz" / "build.log").read_text()
            assert f"{runtime} build --fakeroot" in log
            assert lz.leftovers() == []
        finally:
            lz.stop()
    finally:
        shutil.rmtree(base)
    no_trace_in(shared_tmp)


def _unsearchable(folder: Path) -> str | None:
    """The first folder on the way to ``folder`` that other accounts may not enter, if any."""
    for part in [*reversed(folder.parents), folder]:
        if not part.stat().st_mode & 0o001:
            return f"{part} is not searchable by other accounts"
    return None


def _private_dir_for(uid: int, gid: int) -> str:
    import tempfile

    path = tempfile.mkdtemp(prefix="lz-fakeroot-test-")
    os.chown(path, uid, gid)
    return path


# -- the stand-in, for what needs a GPU -------------------------------------------------------------
@pytest.fixture
def fake_apptainer(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shutil.copy(ROOT / "tests" / "data" / "fake-apptainer", bin_dir / "apptainer")
    yield bin_dir, bin_dir / "calls.jsonl"


def test_apptainer_gpu_flag_through_the_stand_in(tmp_path: Path, images: dict[str, Path],
                                                 fake_apptainer: tuple[Path, Path]) -> None:
    """A job asking for GPUs runs with ``--nv``: there is no GPU here, so only this goes through
    the stand-in."""
    bin_dir, calls = fake_apptainer
    lz = LandingZone(tmp_path / "lz", container="apptainer", config="gpus = 1\n" + catalogue(images),
                     extra_env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    try:
        lz.start()
        job_id = lz.submit(container_job(tmp_path / "jobs", "gpu", DOCKERFILE,
                                         script="echo built-in-image > from-image.txt\necho appended >> log.txt\n"),
                           "--gpus", "1")
        job = lz.wait_all_cleaned([job_id], timeout=60)[job_id]
        assert job["outcome"] == "succeeded", job
        recorded = [json.loads(line) for line in calls.read_text().splitlines()]
        work = lz.workdir / f"lz-{job_id}"
        assert recorded[0][1:] == ["build", f"{work}/runtime/image.sif", f"{work}/runtime/job.def"]
        # the job's environment ($LZ_NOTIFY: its notification channel) reaches it through env
        assert recorded[1][1:] == ["exec", "--contain", "--cleanenv", "--pwd", "/lz/work", "--bind",
                                   f"{work}/work:/lz/work", "--nv", f"{work}/runtime/image.sif",
                                   "env", "LZ_NOTIFY=/lz/work/.lz-notify/notify", "sh", "run.sh"]
        assert lz.leftovers() == []
    finally:
        lz.stop()
