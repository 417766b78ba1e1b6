"""The hub's commands on the hub host (CliRunner, a real SQLite file), the client's retries
against a real local HTTP server, and the CLI staying light (no web stack imported)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from lz.cli import main
from lz.core.errors import UserError
from lz.hub.agent.client import HubClient, HubRefused, HubUnavailable, read_token, write_token


def test_users_and_tokens_on_the_hub_host(tmp_path: Path) -> None:
    runner = CliRunner()
    db = ["--db", str(tmp_path / "hub.db")]
    assert runner.invoke(main, ["hub", "user", "add", "alice", *db]).exit_code == 0
    again = runner.invoke(main, ["hub", "user", "add", "alice", *db])
    assert again.exit_code == 2 and "already exists" in again.output
    created = runner.invoke(main, ["hub", "token", "create", "--user", "alice", "--expires", "30d", *db])
    assert created.exit_code == 0
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("lzh_") and len(token) > 40
    listed = json.loads(runner.invoke(main, ["hub", "token", "list", "--json", *db]).stdout)
    assert [(t["id"], t["user"], t["revoked_at"]) for t in listed] == [(1, "alice", None)]
    assert token not in runner.invoke(main, ["hub", "token", "list", *db]).output
    assert runner.invoke(main, ["hub", "token", "revoke", "1", *db]).exit_code == 0
    assert runner.invoke(main, ["hub", "token", "revoke", "1", *db]).exit_code == 2
    bad = runner.invoke(main, ["hub", "token", "create", "--user", "nobody", *db])
    assert bad.exit_code == 2 and "no user 'nobody'" in bad.output


def test_clients_need_a_hub_and_a_private_token(tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["station", "list"], env={"LZ_HUB": ""})
    assert out.exit_code == 2 and "no hub configured" in out.output
    token = tmp_path / "token"
    token.write_text("lzh_x\n")
    token.chmod(0o644)
    out = runner.invoke(main, ["zones", "--hub", "http://127.0.0.1:9", "--token", str(token)])
    assert out.exit_code == 2 and "readable by others" in out.output
    out = runner.invoke(main, ["zones", "--hub", "http://127.0.0.1:9", "--token", "none"])
    assert out.exit_code == 2 and "--token none is not valid" in out.output
    write_token(tmp_path / "t2", "lzh_abc")
    assert (tmp_path / "t2").stat().st_mode & 0o777 == 0o600 and read_token(tmp_path / "t2") == "lzh_abc"
    with pytest.raises(UserError):
        read_token(tmp_path / "missing")


def test_the_cli_does_not_import_the_web_stack() -> None:
    code = ("import sys, lz.cli; heavy = [m for m in ('fastapi', 'uvicorn', 'requests', 'starlette', 'sqlalchemy.dialects.postgresql', "
            "'boto3', 'botocore') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().startswith("[") and "fastapi" not in out.stdout and "uvicorn" not in out.stdout
    assert "requests" not in out.stdout and "boto" not in out.stdout


class _Flaky(BaseHTTPRequestHandler):
    answers: list[int] = []
    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        self.seen.append(self.headers.get("Authorization", ""))
        status = self.answers.pop(0) if self.answers else 200
        body = json.dumps({"detail": "no such station"} if status == 404 else {"ok": status == 200}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def flaky() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_client_retries_5xx_with_backoff_and_refusals_are_one_line(flaky: str) -> None:
    sleeps: list[float] = []
    client = HubClient(flaky, "lzh_secret", retries=3, backoff_s=0.1, sleep=sleeps.append)
    _Flaky.answers[:] = [503, 502]
    assert client.get("/x") == {"ok": True}
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] * 1.0 - 0.05
    assert _Flaky.seen[-1] == "Bearer lzh_secret"
    _Flaky.answers[:] = [404]
    with pytest.raises(HubRefused) as refused:
        client.get("/x")
    assert (refused.value.status, str(refused.value)) == (404, "no such station")
    _Flaky.answers[:] = [500] * 10
    with pytest.raises(HubUnavailable):
        client.get("/x")


def test_client_gives_up_on_a_dead_hub_after_its_retries() -> None:
    sleeps: list[float] = []
    client = HubClient("http://127.0.0.1:9", "lzh_secret", retries=2, timeout_s=1, sleep=sleeps.append)
    with pytest.raises(HubUnavailable, match="unreachable"):
        client.get("/x")
    assert len(sleeps) == 2


def test_a_landing_zone_with_a_bad_token_file_says_so_before_starting(tmp_path: Path) -> None:
    """A missing token file means: log in first (issue 11), which needs the hub; an unsafe one is
    refused before anything else."""
    out = CliRunner().invoke(main, ["run", "--container", "none", "--db", str(tmp_path / "lz.db"),
                                    "--hub", "http://127.0.0.1:9", "--token", str(tmp_path / "missing")])
    assert out.exit_code == 2 and "unreachable" in out.output and len(out.output.strip().splitlines()) == 1
    unsafe = tmp_path / "unsafe"
    unsafe.write_text("lzh_x\n")
    unsafe.chmod(0o644)
    out = CliRunner().invoke(main, ["run", "--container", "none", "--db", str(tmp_path / "lz.db"),
                                    "--hub", "http://127.0.0.1:9", "--token", str(unsafe)])
    assert out.exit_code == 2 and "readable by others" in out.output
    assert not (tmp_path / "lz.pid").exists()


class _Submissions(BaseHTTPRequestHandler):
    queries: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Submissions.queries.append(self.path)
        body = json.dumps({"id": "j1", "station": "lab", "state": "pending"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_submit_to_a_station_asks_for_at_most_n_attempts_and_a_local_submit_refuses_it(tmp_path: Path) -> None:
    """``lz submit --station S --max-attempts N`` sends N with the job; on a landing zone, where a
    job runs once, the flag is one line and exit 2, and nothing is stored."""
    server = HTTPServer(("127.0.0.1", 0), _Submissions)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    job = tmp_path / "job"
    job.mkdir()
    (job / "lz.toml").write_text('command = ["true"]\n')
    write_token(tmp_path / "token", "lzh_abc")
    try:
        out = CliRunner().invoke(main, ["submit", str(job), "--station", "lab", "--max-attempts", "2",
                                        "--hub", f"http://127.0.0.1:{server.server_address[1]}",
                                        "--token", str(tmp_path / "token")])
    finally:
        server.shutdown()
    assert out.exit_code == 0, out.output
    assert "max_attempts=2" in _Submissions.queries[-1]
    local = CliRunner().invoke(main, ["submit", str(job), "--max-attempts", "2", "--db", str(tmp_path / "lz.db")])
    assert local.exit_code == 2 and "--max-attempts is for hub jobs" in local.output
    assert not (tmp_path / "lz.db").exists()
