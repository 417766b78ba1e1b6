from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.invariants import tmp_listing
from tests.integration.landing_zone import LandingZone

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "wordcount"


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


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The site catalogue: a busybox root-filesystem directory and the same as a tarball."""
    root = tmp_path_factory.mktemp("images")
    subprocess.run([str(ROOT / "scripts" / "make-busybox-rootfs"), str(root / "busybox")], check=True,
                   capture_output=True)
    subprocess.run(["tar", "-czf", str(root / "busybox.tar.gz"), "-C", str(root / "busybox"), "."], check=True)
    return {"busybox": root / "busybox", "busybox-tar": root / "busybox.tar.gz"}


@pytest.fixture
def shared_tmp() -> dict[Path, set[str]]:
    """What /tmp and /var/tmp hold before the test: afterwards nothing of the jobs may be there
    (a killed Apptainer build leaves whole unpacked images in its temporary directory)."""
    return tmp_listing()
