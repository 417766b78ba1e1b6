"""What a landing zone uploads is untrusted, and what a hub stores may be large: results archives
are checked and read by the strict streaming reader (issue 21, item 5: ``tarfile`` loaded a
300 MiB pax header at upload and again on every view), and logs are streamed from an offset,
never loaded whole (item 4: a 300 MB log took 390 MiB to serve 10 bytes)."""

import io
import tarfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from lz.hub.server import downloads
from lz.hub.server.errors import Invalid, NotFound
from lz.hub.server.results_check import check_results
from lz.hub.server.storage import LocalStore
from tests.unit.hub_helpers import HubApp, hub_app, results_tar

BIG = 300 << 20


def _pax_bomb(path: Path) -> Path:
    """A tar whose first entry is a pax header claiming (and holding, sparsely) 300 MiB."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = BIG
    with open(path, "wb") as handle:
        handle.write(header.tobuf(format=tarfile.USTAR_FORMAT))
        handle.seek(512 + BIG)  # sparse: no disk, but every byte reads as zero
        handle.write(bytes(1024))
    return path


def _peak(fn: object, *args: object) -> int:
    tracemalloc.start()
    try:
        try:
            fn(*args)  # type: ignore[operator]
        except (Invalid, NotFound):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_pax_bomb_upload_is_refused_without_reading_it(tmp_path: Path) -> None:
    bomb = _pax_bomb(tmp_path / "bomb.tar")
    store = LocalStore(tmp_path)
    with pytest.raises(Invalid, match="pax header"):
        check_results(store, bomb.name)
    assert _peak(check_results, store, bomb.name) < 8 << 20


def test_viewing_a_stored_pax_bomb_costs_nothing(tmp_path: Path) -> None:
    bomb = _pax_bomb(tmp_path / "stored.tar")
    with open(bomb, "rb") as handle:
        assert _peak(downloads._members, handle) < 8 << 20


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path) as a:
        yield a


def test_a_big_log_is_served_from_an_offset_without_loading_it(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice)
    live = app.hub.files.path(app.hub.files.live_log_name(job_id, 1, "stdout"))
    live.parent.mkdir(parents=True, exist_ok=True)
    with open(live, "wb") as handle:  # 300 MiB of log, sparse, ending in a known line
        handle.seek(BIG)
        handle.write(b"last line\n")
    tracemalloc.start()
    try:
        answer = app.call("GET", f"/jobs/{job_id}/logs/stdout", alice, params={"offset": BIG})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert answer.status_code == 200 and answer.content == b"last line\n"
    assert answer.headers["X-Lz-Size"] == str(BIG + 10) and answer.headers["X-Lz-Final"] == "0"
    assert peak < 16 << 20, peak


def test_a_finished_jobs_log_and_files_come_from_its_archive(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice)
    app.ok("PUT", f"/lz/jobs/{job_id}/results", alice, params={"name": "lz1", "attempt": 1},
           content=results_tar(b"hello\nworld\n"))
    app.ok("POST", f"/lz/jobs/{job_id}/finish", alice, json={"name": "lz1", "attempt": 1, "results": True})
    whole = app.call("GET", f"/jobs/{job_id}/logs/stdout", alice)
    assert (whole.content, whole.headers["X-Lz-Final"]) == (b"hello\nworld\n", "1")
    assert app.call("GET", f"/jobs/{job_id}/logs/stdout", alice, params={"offset": 6}).content == b"world\n"
    assert app.call("GET", f"/jobs/{job_id}/logs/stderr", alice).content == b""


def test_a_results_upload_with_a_link_or_a_stranger_is_refused(app: HubApp) -> None:
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice)
    for name, kind in (("stdout", tarfile.SYMTYPE), ("../../etc/passwd", tarfile.REGTYPE)):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:") as tar:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "/etc/shadow" if kind == tarfile.SYMTYPE else ""
            tar.addfile(info, io.BytesIO(b""))
        refused = app.call("PUT", f"/lz/jobs/{job_id}/results", alice, params={"name": "lz1", "attempt": 1},
                           content=buf.getvalue())
        assert refused.status_code == 422 and "unexpected entry" in refused.json()["detail"], name
