"""What one upload may cost the hub's intake check (issue 21, suspected: decompression
amplification with no cap on parallel checks), and what a zone may store as a running attempt's
live log (suspected: per-attempt live-log space)."""

from __future__ import annotations

import gzip
import io
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lz.core.errors import BundleError
from lz.hub.protocol.names import LOGS
from lz.hub.server import uploads
from lz.intake.bundle import IntakeLimits, stage_bundle
from tests.unit.hub_helpers import HubApp, hub_app


def _pax_padded(members: int, header_bytes: int) -> bytes:
    """A gzip'd job whose every member carries a pax ``comment`` of ``header_bytes``: nothing is
    written, but all of it must be decompressed (a few KiB that expand to many MiB)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        spec = b'command = ["true"]\n'
        info = tarfile.TarInfo("job/lz.toml")
        info.size = len(spec)
        tar.addfile(info, io.BytesIO(spec))
        for i in range(members):
            info = tarfile.TarInfo(f"job/f{i}")
            info.pax_headers = {"comment": "z" * header_bytes}
            tar.addfile(info, io.BytesIO(b""))
    return gzip.compress(raw.getvalue(), compresslevel=9)


def test_the_decompressed_stream_is_bounded_not_only_what_is_written(tmp_path: Path) -> None:
    limits = IntakeLimits(max_bytes=1 << 20, max_files=1000)
    bomb = tmp_path / "bomb.tar.gz"
    bomb.write_bytes(_pax_padded(members=40, header_bytes=1_000_000))  # 40 MB of headers
    assert bomb.stat().st_size < 200_000  # a ratio of more than 200
    with pytest.raises(BundleError, match="once decompressed"):
        stage_bundle(bomb, tmp_path / "out", limits)
    assert not (tmp_path / "out").exists()
    fine = tmp_path / "fine.tar.gz"
    fine.write_bytes(_pax_padded(members=3, header_bytes=1000))
    stage_bundle(fine, tmp_path / "fine", limits)  # an ordinary archive is unaffected
    assert (tmp_path / "fine" / "lz.toml").exists()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path, max_parallel_checks=1, check_wait_s=0.3, max_live_log_bytes=4096) as a:
        yield a


def test_checks_beyond_the_processes_slots_wait_then_get_503_with_retry_after(
        app: HubApp, monkeypatch: pytest.MonkeyPatch) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    started, release = threading.Event(), threading.Event()
    real = uploads.check_upload

    def slow_check(*args: Any, **kwargs: Any) -> Any:
        started.set()
        assert release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(uploads, "check_upload", slow_check)
    first: list[Any] = []
    thread = threading.Thread(target=lambda: first.append(app.submit(alice)))
    thread.start()
    try:
        assert started.wait(30)
        began = time.monotonic()
        second = app.submit(alice)
        waited = time.monotonic() - began
    finally:
        release.set()
        thread.join(30)
    assert second.status_code == 503 and second.headers["Retry-After"] == "1", second.text
    assert "checking 1 uploads already" in second.json()["detail"]
    assert 0.25 < waited < 10
    assert first[0].status_code == 201
    assert app.submit(alice).status_code == 201  # the slot is free again
    assert list((app.hub.files.root / "incoming").iterdir()) == []  # the refused upload left nothing


def test_a_zone_streaming_an_endless_live_log_is_stopped_at_the_hubs_bound(app: HubApp) -> None:
    """The bound is the hub setting ``max_live_log_bytes``, per log of the attempt (stdout, stderr,
    build.log); the live logs of an attempt that is not current are removed by housekeeping."""
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice)
    bound = app.hub.config.max_live_log_bytes
    for which in LOGS:
        sent, answers = 0, []
        for _ in range(20):  # 20 chunks of 1000 bytes against a bound of 4096
            answer = app.call("POST", f"/lz/jobs/{job_id}/logs/{which}", alice, content=b"y" * 1000,
                              params={"name": "lz1", "attempt": 1, "offset": sent})
            answers.append(answer.status_code)
            if answer.status_code == 200:
                sent = answer.json()["size"]
        assert answers[:4] == [200] * 4 and set(answers[4:]) == {413}, answers
        assert app.hub.files.path(app.hub.files.live_log_name(job_id, 1, which)).stat().st_size == 4000
    total = sum(p.stat().st_size for p in (app.hub.files.root / "logs" / job_id).iterdir())
    assert total <= len(LOGS) * bound
