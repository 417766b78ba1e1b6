"""A landing zone's token, as a hostile zone would use it (issue 21, items 4, 5 and 6, and the
suspected live-log space): impossible facts are refused and never break a list, a results
archive with a 300 MiB pax header is refused unread, a 300 MB log is served from an offset, a
live log stops at the hub's bound, and a decompression bomb submitted as a job is refused."""

from __future__ import annotations

import gzip
import io
import tarfile

import pytest

from tests.security.world import SETTINGS, MemoryWatch, MiB, World

pytestmark = [pytest.mark.integration, pytest.mark.security]


@pytest.fixture(scope="module")
def held(world: World) -> tuple[str, int]:
    """A job of s1 claimed by the zone token as lz1 (the oldest pending one): (its id, the attempt)."""
    world.submit("owner")
    jobs = world.ok("zone", "POST", "/api/v1/lz/claim", json={"name": "lz1", "wait_s": 0, "max_jobs": 1})["jobs"]
    assert jobs, "the zone claimed nothing"
    return str(jobs[0]["id"]), int(jobs[0]["attempt"])


def test_a_start_time_of_1e15_is_refused_and_every_list_still_shows(world: World, held: tuple[str, int]) -> None:
    job_id, attempt = held
    for facts in ({"started_at": 1e15}, {"ended_at": -1}, {"cpu_seconds": 1e300}, {"outcome": "pwned"}):
        answer = world.call("zone", "POST", f"/api/v1/lz/jobs/{job_id}/events",
                            json={"name": "lz1", "attempt": attempt, "events": [], "facts": facts})
        assert answer.status_code == 422, (facts, answer.status_code)
        assert "1e+15" not in answer.text and "pwned" not in answer.text  # a 422 never echoes the input
    bad_json = world.call("zone", "POST", f"/api/v1/lz/jobs/{job_id}/events", data=b'{"name": "lz1", "attempt": 1, '
                          b'"facts": {"started_at": Infinity}}', headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 422
    assert world.call("member", "GET", "/api/v1/jobs").status_code == 200
    assert world.call("member", "GET", f"/api/v1/jobs/{job_id}").status_code == 200
    web = world.web_session()
    for page in ("/jobs", "/jobs/table", "/stations/s1", f"/jobs/{job_id}", "/zones"):
        assert web.get(world.url + page, timeout=30).status_code == 200, page


def test_a_zone_may_not_report_on_a_job_it_does_not_hold(world: World) -> None:
    other = world.submit("owner")
    answer = world.call("zone", "POST", f"/api/v1/lz/jobs/{other}/events",
                        json={"name": "lz1", "attempt": 1, "events": [], "facts": {}})
    assert answer.status_code in (404, 409), answer.status_code
    theirs = world.call("outsider", "POST", f"/api/v1/lz/jobs/{world.job}/events",
                        json={"name": "lzb", "attempt": 1, "events": [], "facts": {}})
    assert theirs.status_code in (404, 409), theirs.status_code


def _pax_bomb_header(claimed: int) -> bytes:
    """A results archive whose first entry is a pax header claiming ``claimed`` bytes (few follow)."""
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = claimed
    return header.tobuf(format=tarfile.USTAR_FORMAT) + bytes(4096)


def _folder_store_only(world: World) -> None:
    """A test that writes or reads the hub's stored logs as files (``LZ_SECURITY_STORE=s3`` keeps
    them in a bucket; the S3 store's own bounds are tests/unit/hub/test_storage_contract.py's)."""
    if world.server.store:
        pytest.skip("reads the folder store's files directly")


def test_results_with_a_300_mib_pax_header_are_refused_unread(world: World, held: tuple[str, int]) -> None:
    job_id, attempt = held
    with MemoryWatch(world).watching() as memory:
        answer = world.call("zone", "PUT", f"/api/v1/lz/jobs/{job_id}/results", params={"name": "lz1", "attempt": attempt},
                            data=_pax_bomb_header(300 * MiB), headers={"Content-Type": "application/x-tar"})
    assert answer.status_code == 422 and "pax header" in answer.text, answer.text
    assert memory.growth < 16 * MiB, memory.growth


def test_a_300_mb_log_is_served_from_an_offset_and_whole_in_bounded_memory(world: World,
                                                                           held: tuple[str, int]) -> None:
    _folder_store_only(world)
    job_id, attempt = held
    live = world.server.files / "logs" / job_id / f"attempt-{attempt}.stdout"
    live.parent.mkdir(parents=True, exist_ok=True)
    with open(live, "wb") as handle:  # 300 MB, sparse, ending in a known line
        handle.seek(300 * MiB)
        handle.write(b"last line\n")
    try:
        with MemoryWatch(world).watching() as memory:
            tail = world.call("member", "GET", f"/api/v1/jobs/{job_id}/logs/stdout", params={"offset": 300 * MiB})
            assert tail.status_code == 200 and tail.content == b"last line\n"
            whole = world.call("member", "GET", f"/api/v1/jobs/{job_id}/logs/stdout", stream=True)
            size = sum(len(chunk) for chunk in whole.iter_content(MiB))
        assert whole.status_code == 200 and size == 300 * MiB + 10
        assert memory.growth < 40 * MiB, memory.growth
    finally:
        live.unlink()


def test_an_endless_live_log_stops_at_the_hubs_bound(world: World, held: tuple[str, int]) -> None:
    _folder_store_only(world)
    job_id, attempt = held
    bound, sent, statuses = SETTINGS["max_live_log_bytes"], 0, []
    for _ in range(int(bound // (256 * 1024)) + 4):
        answer = world.call("zone", "POST", f"/api/v1/lz/jobs/{job_id}/logs/stderr", data=b"x" * (256 * 1024),
                            params={"name": "lz1", "attempt": attempt, "offset": sent},
                            headers={"Content-Type": "application/octet-stream"})
        statuses.append(answer.status_code)
        if answer.status_code == 200:
            sent = answer.json()["size"]
    assert statuses[-1] == 413 and sent <= bound, statuses
    assert (world.server.files / "logs" / job_id / f"attempt-{attempt}.stderr").stat().st_size <= bound


def _bomb_job() -> bytes:
    """A job whose members carry 1 MB pax comments: ~100 KB that decompress to 80 MB (the test
    hub's cap on a decompressed stream is about 50 MiB: 16 MiB of data, 1,000 files)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        spec = b'command = ["true"]\n'
        info = tarfile.TarInfo("job/lz.toml")
        info.size = len(spec)
        tar.addfile(info, io.BytesIO(spec))
        for i in range(80):
            info = tarfile.TarInfo(f"job/f{i}")
            info.pax_headers = {"comment": "z" * 1_000_000}
            tar.addfile(info, io.BytesIO(b""))
    return gzip.compress(raw.getvalue(), compresslevel=9)


def test_a_decompression_bomb_submitted_as_a_job_is_refused(world: World) -> None:
    bomb = _bomb_job()
    assert len(bomb) < SETTINGS["max_upload_bytes"]
    with MemoryWatch(world).watching() as memory:
        answer = world.call("member", "POST", "/api/v1/stations/s1/jobs", params={"key": "bomb-0001"}, data=bomb)
    assert answer.status_code in (413, 422) and "decompressed" in answer.text, (answer.status_code, answer.text)
    assert memory.growth < 40 * MiB, memory.growth
