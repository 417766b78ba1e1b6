"""The TCP channel (``notify_tcp``) on a real listening socket on 127.0.0.1: a job's token opens
it, another job's or a forged one does not, lines pass the FIFO's limits with the same bucket, and
hostile clients (silence, huge lines, many connections, floods) cost bounded time and memory. The
``lz-notify`` helpers (Python and sh) send over it."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lz.cli import notify_send
from lz.core.notifications import CHANNEL_DIR, HELPER_NAME, MAX_BYTES, TOKEN_ENV, Limits, job_of_token, job_token
from lz.core.value_class import replace
from lz.engine import notify_channel
from lz.engine.notify_channel import NotificationReader
from lz.engine.notify_tcp import REFUSED, TcpLimits, TcpListener, load_key
from tests.unit.fakes import job_snapshot

KEY = b"k" * 32


def test_a_token_names_its_job_and_cannot_be_made_for_another() -> None:
    token = job_token(KEY, "j1")
    assert job_of_token(KEY, token.encode()) == "j1"
    assert job_of_token(KEY, token.encode() + b"\r") == "j1"  # a CRLF client
    assert job_of_token(b"x" * 32, token.encode()) is None  # another landing zone's key
    forged = "j2" + token[2:]  # j1's MAC with j2's id
    assert job_of_token(KEY, forged.encode()) is None
    for bad in (b"", b"j1", b"j1.", b".abc", b"\xff\xfe", token.encode()[:-1], b"a" * 300):
        assert job_of_token(KEY, bad) is None, bad


def test_the_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    key = load_key(tmp_path)
    assert len(key) == 32 and load_key(tmp_path) == key
    assert (tmp_path / "notify.key").stat().st_mode & 0o777 == 0o600


@pytest.fixture
def listener() -> Iterator[TcpListener]:
    found = TcpListener("127.0.0.1", 0, KEY, TcpLimits(max_connections=8, per_job=2, token_s=0.5, idle_s=1.0,
                                                      life_s=30.0, max_bytes=64 << 10, pending=20)).start()
    found.allow(["j1", "j2"])
    try:
        yield found
    finally:
        found.close()


def _address(listener: TcpListener) -> tuple[str, int]:
    host, _, port = listener.address.rpartition(":")
    return host, int(port)


def _until(what: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.02)


def _taken(listener: TcpListener, job_id: str, count: int) -> tuple[list[bytes], int]:
    got: list[bytes] = []
    dropped = 0

    def _enough() -> bool:
        nonlocal dropped
        lines, more = listener.take().get(job_id, ([], 0))
        got.extend(lines)
        dropped += more
        return len(got) >= count

    _until(_enough)
    return got, dropped


def _say(listener: TcpListener, data: bytes) -> bytes:
    """Sends, closes its side, and returns what the listener answered."""
    with socket.create_connection(_address(listener), timeout=5) as conn:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
        return conn.recv(512)


def test_a_jobs_token_opens_it_and_lines_come_in_order(listener: TcpListener) -> None:
    assert listener.address == f"127.0.0.1:{_address(listener)[1]}"
    token = job_token(KEY, "j1").encode()
    assert _say(listener, token + b"\nfirst\r\nsecond\nlast without newline") == b""
    lines, dropped = _taken(listener, "j1", 3)
    assert (lines, dropped) == ([b"first\r", b"second", b"last without newline"], 0)


def test_wrong_tokens_are_refused_in_one_line(listener: TcpListener) -> None:
    forged = ("j2" + job_token(KEY, "j1")[2:]).encode()
    assert _say(listener, forged + b"\nposing as j2\n") == REFUSED
    assert _say(listener, b"hello, no token\n") == REFUSED  # the original's plain lines: no token
    assert _say(listener, job_token(KEY, "j3").encode() + b"\nended or never ran\n") == REFUSED
    assert _say(listener, b"x" * 1000) == REFUSED  # no token is that long
    listener.allow(["j2"])  # j1 ended: its token is no good any more
    assert _say(listener, job_token(KEY, "j1").encode() + b"\nlate\n") == REFUSED
    time.sleep(0.3)
    assert listener.take() == {}


def test_a_huge_line_keeps_its_start_and_a_connection_reads_at_most_max_bytes(listener: TcpListener) -> None:
    token = job_token(KEY, "j1").encode()
    with socket.create_connection(_address(listener), timeout=5) as conn:
        conn.sendall(token + b"\n" + b"x" * 20_000 + b"\nnext\n")
        lines, _ = _taken(listener, "j1", 2)
        assert [len(line) for line in lines] == [MAX_BYTES + 1, 4]  # clean() cuts and says so
        try:  # past max_bytes (64 KiB) the listener closes it
            for _ in range(100):
                conn.sendall(b"y" * 4096 + b"\n")
        except OSError:
            pass
    _until(lambda: listener.connections == 0)


def test_silence_and_idleness_are_closed_and_many_connections_bounded(listener: TcpListener) -> None:
    token = job_token(KEY, "j1").encode()
    authed = [socket.create_connection(_address(listener), timeout=5) for _ in range(3)]
    for conn in authed:
        conn.sendall(token + b"\n")
    assert authed[2].recv(512).startswith(b"lz-notify: too many connections")  # per_job = 2
    silent = [socket.create_connection(_address(listener), timeout=5) for _ in range(20)]
    _until(lambda: listener.connections == 8)  # the newest silent ones pushed out the oldest
    for conn in authed[:2]:  # the job's own are kept
        conn.sendall(b"still here\n")
    assert _taken(listener, "j1", 2)[0] == [b"still here", b"still here"]
    started = time.monotonic()
    _until(lambda: listener.connections == 0)  # silent: token_s; then idle: idle_s
    assert time.monotonic() - started < 3.0
    for conn in authed + silent:
        conn.close()


def test_a_flood_between_two_ticks_is_counted_not_kept(listener: TcpListener) -> None:
    token = job_token(KEY, "j2").encode()
    assert _say(listener, token + b"\n" + b"".join(b"m%d\n" % i for i in range(50))) == b""
    lines, dropped = _taken(listener, "j2", 20)
    time.sleep(0.2)
    more = listener.take().get("j2", ([], 0))
    assert len(lines) + len(more[0]) == 20 and dropped + more[1] == 30  # pending = 20 a job between takes


def test_tcp_and_fifo_share_one_rate_limit_and_the_helpers_send_over_tcp(tmp_path: Path, listener: TcpListener) -> None:
    work = tmp_path / "work"
    work.mkdir()
    assert notify_channel.open_channel(work)
    saved: list[dict] = []  # type: ignore[type-arg]
    reader = NotificationReader(saved.append, lambda ids: {}, lambda job: work, Limits(per_minute=4), listener)
    job = replace(job_snapshot("j1"), work_dir=str(tmp_path))
    reader.poll([job], 1.0)
    env = notify_channel.environment(str(work), "j1", listener)
    assert env == {"LZ_NOTIFY": listener.address, TOKEN_ENV: job_token(KEY, "j1")}
    assert notify_send.send(["from", "python"], env) is None
    helper = work / CHANNEL_DIR / HELPER_NAME
    subprocess.run(["sh", str(helper), "from sh"], env={**os.environ, **env}, check=True, timeout=30)
    nopy = {**os.environ, **env, "PATH": _without_python(tmp_path)}  # bash's /dev/tcp
    subprocess.run(["sh", str(helper), "from bash"], env=nopy, check=True, timeout=30)
    _until(lambda: listener.connections == 0)
    time.sleep(0.2)
    with open(work / CHANNEL_DIR / "notify", "w") as fifo:
        fifo.write("through the fifo\nover the limit\n")
    assert reader.poll([job], 2.0) == 4  # one bucket of 4 a minute for both channels
    assert [t for _, t in saved[-1]["j1"]] == ["from python", "from sh", "from bash", "through the fifo"]
    assert reader._open["j1"].bucket.dropped == 1  # "over the limit": named in the next note
    bad = {**env, TOKEN_ENV: job_token(KEY, "j2")[:-1] + "0"}
    assert notify_send.send(["x"], bad) == "not the token of a job running on this landing zone"
    assert notify_send.send(["x"], {"LZ_NOTIFY": listener.address}) == f"$LZ_NOTIFY is an address but ${TOKEN_ENV} is not set"
    reader.close()


def _without_python(tmp_path: Path) -> str:
    """A PATH with sh, bash and the usual tools but no python3."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "bash", "tr", "cat", "printf"):
        found = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        if found.startswith("/"):
            os.symlink(found, bin_dir / tool)
    return str(bin_dir)


def test_the_daemon_starts_its_listener_from_notify_tcp(tmp_path: Path) -> None:
    from lz.config import load_settings
    from lz.engine.assembly import notify_listener

    config = tmp_path / "config.toml"
    config.write_text('notify_tcp = "127.0.0.1:0"\n')
    settings = load_settings(config, environ={"HOME": str(tmp_path), "LZ_DB": str(tmp_path / "state" / "lz.db")})
    settings.state_dir.mkdir(parents=True)
    listener = notify_listener(settings)
    assert listener is not None and listener.address.startswith("127.0.0.1:")
    try:
        assert (settings.state_dir / "notify.key").exists()
        assert _say(listener, b"no token\n") == REFUSED
    finally:
        listener.close()
    config.write_text("")
    assert notify_listener(load_settings(config, environ={"HOME": str(tmp_path)})) is None
