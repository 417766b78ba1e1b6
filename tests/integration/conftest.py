from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "wordcount"


@pytest.fixture
def example_job(tmp_path: Path) -> Path:
    job = tmp_path / "jobs" / "wordcount"
    shutil.copytree(EXAMPLE, job)
    return job


@pytest.fixture
def landing_zone(tmp_path: Path) -> Iterator[LandingZone]:
    lz = LandingZone(tmp_path / "lz")
    yield lz
    lz.stop()
