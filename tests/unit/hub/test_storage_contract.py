"""The store's contract (``lz.hub.server.storage.Store``), the same on both backends: the local
folder and S3 (a real S3 server process, moto's standalone server: ``tests.s3_server``)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import tarfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from lz.core.errors import UserError
from lz.hub.server import downloads
from lz.hub.server.errors import TooLarge
from lz.hub.server.storage import Received, Store
from lz.hub.server.storage.choose import open_store_url, parse_store

MiB = 1 << 20


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = request.getfixturevalue("s3_store") if request.param == "s3" else None
    found = open_store_url(url, tmp_path / "files", presign_s=60)
    found.ensure()
    yield found


async def _chunks(data: bytes, size: int = 1 << 16, cut_at: int | None = None) -> AsyncIterator[bytes]:
    for at in range(0, len(data), size):
        if cut_at is not None and at >= cut_at:
            raise ConnectionResetError("the client went away")
        yield data[at:at + size]


def _receive(store: Store, data: bytes, max_bytes: int = 64 * MiB, cut_at: int | None = None) -> Received:
    return asyncio.run(store.receive(_chunks(data, cut_at=cut_at), max_bytes))


def _left_in_incoming(store: Store) -> list[str]:
    names = [name for name, _changed in store.listing("incoming")]
    client = getattr(store, "client", None)
    if client is not None:  # S3: a multipart upload not completed nor aborted is invisible to listing
        uploads = client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])  # type: ignore[attr-defined]
        names += [f"multipart:{u['Key']}" for u in uploads]
    return names


def test_an_upload_is_received_committed_and_read_back_at_any_offset(store: Store) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    received = _receive(store, data)
    assert received.size == len(data) and store.exists(received.name)
    store.commit(received, "bundles/j1.tar.gz")
    store.release(received)
    assert not store.exists(received.name) and _left_in_incoming(store) == []
    assert store.exists("bundles/j1.tar.gz") and store.size("bundles/j1.tar.gz") == len(data)
    with store.open("bundles/j1.tar.gz") as handle:
        handle.seek(700_001)
        assert handle.read(10) == data[700_001:700_011]
        handle.seek(-5, 2)
        assert handle.read() == data[-5:]
        handle.seek(0)
        assert hashlib.sha256(handle.read()).digest() == hashlib.sha256(data).digest()
    assert store.total_size() >= len(data)
    assert store.remove("bundles/j1.tar.gz") and not store.remove("bundles/j1.tar.gz")
    assert store.size("bundles/j1.tar.gz") is None and not store.exists("bundles/j1.tar.gz")
    with pytest.raises(FileNotFoundError):
        store.open("bundles/j1.tar.gz")


def test_a_small_object_put_from_memory_is_whole_and_replaces_its_name(store: Store) -> None:
    """Results a finish carried inline (protocol 4): stored at once under their name, nothing left
    in ``incoming``; a retried finish puts them again over the same name."""
    store.put("results/j1/attempt-1.tar", b"first" * 100)
    store.put("results/j1/attempt-1.tar", b"again" * 200)
    assert store.size("results/j1/attempt-1.tar") == 1000 and _left_in_incoming(store) == []
    with store.open("results/j1/attempt-1.tar") as handle:
        assert handle.read() == b"again" * 200


def test_an_open_object_replaced_meanwhile_is_never_read_mixed(store: Store) -> None:
    """An attempt's results uploaded again while a page reads the old ones: the reader gets the
    old bytes (the folder's open inode) or an error (S3's If-Match), never a mix."""
    for data in (b"a" * (2 * MiB), None):
        if data is None:
            handle = store.open("results/j1/attempt-1.tar")
            handle.read(10)
            data = b"b" * (2 * MiB)
        received = _receive(store, data)
        store.commit(received, "results/j1/attempt-1.tar")
        store.release(received)
    handle.seek(MiB)
    try:
        rest = handle.read()
    except Exception as exc:  # noqa: BLE001 - botocore's ClientError: 412 Precondition Failed
        assert "412" in str(exc) or "PreconditionFailed" in str(exc), exc
    else:
        assert rest == b"a" * MiB
    finally:
        handle.close()


@pytest.mark.slow  # 16 s on S3 (many 8 MiB parts through moto): in the full unit run, not scripts/test --fast
def test_a_large_upload_streams_in_parts_and_commits_whole(store: Store) -> None:
    data = hashlib.sha256(b"seed").digest() * (20 * MiB // 32)  # 20 MiB: three parts on S3
    received = _receive(store, data)
    store.commit(received, "results/j1/attempt-1.tar")
    store.release(received)
    with store.open("results/j1/attempt-1.tar") as handle:
        assert hashlib.sha256(handle.read()).digest() == hashlib.sha256(data).digest()
    assert _left_in_incoming(store) == []


def test_an_upload_is_never_held_whole(store: Store) -> None:
    """40 MiB arrive a chunk at a time; at most a part (8 MiB on S3) and its copy are held."""
    async def generated() -> AsyncIterator[bytes]:
        for _ in range(640):
            yield bytes(1 << 16)

    tracemalloc.start()
    try:
        received = asyncio.run(store.receive(generated(), 64 * MiB))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert received.size == 40 * MiB and peak < 24 * MiB
    store.release(received)


@pytest.mark.parametrize("size", [MiB, 20 * MiB])
def test_an_upload_past_its_limit_is_refused_and_leaves_nothing(store: Store, size: int) -> None:
    with pytest.raises(TooLarge):
        _receive(store, bytes(size), max_bytes=size - 1)
    assert _left_in_incoming(store) == []


@pytest.mark.parametrize("cut_at", [MiB // 2, 17 * MiB])
def test_an_upload_cut_off_leaves_nothing(store: Store, cut_at: int) -> None:
    with pytest.raises(ConnectionResetError):
        _receive(store, bytes(20 * MiB), cut_at=cut_at)
    assert _left_in_incoming(store) == []


def test_a_live_log_appends_in_order_once_and_within_its_bound(store: Store) -> None:
    name = store.live_log_name("j1", 1, "stdout")
    assert store.open_log(name) is None
    assert store.append_log(name, 0, b"hello ", 64) == 6
    assert store.append_log(name, 0, b"hello ", 64) == 6  # a retried chunk is not written twice
    assert store.append_log(name, 3, b"xx", 64) == 6  # a chunk from elsewhere: the sender resyncs
    assert store.append_log(name, 6, b"world\n", 64) == 12
    with pytest.raises(TooLarge):
        store.append_log(name, 12, b"x" * 60, 64)
    log = store.open_log(name)
    assert log is not None
    with log:
        assert log.read() == b"hello world\n"
        log.seek(4)
        assert log.read(4) == b"o wo"
        assert log.seek(0, 2) == 12
    assert store.remove_tree("logs/j1") and store.open_log(name) is None and not store.remove_tree("logs/j1")


def _twin(store: Store) -> Store:
    """The same store as another hub process opens it."""
    from lz.hub.server.storage import LocalStore

    if isinstance(store, LocalStore):
        return LocalStore(store.root)
    from lz.hub.server.storage.s3 import S3Store

    return S3Store(store.where, scratch=store.scratch_root)  # type: ignore[attr-defined]


def test_a_live_log_appended_through_two_hub_processes_reads_whole_in_both(store: Store) -> None:
    """Chunks arrive through whichever hub process the balancer picks: each sees the others'."""
    other = _twin(store)
    name = store.live_log_name("j1", 1, "stderr")
    end = 0
    for i in range(6):
        chunk = f"chunk {i}\n".encode()
        assert (store if i % 2 else other).append_log(name, end, chunk, 1 << 20) == end + len(chunk)
        end += len(chunk)
        assert (other if i % 2 else store).append_log(name, end - len(chunk), chunk, 1 << 20) == end  # a retry
    for each in (store, other):
        log = each.open_log(name)
        assert log is not None
        with log:
            assert log.read() == b"".join(f"chunk {i}\n".encode() for i in range(6))


def test_an_s3_live_log_lists_only_the_chunks_it_has_not_seen(store: Store) -> None:
    client = getattr(store, "client", None)
    if client is None:
        pytest.skip("S3 only: a folder appends in place")
    name = store.live_log_name("j1", 1, "stdout")
    for offset in range(0, 50, 10):
        store.append_log(name, offset, b"0123456789", 1 << 20)
    asked: list[dict[str, Any]] = []
    real = client.get_paginator

    def paginator(kind: str) -> Any:
        pages = real(kind)
        wrapped = pages.paginate
        pages.paginate = lambda **kwargs: (asked.append(kwargs), wrapped(**kwargs))[1]
        return pages

    client.get_paginator = paginator
    try:
        assert store.append_log(name, 50, b"x", 1 << 20) == 51
    finally:
        client.get_paginator = real
    assert [a.get("StartAfter", "").rsplit("/", 1)[-1] for a in asked] == [f"{40:020d}"]


def test_the_sweep_removes_what_no_row_needs_once_old(store: Store) -> None:
    for name in ("bundles/keep.tar.gz", "bundles/gone.tar.gz", "results/j2/attempt-1.tar"):
        received = _receive(store, b"x" * 100)
        store.commit(received, name)
        store.release(received)
    store.append_log(store.live_log_name("j3", 1, "stdout"), 0, b"running", 1 << 20)
    store.append_log(store.live_log_name("j4", 1, "stdout"), 0, b"old attempt", 1 << 20)
    needed = {"bundles/keep.tar.gz", "logs/j3/attempt-1.stdout"}

    class Needed:
        def __contains__(self, name: object) -> bool:
            return name in needed or str(name).startswith("logs/j3/attempt-1.")

    assert not +store.sweep(Needed(), time.time(), 600)  # all young: nothing goes
    gone = +store.sweep(Needed(), time.time() + 3600, 600)
    assert gone["bundles"] == 1 and gone["results"] == 1 and gone["logs"] == 1
    left = sorted(name for kind in ("bundles", "results", "logs") for name, _ in store.listing(kind))
    assert [n.split("/")[0] + "/" + n.split("/")[1] for n in left] == ["bundles/keep.tar.gz", "logs/j3"]


def test_an_upload_being_received_is_never_swept_and_a_dead_one_is(store: Store) -> None:
    gate = asyncio.Event()

    async def slow_client() -> AsyncIterator[bytes]:
        yield bytes(9 * MiB)  # on S3, a part is up already
        await gate.wait()
        yield b"the rest"

    async def scenario() -> tuple[int, Received]:
        task = asyncio.create_task(store.receive(slow_client(), 64 * MiB))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if _left_in_incoming(store):
                break
        swept = store.sweep_incoming(time.time() + 3600, 60)  # old, but its request is alive
        gate.set()
        return swept, await task

    swept, received = asyncio.run(scenario())
    assert swept == 0 and store.exists(received.name)
    store.done_with(received)  # the request is over without a commit (a hub killed now)
    assert store.sweep_incoming(time.time(), 60) == 0  # within the grace: another process may write it
    assert store.sweep_incoming(time.time() + 3600, 60) == 1 and _left_in_incoming(store) == []


def test_what_a_killed_hub_left_half_uploaded_is_swept(store: Store) -> None:
    """A hub SIGKILLed mid-upload left a partial upload (on S3 a multipart upload with a part)
    and an intake check's scratch folder."""
    client = getattr(store, "client", None)
    if client is not None:
        key = store._key("incoming/deadbeefdeadbeef.part")  # type: ignore[attr-defined]
        started = client.create_multipart_upload(Bucket=store.bucket, Key=key)  # type: ignore[attr-defined]
        client.upload_part(Bucket=store.bucket, Key=key, UploadId=started["UploadId"],  # type: ignore[attr-defined]
                           PartNumber=1, Body=bytes(5 * MiB))
    else:
        (store.path("incoming/deadbeefdeadbeef.part")).write_bytes(b"half")  # type: ignore[attr-defined]
    (store.scratch_root / "deadbeefdeadbeef.check").mkdir(parents=True)
    assert store.sweep_incoming(time.time(), 60) == 0
    assert store.sweep_incoming(time.time() + 3600, 60) == 2
    assert _left_in_incoming(store) == [] and list(store.scratch_root.glob("*.check")) == []


def _archive(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_a_member_of_stored_results_is_read_without_reading_the_archive(store: Store) -> None:
    big = bytes(40 * MiB)
    received = _receive(store, _archive({"results.tar.gz": big, "stdout": b"the end\n"}))
    store.commit(received, "results/j1/attempt-1.tar")
    store.release(received)
    tracemalloc.start()
    try:
        assert downloads._member(store, "results/j1/attempt-1.tar", "stdout") == b"the end\n"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * MiB


def test_a_download_is_the_file_a_stream_or_a_presigned_redirect(store: Store) -> None:
    import requests
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    received = _receive(store, b"archive bytes")
    store.commit(received, "results/j1/attempt-1.tar")
    store.release(received)
    app = FastAPI()
    app.get("/plain")(lambda: store.response("results/j1/attempt-1.tar", "application/x-tar", filename="j1.tar"))
    app.get("/redirect")(lambda: store.response("results/j1/attempt-1.tar", "application/x-tar",
                                                filename="j1.tar", redirect=True))
    with TestClient(app) as client:
        plain = client.get("/plain")
        assert plain.status_code == 200 and plain.content == b"archive bytes"
        assert plain.headers["content-length"] == "13" and 'filename="j1.tar"' in plain.headers["content-disposition"]
        moved = client.get("/redirect", follow_redirects=False)
    if getattr(store, "client", None) is None:
        assert moved.status_code == 200 and moved.content == b"archive bytes"  # a folder is never redirected
        return
    assert moved.status_code == 307
    url = moved.headers["location"]
    assert "X-Amz-Expires=60" in url and "X-Amz-Signature=" in url  # short-lived, signed
    fetched = requests.get(url, timeout=30)  # no credentials: the URL is the permission
    assert fetched.status_code == 200 and fetched.content == b"archive bytes"


@pytest.mark.parametrize(("url", "says"), [
    ("relative/dir", "absolute path"),
    ("ftp://bucket/x", "unknown scheme"),
    ("s3://AKIAXXX:topsecret@bucket/x", "credentials do not go in the URL"),
    ("s3://Bad_Bucket/x", "bucket name"),
    ("s3://bucket/../x", "prefix"),
    ("s3://bucket/x?endpoint=ftp://h", "endpoint is http(s)"),
    ("s3://bucket/x?endpoint=http://k:s@h", "endpoint is http(s)"),
    ("s3://bucket/x?secret=1", "unknown or repeated parameter secret"),
    ("file://host/x", "file:///ABSOLUTE/PATH"),
])
def test_a_bad_store_url_is_one_line_without_its_secret(url: str, says: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_store(url)
    message = str(caught.value)
    assert says in message and "\n" not in message and "topsecret" not in message


def test_store_urls_name_a_folder_or_a_bucket() -> None:
    assert parse_store("file:///srv/lz-hub/files") == Path("/srv/lz-hub/files")
    where = parse_store("s3://lz-hub/a/b?endpoint=http://127.0.0.1:9000&region=eu-west-1")
    assert not isinstance(where, Path)
    assert (where.bucket, where.prefix, where.endpoint, where.region) == (
        "lz-hub", "a/b", "http://127.0.0.1:9000", "eu-west-1")


def test_s3_credentials_come_from_the_environment_or_the_named_file(s3_store: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import NoCredentialsError

    from tests.s3_server import CREDENTIALS

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with pytest.raises(NoCredentialsError):
        open_store_url(s3_store, tmp_path / "files").total_size()
    credentials = tmp_path / "s3.credentials"
    credentials.write_text(f"[default]\naws_access_key_id = {CREDENTIALS['AWS_ACCESS_KEY_ID']}\n"
                           f"aws_secret_access_key = {CREDENTIALS['AWS_SECRET_ACCESS_KEY']}\n")
    store: Any = open_store_url(s3_store, tmp_path / "files", credentials)
    store.ensure()
    assert store.total_size() == 0
