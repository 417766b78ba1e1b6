"""The folder a person picks is packed into a .tar.gz by the page's own script (ustar +
CompressionStream): what the hub stores must be that folder, byte for byte, including names
longer than a tar header's 100 bytes, non-ASCII names, empty files, sizes on and off the 512-byte
blocks, and nested directories. A folder whose path cannot be written in ustar is refused in one
line on the page, and nothing is uploaded."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chromium import Browser, require_chromium
from tests.integration.hub_server import HubServer

pytestmark = [pytest.mark.integration, pytest.mark.browser]
PASSWORD = "correct horse"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[HubServer]:
    require_chromium()
    server = HubServer(tmp_path / "hub")
    server.start()
    subprocess.run([sys.executable, "-m", "lz.cli", "hub", "user", "add", "alice", "--password-stdin"],
                   input=PASSWORD + "\n", text=True, env=server.env, check=True, capture_output=True)
    yield server
    server.stop()


def _folder(root: Path) -> dict[str, bytes]:
    files = {
        "lz.toml": b'command = ["sh", "run.sh"]\n',
        "run.sh": b"echo hi\n",
        "empty.txt": b"",
        "block.bin": os.urandom(512),
        "odd.bin": os.urandom(70001),
        "données/été.txt": b"unicode names travel as UTF-8\n",
        "long-dir-name-" * 6 + "/" + "another-long-dir-" * 2 + "/f.txt": b"a path over 100 bytes: prefix + name\n",
        "d" * 120 + "/g.txt": b"a directory name over 100 bytes goes in the prefix\n",
        "deep/" + "/".join(f"level{i:02d}" for i in range(12)) + "/leaf.txt": b"deep\n",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def _stored(hub: HubServer, job_id: str) -> dict[str, bytes]:
    found = {}
    with tarfile.open(hub.files / "bundles" / f"{job_id}.tar.gz") as tar:
        for member in tar:
            if member.isfile():
                found[member.name.split("/", 1)[1]] = tar.extractfile(member).read()  # type: ignore[union-attr]
    return found


def test_a_picked_folder_arrives_byte_for_byte(hub: HubServer, tmp_path: Path) -> None:
    folder = tmp_path / "picked"
    expected = _folder(folder)
    browser = Browser(tmp_path / "downloads")
    try:
        browser.go(f"{hub.url}/login?next=/stations")
        browser.fill("#name", "alice")
        browser.fill("#password", PASSWORD)
        browser.click("form[action='/login'] button[type=submit]")
        browser.wait("signed in", lambda: "alice" in browser.text("header"))
        browser.fill("#station-name", "s")
        browser.click("#create-station")
        browser.wait("the Station", lambda: browser.url.endswith("/stations/s"))
        browser.go(f"{hub.url}/jobs")
        browser.find("#submit-folder").send_keys(str(folder))
        browser.click("#submit-button")
        browser.wait("the job's page", lambda: "/jobs/" in browser.url and "/jobs?" not in browser.url)
        job_id = browser.url.rsplit("/", 1)[-1]
        assert _stored(hub, job_id) == expected

        # a path ustar cannot hold (a file name over 100 bytes): one line, nothing sent
        bad = tmp_path / "bad"
        bad.mkdir()
        (bad / ("x" * 120)).write_bytes(b"1")
        (bad / "lz.toml").write_bytes(b'command = ["true"]\n')
        browser.go(f"{hub.url}/jobs")
        browser.find("#submit-folder").send_keys(str(bad))
        browser.click("#submit-button")
        browser.wait("a refusal", lambda: "too long" in browser.text("#submit-status"))
        assert len(list((hub.files / "bundles").iterdir())) == 1
    finally:
        browser.close()
