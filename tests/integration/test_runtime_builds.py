"""Runtimes called directly (no daemon) on real builds: what the image may not do to the host."""

from __future__ import annotations

from pathlib import Path

import pytest

from lz.core.errors import BuildError
from lz.core.job import JobSpec
from lz.core.layout import JobPaths
from lz.core.records import JobContext
from lz.runtimes.apptainer import ApptainerRuntime
from lz.runtimes.base import Runtime
from lz.runtimes.catalogue import ImageCatalogue
from lz.runtimes.charliecloud import CharliecloudRuntime
from lz.runtimes.select import ch_image_argv
from tests.integration.runtimes_present import runtimes

pytestmark = [pytest.mark.integration]


def make_runtime(name: str, catalogue: ImageCatalogue) -> Runtime:
    if name == "charliecloud":
        return CharliecloudRuntime(ch_image_argv(), "ch-run", catalogue=catalogue)
    return ApptainerRuntime(name, catalogue=catalogue, sandbox=True)  # a sandbox gets mount points made


def staged(work_root: Path, job_id: str, dockerfile: str) -> JobContext:
    """A job as the engine leaves it before ``build``: work/ staged, lz/ and runtime/ created."""
    job = JobContext(job_id, JobSpec(name=job_id, command=("true",), recipe="Dockerfile", recipe_kind="dockerfile"),
                     JobPaths.under(work_root, job_id))
    for directory in (job.paths.work, job.paths.meta, job.paths.runtime):
        directory.mkdir(parents=True)
    (job.paths.work / "Dockerfile").write_text(dockerfile)
    return job


@pytest.mark.parametrize("runtime", runtimes("charliecloud", "apptainer"))
def test_a_symlinked_mount_point_in_the_image_is_refused(runtime: str, tmp_path: Path,
                                                         images: dict[str, Path]) -> None:
    """lz creates the bind point (/lz/work) in the image from the host, as root: an image whose
    /lz is a link to a host path must fail the build, not create directories on the host."""
    target = tmp_path / "host-dir"
    job = staged(tmp_path / "work", "linkjob", f"FROM busybox\nRUN rm -rf /lz && ln -s {target} /lz\n")
    with open(job.paths.build_log, "a") as log, pytest.raises(BuildError, match="must not be a symlink"):
        make_runtime(runtime, ImageCatalogue({"busybox": images["busybox"]})).build(job, log, timeout_s=120)
    assert not target.exists()
