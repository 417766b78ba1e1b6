"""SIGKILL the daemon while jobs build, run and collect; every job still ends exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone, job_states, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def make_job(root: Path, name: str, marks: Path, files: int, sleep: float) -> Path:
    job = root / name
    (job / "data").mkdir(parents=True)
    for i in range(files):
        (job / "data" / f"f{i:05d}.txt").write_text(f"{name} {i}\n")
    (job / "run.sh").write_text(
        f"echo start >> {marks / name}\n"
        f"sleep {sleep}\n"
        "mkdir -p out\n"
        f"for i in $(seq 1 {files}); do echo $i > out/r$i.txt; done\n"
        "echo changed >> data/f00000.txt\n"
        "echo done\n"
    )
    (job / "lz.toml").write_text(f'name = "{name}"\ncommand = ["sh", "run.sh"]\n')
    return job


def test_sigkill_while_building_running_and_collecting(landing_zone: LandingZone, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    jobs_root = tmp_path / "jobs"
    names = [f"job{i}" for i in range(6)]
    ids = [landing_zone.submit(make_job(jobs_root, name, marks, files=3000, sleep=2 + i % 3))
           for i, name in enumerate(names)]
    landing_zone.tick = 0.3

    kills = []
    for target in ("building", "running", "collecting"):
        landing_zone.start()
        wait_until(lambda target=target: target in job_states(landing_zone.db).values(), 90, f"a job {target}")
        landing_zone.kill9()
        kills.append((target, sorted(job_states(landing_zone.db).values())))
    landing_zone.start()
    jobs = landing_zone.wait_all_cleaned(ids, timeout=180)

    for name, job_id in zip(names, ids):
        job = landing_zone.status(job_id)
        assert job["outcome"] == "succeeded", (job, kills)
        events = [h["event"] for h in job["history"]]
        assert events.count("clean") == 1 and events.count("started") <= 1, events
        assert (marks / name).read_text() == "start\n", f"{name} ran more than once"
        out = tmp_path / "results" / name
        landing_zone.cli("results", job_id, "-o", str(out))
        assert len(list((out / "out").iterdir())) == 3000
        assert (out / "data" / "f00000.txt").read_text() == f"{name} 0\nchanged\n"
        assert not (out / "data" / "f00001.txt").exists()
        manifest = json.loads((out / ".lz" / "manifest.json").read_text())
        assert sum(1 for e in manifest["entries"] if e["status"] == "modified") == 1
    assert all(j["state"] == "cleaned" for j in jobs.values())
    assert landing_zone.leftovers() == []
