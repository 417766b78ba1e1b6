"""A job's files through the hub's API on each store (the local folder, S3 on a real S3 server
process): the bundle in and out, a live log, results in, checked and out, submit again,
retention's sweep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from lz.hub.server.domain.retention import jobs_t
from tests.unit.hub_helpers import HubApp, hub_app, job_tarball, results_tar


@pytest.fixture(params=["local", "s3", "s3-presign"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HubApp]:
    settings: dict[str, Any] = {}
    if request.param != "local":
        settings = {"store": request.getfixturevalue("s3_store"), "presign": request.param == "s3-presign"}
    with hub_app(tmp_path, resubmit_days=0, **settings) as a:
        yield a


def test_a_job_s_files_go_through_the_store(app: HubApp) -> None:
    import requests

    alice = app.user("alice")
    app.station_with_zone(alice)
    tarball = job_tarball()
    job_id = app.submit(alice, body=tarball).json()["id"]
    assert app.hub.files.exists(app.hub.files.bundle_name(job_id))
    assert [n for n, _ in app.hub.files.listing("incoming")] == []  # the upload was moved into place
    (claimed,) = app.claim(alice)
    bundle = app.call("GET", f"/lz/jobs/{job_id}/bundle", alice, params={"name": "lz1", "attempt": 1})
    assert bundle.status_code == 200 and bundle.content == tarball  # zones always get it from the hub
    for offset, chunk in ((0, b"line 1\n"), (7, b"line 2\n")):
        size = app.ok("POST", f"/lz/jobs/{job_id}/logs/stdout", alice, content=chunk,
                      params={"name": "lz1", "attempt": 1, "offset": offset})["size"]
        assert size == offset + len(chunk)
    live = app.call("GET", f"/jobs/{job_id}/logs/stdout", alice, params={"offset": 3})
    assert live.content == b"e 1\nline 2\n" and live.headers["x-lz-final"] == "0"
    bad = app.call("PUT", f"/lz/jobs/{job_id}/results", alice, params={"name": "lz1", "attempt": 1},
                   content=b"not a tar" * 100)
    assert bad.status_code == 422 and [n for n, _ in app.hub.files.listing("incoming")] == []
    app.ok("PUT", f"/lz/jobs/{job_id}/results", alice, params={"name": "lz1", "attempt": 1},
           content=results_tar(b"the log of record\n"))
    app.ok("POST", f"/lz/jobs/{job_id}/finish", alice,
           json={"name": "lz1", "attempt": 1, "results": True, "facts": {"outcome": "succeeded"}})
    assert app.call("GET", f"/jobs/{job_id}/logs/stdout", alice).content == b"the log of record\n"
    download = app.call("GET", f"/jobs/{job_id}/results", alice, follow_redirects=False)
    if app.hub.config.presign:
        assert download.status_code == 307 and "X-Amz-Signature=" in download.headers["location"]
        download = requests.get(download.headers["location"], timeout=30)  # the token stays with the hub
    assert download.status_code == 200 and download.content == results_tar(b"the log of record\n")
    assert app.hub.read(lambda conn: conn.execute(select(jobs_t.c.downloaded_at).where(
        jobs_t.c.id == job_id)).scalar()) is not None  # retention counts from the first download
    # submit again (issue 26): the stored bundle streamed back in through the store, as a new job's
    again = app.ok("POST", f"/jobs/{job_id}/resubmit", alice, params={"key": "again-0001"})["id"]
    with app.hub.files.open(app.hub.files.bundle_name(again)) as copy:
        assert copy.read() == tarball
    # housekeeping (resubmit_days = 0): a finished job's bundle and live logs go (the results hold the logs of record)
    gone = app.hub.housekeeping()
    assert gone["bundles"] + gone["logs"] >= 1
    assert not app.hub.files.exists(app.hub.files.bundle_name(job_id))
    assert app.hub.files.open_log(app.hub.files.live_log_name(job_id, 1, "stdout")) is None
    assert app.hub.files.exists(app.hub.files.results_name(job_id, 1)) and claimed["id"] == job_id


@pytest.mark.parametrize("url", ["s3://AKIAEXAMPLE:topsecret@bucket/hub", "s3://bucket/x?region=a&region=b",
                                 "gopher://bucket"])
def test_lz_hub_serve_refuses_a_bad_store_in_one_line(tmp_path: Path, url: str) -> None:
    from click.testing import CliRunner

    from lz.cli import main

    for args in (["--store", url], ["--config", str(_settings(tmp_path, f'[hub]\nstore = "{url}"\n'))]):
        out = CliRunner().invoke(main, ["hub", "serve", "--db", str(tmp_path / "hub.db"), *args])
        assert out.exit_code == 2 and out.stderr.count("\n") == 1 and "topsecret" not in out.stderr, out.output
        assert out.stderr.startswith("lz: error: --store / store: ")


def test_lz_hub_serve_on_a_missing_bucket_says_so(tmp_path: Path, s3_server: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from lz.cli import main
    from tests.s3_server import CREDENTIALS

    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    out = CliRunner().invoke(main, ["hub", "serve", "--db", str(tmp_path / "hub.db"),
                                    "--store", s3_server.url("no-such-bucket")])
    assert out.exit_code == 2 and out.stderr.endswith(": no such bucket\n"), out.output


def test_lz_hub_status_counts_the_bytes_in_the_bucket(app: HubApp, tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from lz.cli import main

    alice = app.user("alice")
    app.station_with_zone(alice)
    app.submit(alice)
    store = app.hub.config.store
    args = ["hub", "status", "--db", str(tmp_path / "hub" / "hub.db"), "--files", str(tmp_path / "hub" / "files"),
            *(["--store", store] if store else [])]
    out = CliRunner().invoke(main, [*args, "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["store_bytes"] >= len(job_tarball()) - 64
    assert f"({app.hub.files.describe()})" in CliRunner().invoke(main, args).stdout


def _settings(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(text)
    return path


def test_a_client_following_a_presigned_redirect_does_not_carry_its_token(tmp_path: Path) -> None:
    """The hub answers 307 to the object store (another host or port): the client's token stays
    with the hub (requests drops Authorization on a redirect to another origin)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from lz.hub.agent.client import HubClient

    seen: list[str | None] = []

    class Store(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"bytes")

        def log_message(self, *_args: Any) -> None:
            pass

    store = ThreadingHTTPServer(("127.0.0.1", 0), Store)

    class Hub(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers.get("Authorization"))
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{store.server_port}/b/k?X-Amz-Signature=abc")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    hub = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    for server in (store, hub):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        HubClient(f"http://127.0.0.1:{hub.server_port}", "lzh_secret").download("/api/v1/jobs/j/results",
                                                                             tmp_path / "out.tar")
    finally:
        for server in (store, hub):
            server.shutdown()
            server.server_close()
    assert (tmp_path / "out.tar").read_bytes() == b"bytes"
    assert seen == ["Bearer lzh_secret", None]


def test_the_web_page_s_reads_of_stored_results_on_each_store(app: HubApp) -> None:
    """One returned file out of results.tar.gz inside the stored archive, the manifest, a log's
    tail: the reads the job page makes, by seeking (Range GETs on S3)."""
    import gzip
    import io
    import json
    import tarfile
    from types import SimpleNamespace

    from lz.hub.server import downloads

    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w") as tar:
        for name, data in {"out/a.txt": b"returned\n", "out/b.bin": bytes(3 << 20)}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    manifest = {"entries": [{"path": "out/a.txt", "type": "file", "status": "added"}]}
    outer = io.BytesIO()
    with tarfile.open(fileobj=outer, mode="w") as tar:
        for name, data in {"results.tar.gz": gzip.compress(inner.getvalue()), "manifest.json": json.dumps(
                manifest).encode(), "stdout": b"x" * 100_000 + b"the last line\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    alice = app.user("alice")
    app.station_with_zone(alice)
    job_id = app.submit(alice).json()["id"]
    app.claim(alice)
    app.ok("PUT", f"/lz/jobs/{job_id}/results", alice, params={"name": "lz1", "attempt": 1}, content=outer.getvalue())
    app.ok("POST", f"/lz/jobs/{job_id}/finish", alice,
           json={"name": "lz1", "attempt": 1, "results": True, "facts": {"outcome": "succeeded"}})
    row = SimpleNamespace(id=job_id, results=app.hub.files.results_name(job_id, 1), phase="finished", attempt=1,
                          state="cleaned")
    assert downloads.manifest(app.hub.files, row) == manifest
    assert b"".join(downloads.one_file(app.hub.files, row, "out/a.txt")) == b"returned\n"
    tail, size, final = downloads.log_tail(app.hub.files, row, "stdout", 14)
    assert (tail, size, final) == (b"the last line\n", 100_014, True)
