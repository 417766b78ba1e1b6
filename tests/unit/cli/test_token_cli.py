"""``lz token list|revoke`` against a real hub served over HTTP on loopback (uvicorn in a thread,
a real SQLite file), and ``lz hub user disable|enable`` on the hub host's database."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from click.testing import CliRunner

from lz.cli import main
from lz.hub.agent.client import write_token
from tests.unit.hub_helpers import HubApp, hub_app


@contextmanager
def _served(h: HubApp) -> Iterator[str]:
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(h.client.app, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def test_token_list_and_revoke_over_the_hub(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        alice = h.user("alice")
        pilots = h.ok("POST", "/tokens", alice, json={"expires": "7d", "label": "pilots"})
        bob = h.user("bob")
        write_token(tmp_path / "alice.token", alice)
        write_token(tmp_path / "bob.token", bob)
        runner = CliRunner()
        with _served(h) as url:
            as_alice = ["--hub", url, "--token", str(tmp_path / "alice.token")]
            listed = runner.invoke(main, ["token", "list", *as_alice])
            assert listed.exit_code == 0, listed.output
            assert "pilots" in listed.output and "1 *" in listed.output and pilots["token"] not in listed.output
            rows = json.loads(runner.invoke(main, ["token", "list", "--json", *as_alice]).stdout)
            assert [(r["id"], r["kind"]) for r in rows] == [(1, "admin"), (2, "api")]
            theirs = runner.invoke(main, ["token", "revoke", "2", "--hub", url, "--token", str(tmp_path / "bob.token")])
            assert theirs.exit_code != 0 and "no token 2 of yours" in theirs.output
            assert runner.invoke(main, ["token", "revoke", "2", *as_alice]).output.strip() == "token 2 revoked"
            assert [r["id"] for r in json.loads(runner.invoke(main, ["token", "list", "--json", *as_alice]).stdout)] == [1]
            assert runner.invoke(main, ["token", "revoke", "0", *as_alice]).exit_code == 2  # one line, nothing sent


def test_disable_and_enable_a_user_on_the_hub_host(tmp_path: Path) -> None:
    runner = CliRunner()
    db = ["--db", str(tmp_path / "hub.db")]
    assert runner.invoke(main, ["hub", "user", "add", "alice", *db]).exit_code == 0
    assert runner.invoke(main, ["hub", "token", "create", "--user", "alice", *db]).exit_code == 0
    off = runner.invoke(main, ["hub", "user", "disable", "alice", *db])
    assert off.exit_code == 0 and "disabled" in off.output
    listed = json.loads(runner.invoke(main, ["hub", "token", "list", "--json", *db]).stdout)
    assert listed[0]["revoked_at"] is not None
    assert runner.invoke(main, ["hub", "user", "enable", "alice", *db]).output.strip() == "user alice enabled"
    nobody = runner.invoke(main, ["hub", "user", "disable", "nobody", *db])
    assert nobody.exit_code == 2 and "no user 'nobody'" in nobody.output
