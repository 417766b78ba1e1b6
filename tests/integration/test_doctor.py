"""``lz doctor``: each check for real where this machine has the part (Slurm with a one-task srun,
a Charliecloud build from busybox, a hub-like HTTP server), and a fix on each failure."""

from __future__ import annotations

import email.utils
import http.server
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lz.config import Settings
from lz.host.process import CommandTimeout, Completed
from lz.ops.doctor import Check, checks
from lz.runtimes.select import available
from tests.integration.slurm_cluster import slurm_answers

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def by_name(found: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in found}


def test_local_none_runtime_all_ok_or_skipped(tmp_path: Path) -> None:
    result = subprocess.run([str(Path(os.sys.executable).parent / "lz"), "doctor"], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "LZ_DB": str(tmp_path / "s" / "lz.db"), "LZ_CONFIG": "",
                                              "LZ_WORKDIR": str(tmp_path / "w"), "LZ_CONTAINER": "none",
                                              "LZ_HUB": "", "XDG_CONFIG_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # slurm, work root, a node's view of it, runtime, fakeroot (a `none` zone runs none), hub, clock
    assert [line.split()[0] for line in lines] == ["skip", "ok", "skip", "ok", "skip", "skip", "skip"]
    assert "hub: no hub configured" in result.stdout
    assert list((tmp_path / "w").iterdir()) == []  # nothing left behind


def test_failures_carry_a_fix(tmp_path: Path) -> None:
    def runner(argv, *, timeout, env=None):  # type: ignore[no-untyped-def]
        if argv[0] == "sbatch":
            raise CommandTimeout("no answer")
        return Completed(tuple(argv), 1, "", "squeue: error: Invalid user: nobody\n")

    read_only = tmp_path / "ro"
    read_only.mkdir(mode=0o500)
    settings = Settings(db=tmp_path / "lz.db", workdir=read_only / "sub", executor="slurm", runtime="none")
    found = by_name(list(checks(settings, runner=runner)))
    if os.geteuid() != 0:
        assert found["work root"].verdict == "fail" and "LZ_WORKDIR" in found["work root"].fix
    assert found["sbatch"].verdict == "fail" and "munge" in found["sbatch"].fix
    assert found["squeue"].detail == "squeue: error: Invalid user: nobody" and found["squeue"].fix
    assert all("fix:" in c.line() for c in found.values() if c.verdict == "fail")


@pytest.mark.slurm
@pytest.mark.skipif(not slurm_answers(), reason="no Slurm answers here: run scripts/slurm-dev-cluster up")
def test_real_slurm_and_a_compute_node_reading_the_work_root(tmp_path: Path) -> None:
    settings = Settings(db=tmp_path / "lz.db", workdir=tmp_path / "work", executor="slurm", runtime="none")
    found = by_name(list(checks(settings)))
    assert found["sbatch"].verdict == found["squeue"].verdict == "ok"
    assert found["work root on nodes"].verdict == "ok", found["work root on nodes"]
    assert list((tmp_path / "work").iterdir()) == []


@pytest.mark.charliecloud
@pytest.mark.charliecloud
@pytest.mark.skipif(not available("charliecloud"), reason="Charliecloud (ch-image, ch-run) not installed")
def test_a_tiny_charliecloud_build(tmp_path: Path, images: dict[str, Path]) -> None:
    settings = Settings(db=tmp_path / "lz.db", workdir=tmp_path / "work", runtime="charliecloud",
                        images={"busybox": str(images["busybox"])})
    found = by_name(list(checks(settings)))
    assert found["runtime"].verdict == "ok" and "built FROM busybox and ran it" in found["runtime"].detail
    no_images = by_name(list(checks(Settings(db=tmp_path / "lz.db", workdir=tmp_path / "work", runtime="charliecloud"))))
    assert no_images["runtime"].verdict == "fail" and "[images]" in no_images["runtime"].fix
    assert list((tmp_path / "work").iterdir()) == []


class _Hub(http.server.BaseHTTPRequestHandler):
    skew_s = 0.0

    def do_GET(self) -> None:  # noqa: N802
        ok = self.headers.get("Authorization") == "Bearer good-token"
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def date_time_string(self, timestamp: float | None = None) -> str:
        return email.utils.formatdate(time.time() + self.skew_s, usegmt=True)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_hub_token_and_clock(tmp_path: Path, hub: str) -> None:
    settings = Settings(db=tmp_path / "lz.db", workdir=tmp_path / "work", runtime="none")
    token = tmp_path / "token"
    token.write_text("good-token\n")
    token.chmod(0o600)
    found = by_name(list(checks(settings, hub=hub, token_file=token, build=False)))
    assert found["hub"].verdict == "ok" and "accepted the token" in found["hub"].detail
    assert found["clock"].verdict == "ok"
    token.write_text("revoked\n")
    token.chmod(0o644)
    _Hub.skew_s = 120
    try:
        found = by_name(list(checks(settings, hub=hub, token_file=token, build=False)))
    finally:
        _Hub.skew_s = 0
    assert found["token"].verdict == "fail" and found["token"].fix == f"chmod 600 {token}"
    assert found["hub"].verdict == "fail" and "refused the token" in found["hub"].detail
    assert found["clock"].verdict == "fail" and "timesyncd" in found["clock"].fix
    gone = by_name(list(checks(settings, hub="http://127.0.0.1:9", build=False)))
    assert gone["hub"].verdict == "fail" and "lz hub serve" in gone["hub"].fix
