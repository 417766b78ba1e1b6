"""Volumes of a landing zone without a hub (``[volumes.NAME]`` in its configuration), in every
runtime: ro refused on write, rw visible on the host, a missing host path fails the job before it
runs, nothing from a volume in the results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import images  # noqa: F401  (the session's busybox catalogue)
from tests.integration.landing_zone import LandingZone
from tests.integration.runtimes_present import runtimes

pytestmark = [pytest.mark.integration]

SCRIPT = """cat /data/ref/input.txt > seen.txt
if echo no > /data/ref/written.txt 2>/dev/null; then echo writable > ro.txt; else echo refused > ro.txt; fi
echo from-the-job > /data/out/made.txt
"""


def zone_config(tmp_path: Path, extra: str = "", missing: bool = False) -> tuple[str, Path, Path]:
    ref, out = tmp_path / "ref", tmp_path / "out"
    ref.mkdir()
    out.mkdir()
    (ref / "input.txt").write_text("reference data\n")
    ref_path = tmp_path / "nowhere" if missing else ref
    config = (extra + f'[volumes.ref]\nhost_path = "{ref_path}"\nmount = "/data/ref"\naccess = "ro"\n'
              f'[volumes.out]\nhost_path = "{out}"\nmount = "/data/out"\naccess = "rw"\n')
    return config, ref, out


def job(root: Path, script: str, dockerfile: bool) -> Path:
    folder = root / "job"
    folder.mkdir(parents=True)
    (folder / "run.sh").write_text(script)
    if dockerfile:
        (folder / "Dockerfile").write_text("FROM busybox\n")
    (folder / "lz.toml").write_text('name = "vol"\ncommand = ["sh", "run.sh"]\n')
    return folder


def run_one(lz: LandingZone, folder: Path, tmp_path: Path) -> tuple[dict, Path]:  # type: ignore[type-arg]
    lz.start()
    try:
        job_id = lz.submit(folder)
        done = lz.wait_all_cleaned([job_id], timeout=240)[job_id]
        out = tmp_path / "results"
        lz.cli("results", job_id, "-o", str(out))
        return done, out
    finally:
        lz.stop()


def result_files(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and ".lz" not in p.parts)


@pytest.mark.slow
@pytest.mark.parametrize("runtime", runtimes("charliecloud", "apptainer"))
def test_volumes_in_containers(runtime: str, tmp_path: Path, images: dict[str, Path]) -> None:  # noqa: F811
    catalogue = "[images]\n" + "".join(f'{n} = "{p}"\n' for n, p in images.items())
    config, ref, out = zone_config(tmp_path)
    lz = LandingZone(tmp_path / "lz", container=runtime, config=catalogue + config)
    done, results = run_one(lz, job(tmp_path / "jobs", SCRIPT, dockerfile=True), tmp_path)
    assert done["outcome"] == "succeeded", done
    assert (results / "seen.txt").read_text() == "reference data\n"
    assert (results / "ro.txt").read_text() == "refused\n", "a ro volume must refuse writes"
    assert not (ref / "written.txt").exists()
    assert (out / "made.txt").read_text() == "from-the-job\n", "a rw volume's writes reach the host"
    assert result_files(results) == ["ro.txt", "seen.txt"], "nothing of a volume comes back as a result"
    manifest = json.loads((results / ".lz" / "manifest.json").read_text())
    assert all(not e["path"].startswith(("data", "/data")) for e in manifest["entries"])


def test_volumes_without_a_container_are_environment_variables(tmp_path: Path) -> None:
    config, ref, out = zone_config(tmp_path)
    script = 'cat "$LZ_VOLUME_REF/input.txt" > seen.txt\necho made > "$LZ_VOLUME_OUT/made.txt"\n'
    lz = LandingZone(tmp_path / "lz", config=config)
    done, results = run_one(lz, job(tmp_path / "jobs", script, dockerfile=False), tmp_path)
    assert done["outcome"] == "succeeded", done
    assert (results / "seen.txt").read_text() == "reference data\n"
    assert (out / "made.txt").read_text() == "made\n"
    assert result_files(results) == ["seen.txt"]


def test_a_missing_host_path_fails_the_job_before_it_runs(tmp_path: Path) -> None:
    config, _, out = zone_config(tmp_path, missing=True)
    lz = LandingZone(tmp_path / "lz", config=config)
    done, _ = run_one(lz, job(tmp_path / "jobs", "echo ran > /tmp/should-not\n" + SCRIPT, dockerfile=False), tmp_path)
    assert done["outcome"] == "failed"
    assert done["reason"].startswith("volume ref: host path ") and "does not exist" in done["reason"], done
    assert done["started_at"] is None and not (out / "made.txt").exists()


def test_a_mount_point_inside_the_work_directory_is_refused(tmp_path: Path) -> None:
    lz = LandingZone(tmp_path / "lz", config=f'[volumes.bad]\nhost_path = "{tmp_path}"\nmount = "/lz/work/data"\n')
    result = lz.cli("status", check=False)
    assert result.returncode != 0 and "overlaps the work directory" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
