"""GPU accounting for local jobs: exact counts, no sharing, crash-safe holder files."""

from __future__ import annotations

from pathlib import Path

import pytest

from lz.core.errors import LzError
from lz.executors.gpus import GpuRegistry, NoGpusFree, job_environment


def _meta(tmp_path: Path, name: str) -> Path:
    meta = tmp_path / name / "lz"
    meta.mkdir(parents=True)
    return meta


def test_each_job_gets_its_own_gpus_and_waits_when_none_are_free(tmp_path: Path) -> None:
    running: set[Path] = set()
    registry = GpuRegistry(["0", "1"], tmp_path / "gpus", alive=lambda meta: meta in running)
    a, b, c = (_meta(tmp_path, n) for n in "abc")
    assert registry.take(a, 1) == ["0"]
    running.add(a)
    assert registry.take(b, 1) == ["1"]
    running.add(b)
    with pytest.raises(NoGpusFree):
        registry.take(c, 1)
    assert set(registry.holders().values()) == {a, b}  # a refused take leaves nothing behind
    running.discard(a)  # a ended: its GPU is free again
    assert registry.take(c, 1) == ["0"]
    assert (c / "gpus").read_text() == "0\n"


def test_a_restarted_daemon_gives_a_running_job_the_gpus_it_held(tmp_path: Path) -> None:
    a = _meta(tmp_path, "a")
    GpuRegistry(["0", "1", "2"], tmp_path / "gpus", alive=lambda m: True).take(a, 2)
    again = GpuRegistry(["0", "1", "2"], tmp_path / "gpus", alive=lambda m: True)  # a new process
    assert again.take(a, 2) == ["0", "1"]
    b = _meta(tmp_path, "b")
    with pytest.raises(NoGpusFree):
        again.take(b, 2)


def test_more_gpus_than_the_landing_zone_has_is_refused(tmp_path: Path) -> None:
    registry = GpuRegistry(["0"], tmp_path / "gpus", alive=lambda m: True)
    with pytest.raises(LzError, match="asks for 2 GPUs; this landing zone has 1"):
        registry.take(_meta(tmp_path, "a"), 2)


def test_a_job_without_gpus_sees_none() -> None:
    assert job_environment([]) == {"CUDA_VISIBLE_DEVICES": "", "NVIDIA_VISIBLE_DEVICES": "void"}
    assert job_environment(["1", "3"])["CUDA_VISIBLE_DEVICES"] == "1,3"
