"""``$LZ_NOTIFY`` inside every container runtime on this machine: the path the job is given
names the FIFO inside the container (the work directory is bound at /lz/work), and both the sh
helper beside it and a plain ``echo > $LZ_NOTIFY`` reach ``lz logs --notifications``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.landing_zone import LandingZone
from tests.integration.test_containers import ALL, catalogue, container_job

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = ('"$(dirname "$LZ_NOTIFY")/lz-notify" "from inside: $LZ_NOTIFY"\n'
          'echo "plain echo" > "$LZ_NOTIFY"\necho done > out.txt\n')


@pytest.mark.parametrize("runtime", ALL)
def test_a_container_job_notifies_its_owner(runtime: str, tmp_path: Path, images: dict[str, Path]) -> None:
    lz = LandingZone(tmp_path / "lz", container=runtime, config=catalogue(images))
    try:
        lz.start()
        job_id = lz.submit(container_job(tmp_path / "jobs", "notify", "FROM busybox\n", script=SCRIPT))
        done = lz.wait_all_cleaned([job_id], timeout=240)[job_id]
        assert done["outcome"] == "succeeded", done
        lines = lz.cli("logs", job_id, "--notifications").stdout.splitlines()
        assert [line.split("  ", 1)[1] for line in lines] == ["from inside: /lz/work/.lz-notify/notify", "plain echo"]
        out = tmp_path / "out"
        lz.cli("results", job_id, "-o", str(out))
        assert (out / "out.txt").read_text() == "done\n" and not (out / ".lz-notify").exists()
    finally:
        lz.stop()
