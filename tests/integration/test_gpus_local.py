"""GPUs simulated by configuration (``gpus = 2``): a real landing zone gives each job exactly the
GPUs it asked for, never one GPU to two jobs, none to a job that asked for none, and refuses a
job asking for more than it has."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _job(folder: Path, sleep_s: float) -> Path:
    folder.mkdir(parents=True)
    (folder / "lz.toml").write_text('command = ["sh", "run.sh"]\n')
    (folder / "run.sh").write_text(
        f'echo "cuda=[$CUDA_VISIBLE_DEVICES] nvidia=[$NVIDIA_VISIBLE_DEVICES]"\n'
        f'date +%s.%N\nsleep {sleep_s}\ndate +%s.%N\n')
    return folder


def test_gpus_are_handed_out_like_slurm_steps(tmp_path: Path) -> None:
    lz = LandingZone(tmp_path / "lz", config="gpus = 2\nlocal_slots = 4\n", tick=0.3)
    lz.start()
    try:
        ones = [lz.submit(_job(tmp_path / f"one{i}", 2), "--gpus", "1") for i in range(3)]
        none = lz.submit(_job(tmp_path / "none", 0), "--gpus", "0")
        too_many = lz.cli("submit", str(_job(tmp_path / "three", 0)), "--gpus", "3", check=False)
        assert too_many.returncode != 0 and "gpus 3 is more than this landing zone can give" in too_many.stderr
        done = lz.wait_all_cleaned([*ones, none], timeout=120)
        assert {j["outcome"] for j in done.values()} == {"succeeded"}
        seen = {job_id: lz.cli("logs", job_id).stdout.split("\n") for job_id in [*ones, none]}
        assert seen[none][0] == "cuda=[] nvidia=[void]"
        spans = []
        for job_id in ones:
            first, start, end = seen[job_id][:3]
            gpu = first.split("]")[0].removeprefix("cuda=[")
            assert gpu in ("0", "1") and first.endswith(f"nvidia=[{gpu}]"), first
            spans.append((gpu, float(start), float(end)))
        # no GPU served two jobs at once (three 1-GPU jobs on 2 GPUs: one waited)
        for i, (gpu_a, start_a, end_a) in enumerate(spans):
            for gpu_b, start_b, end_b in spans[i + 1:]:
                if gpu_a == gpu_b:
                    assert end_a <= start_b or end_b <= start_a, spans
    finally:
        lz.stop()
    assert lz.leftovers() == []
