"""`lz hub serve` as a person starts it: it says where it listens, where its database and files
are and how to stop it (issue 24, item 5), and every file it creates is private, its SQLite
-wal/-shm files included, whatever the umask it was started with (issue 21, item 10)."""

import os
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.integration.hub_server import free_port

pytestmark = pytest.mark.integration


def test_serve_says_where_and_keeps_its_files_private(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    env.pop("LZ_HUB", None)
    proc = subprocess.Popen([sys.executable, "-c", "import os, sys; os.umask(0o022); from lz.cli import main; "
                             "sys.argv = ['lz'] + sys.argv[1:]; main()", "hub", "serve", "--listen",
                             f"127.0.0.1:{port}", "--db", str(tmp_path / "hub" / "hub.db")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/meta", timeout=2) as answer:
                    assert answer.status == 200
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the hub never answered"
                time.sleep(0.2)
        running = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "hub").rglob("*")}
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"serving on http://127.0.0.1:{port}" in out
    assert f"web page http://127.0.0.1:{port}/" in out and "database sqlite:///" in out
    assert "stored files in" in out and "Ctrl-C" in out
    assert {"hub.db", "hub.db-wal", "hub.db-shm"} <= set(running), sorted(running)
    assert {name: oct(mode) for name, mode in running.items() if mode & 0o077} == {}
