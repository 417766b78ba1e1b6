"""The Python API (``lz.client``) against a real hub: the app on a real SQLite file, served by
uvicorn on a local port in this process, so the API's HTTP client is the one users run. A landing
zone's side (claim, results, finish) is played over the same HTTP API."""

from __future__ import annotations

import io
import json
import socket
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from click.testing import CliRunner

import lz.client
from lz.cli import main
from lz.client import Client
from lz.client.target import HubTarget
from lz.hub.agent.client import write_token
from lz.hub.server.app import create_app
from lz.hub.server.config import HubConfig
from lz.hub.server.domain import accounts
from tests.unit.hub_helpers import migrated_hub_db


@dataclass
class Hub:
    url: str
    token: str
    token_file: Path

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = requests.request(method, self.url + "/api/v1" + path, timeout=10,
                                  headers={"Authorization": f"Bearer {self.token}"}, **kwargs)
        assert answer.status_code < 300, (answer.status_code, answer.text)
        return answer.json()


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    migrated_hub_db(tmp_path / "hub" / "hub.db")
    app = create_app(HubConfig(db_url=f"sqlite:///{tmp_path / 'hub' / 'hub.db'}", files_dir=tmp_path / "hub" / "files"),
                     migrate=False)

    def _user(conn: Any) -> str:
        accounts.add_user(conn, "alice", False, time.time())
        return str(accounts.create_token(conn, "alice", time.time(), None, "user")[1])

    token = app.state.hub.write(_user)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the hub did not start"
        time.sleep(0.02)
    write_token(tmp_path / "token", token)
    found = Hub(f"http://127.0.0.1:{sock.getsockname()[1]}", token, tmp_path / "token")
    found.call("POST", "/stations", json={"name": "lab"})
    found.call("POST", "/lz/register", json={"name": "lz1", "cpus": 4})
    found.call("PUT", "/stations/lab/zones/lz1")
    try:
        yield found
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


def job_folder(base: Path, name: str, toml: str = 'command = ["echo", "hi"]\n') -> Path:
    folder = base / "jobs" / name
    folder.mkdir(parents=True)
    (folder / "lz.toml").write_text(toml)
    return folder


def stored_results(stdout: bytes) -> bytes:
    """What a landing zone uploads: its results.tar.gz, manifest.json and logs, in one tar."""
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tar:
        info = tarfile.TarInfo("answer.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"42\n"))
    outer = io.BytesIO()
    files = {"results.tar.gz": inner.getvalue(), "manifest.json": json.dumps({"logs": {"stdout": True}}).encode(),
             "stdout": stdout}
    with tarfile.open(fileobj=outer, mode="w:") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return outer.getvalue()


def run_on_the_landing_zone(hub: Hub, stdout: bytes = b"hi\n") -> None:
    """Claim the next job, upload its results and finish it, as ``lz run --hub`` would."""
    claimed = hub.call("POST", "/lz/claim", json={"name": "lz1", "wait_s": 0, "max_jobs": 1})["jobs"]
    for job in claimed:
        where = {"name": "lz1", "attempt": job["attempt"]}
        hub.call("PUT", f"/lz/jobs/{job['id']}/results", params=where, data=stored_results(stdout))
        hub.call("POST", f"/lz/jobs/{job['id']}/finish",
                 json={**where, "results": True, "facts": {"outcome": "succeeded", "exit_code": 0}})


def test_submit_wait_logs_and_results_through_a_hub(hub: Hub, tmp_path: Path) -> None:
    client = Client(hub=hub.url, token=hub.token_file)
    job = client.submit(job_folder(tmp_path, "wc"), station="lab", name="wc", cpus=2, max_attempts=2)
    assert (job.station, job.name, job.state, job.data["max_attempts"], job.data["resources"]["cpus"]) == (
        "lab", "wc", "received", 2, 2)
    assert client.landing_zone_running() is None
    with pytest.raises(lz.client.Timeout):
        job.wait(timeout=0.3, poll_s=0.1)
    run_on_the_landing_zone(hub, b"hi from the hub\n")
    seen: list[str] = []
    assert job.wait(timeout=30, poll_s=0.1, on_change=lambda j: seen.append(j.state)) is job
    assert (job.state, job.outcome, job.succeeded, seen[-1]) == ("cleaned", "succeeded", True, "cleaned")
    assert job.logs() == "hi from the hub\n"
    from lz.client import remote

    remote.MAX_LOG_READ, cap = 4, remote.MAX_LOG_READ  # a hub's answer is read a bounded piece at a time
    try:
        assert list(job.stream_logs()) == [b"hi f", b"rom ", b"the ", b"hub\n"]
    finally:
        remote.MAX_LOG_READ = cap
    out = job.results(tmp_path / "out")
    assert out == tmp_path / "out" and (out / "answer.txt").read_text() == "42\n"
    assert (out / ".lz" / "stdout").read_bytes() == b"hi from the hub\n"
    with pytest.raises(lz.client.Error, match="not empty|empty"):
        job.results(tmp_path / "out")
    assert client.job(job.id).data["attempt_history"][0]["landing_zone"] == "lz1"


def test_listing_pages_like_the_cli(hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lz.client import remote

    monkeypatch.setattr(remote, "PAGE", 2)  # five jobs take three pages
    client = Client(hub=hub.url, token=hub.token_file)
    ids = [client.submit(job_folder(tmp_path, f"j{i}"), station="lab", name=f"sweep-{i}" if i % 2 else f"other-{i}").id
           for i in range(5)]
    newest = client.jobs(limit=3)
    assert [j.id for j in newest] == ids[::-1][:3] and newest.total == 5
    assert [j.id for j in client.jobs(all=True)] == ids[::-1]
    assert [j.name for j in client.jobs(name="sweep-*", all=True)] == ["sweep-3", "sweep-1"]
    assert [j.id for j in client.jobs(state="cleaned")] == []
    assert client.jobs(station="lab", limit=1).total == 5
    client.job(ids[0]).cancel()
    assert [j.id for j in client.jobs(outcome="cancelled")] == [ids[0]]
    table = CliRunner().invoke(main, ["status", "--hub", hub.url, "--token", str(hub.token_file), "-N", "2"])
    assert table.exit_code == 0, table.output
    assert "(the newest 2 of 5 jobs; -N N or --all for more)" in table.output


def test_listing_passes_the_name_and_squeues_words_to_the_hub(hub: Hub, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub filters by name (any case, as `lz status -n`): one page for the newest match, and
    the total is the hub's count of every match, not of the pages read."""
    from lz.client import remote

    monkeypatch.setattr(remote, "PAGE", 2)
    client = Client(hub=hub.url, token=hub.token_file)
    for i in range(5):
        client.submit(job_folder(tmp_path, f"j{i}"), station="lab", name=f"sweep-{i}" if i % 2 else f"other-{i}")
    asked: list[dict[str, Any]] = []
    real = client.backend.http.request  # type: ignore[attr-defined]
    monkeypatch.setattr(client.backend.http, "request",  # type: ignore[attr-defined]
                        lambda *a, **k: asked.append(k.get("params", {})) or real(*a, **k))
    newest = client.jobs(name="SWEEP-*", state="PD", limit=1)
    assert [j.name for j in newest] == ["sweep-3"] and newest.total == 2
    assert len(asked) == 1 and asked[0]["name"] == ["SWEEP-*"]
    assert asked[0]["state"] == ["received", "building", "queued"]
    with pytest.raises(lz.client.Error, match="unknown state 'bogus'"):
        client.jobs(state="bogus")


def test_a_hubs_refusals_are_typed_errors(hub: Hub, tmp_path: Path) -> None:
    client = Client(hub=hub.url, token=hub.token_file)
    with pytest.raises(lz.client.NotFound):
        client.job("0123456789abcdef")
    for hostile in ("../stations", "..", "x/../../meta", "a?b=c"):  # an id is one quoted path segment
        with pytest.raises((lz.client.NotFound, lz.client.Refused)):
            client.job(hostile)
    with pytest.raises(lz.client.NotFound):
        client.submit(job_folder(tmp_path, "a"), station="nowhere")
    with pytest.raises(lz.client.Rejected, match="cpus") as rejected:
        client.submit(job_folder(tmp_path, "bad", toml="[resources]\ncpus = 'many'\n"), station="lab")
    assert rejected.value.job is None  # a hub keeps no record of what its intake refused
    with pytest.raises(lz.client.Error, match="needs a Station"):
        client.submit(job_folder(tmp_path, "b"))
    job = client.submit(job_folder(tmp_path, "c"), station="lab")
    job.cancel()
    with pytest.raises(lz.client.Refused) as refused:
        job.kill()
    assert refused.value.status == 409
    dead = Client.for_hub(HubTarget("http://127.0.0.1:9", hub.token_file))
    dead.backend.http.retries = 0  # type: ignore[attr-defined]
    with pytest.raises(lz.client.Unavailable, match="unreachable"):
        dead.jobs()


def test_a_dead_hub_is_one_line_and_exit_2_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the CLI was built on lz.client, a hub that did not answer ended ``lz status --hub`` in a
    traceback; now it is ``Unavailable``: one line, exit 2."""
    made = HubTarget.client
    monkeypatch.setattr(HubTarget, "client", lambda self: _no_retries(made(self)))
    write_token(tmp_path / "token", "lzh_abc")
    out = CliRunner().invoke(main, ["status", "--hub", "http://127.0.0.1:9", "--token", str(tmp_path / "token")])
    assert (out.exit_code, out.output) == (2, "lz: error: hub http://127.0.0.1:9 unreachable (ConnectionError)\n")


def _no_retries(client: Any) -> Any:
    client.retries = 0
    return client
