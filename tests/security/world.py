"""A real ``lz hub serve`` (SQLite, loopback) and the people who attack it: anonymous, an
outsider (an account in no Station), a member, a Station admin, the Station's owner and a
landing-zone token; with raw sockets for what a polite HTTP client never sends (lying
``Content-Length``, bodies trickled a byte at a time) and the hub's memory read from its pid."""

from __future__ import annotations

import html
import re
import select
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import requests

from tests.integration.hub_server import HubServer
from tests.unit.hub_helpers import job_tarball

MiB = 1 << 20
# the test hub's limits: small, so that going past them costs little
SETTINGS = {"max_upload_bytes": 8 * MiB, "max_results_bytes": 8 * MiB, "max_live_log_bytes": MiB,
            "max_bundle_bytes": 16 * MiB, "max_bundle_files": 1000, "body_timeout_s": 3.0, "body_idle_s": 3.0,
            "max_parallel_checks": 2, "check_wait_s": 2.0, "max_claim_wait_s": 5.0}
PASSWORD = "correct horse battery"
ACTORS = ("owner", "admin", "member", "outsider", "zone")


class World:
    """Station s1: alice owns it and its landing zone lz1; ann is an admin, mel a member (with
    her own zone lzm, which a hub admin added); bob is in no Station (his zone lzb serves none);
    ``zone`` is alice's landing-zone token. One job of alice's waits in s1."""

    def __init__(self, base: Path, store: str | None = None):
        config = base / "hub.toml"
        base.mkdir(parents=True, exist_ok=True)
        config.write_text("[hub]\n" + "".join(f"{k} = {v}\n" for k, v in SETTINGS.items()))
        self.server = HubServer(base, config=config, store=store)
        self.server.start()
        self.url = self.server.url
        self.port = self.server.port
        assert self.server.proc is not None
        self.process = psutil.Process(self.server.proc.pid)
        self.tokens = self._accounts()
        self._stations()

    # -- setting up, as the hub's administrator and its users would ---------------------------------
    def _accounts(self) -> dict[str, str]:
        """Users and tokens written to the hub's database as ``lz hub user add`` / ``token create``
        write them (one process instead of a dozen)."""
        from lz.hub.server import db
        from lz.hub.server.domain import accounts, login

        engine = db.make_hub_engine(self.server.db if "://" in self.server.db else f"sqlite:///{self.server.db}")
        now = time.time()
        tokens = {}
        try:
            with db.write(engine) as conn:
                for actor, name in (("owner", "alice"), ("admin", "ann"), ("member", "mel"), ("outsider", "bob"),
                                    ("root", "root"), ("zed", "zed")):
                    accounts.add_user(conn, name, actor == "root", now)
                    tokens[actor] = accounts.create_token(conn, name, now)[1]
                tokens["zone"] = accounts.create_token(conn, "alice", now, None, "landing-zone")[1]
                login.set_password(conn, "alice", PASSWORD)
        finally:
            engine.dispose()
        return tokens

    def _stations(self) -> None:
        self.ok("owner", "POST", "/api/v1/stations", json={"name": "s1"})
        self.ok("zone", "POST", "/api/v1/lz/register", json={"name": "lz1", "cpus": 2})
        self.ok("owner", "PUT", "/api/v1/stations/s1/zones/lz1")
        self.ok("member", "POST", "/api/v1/lz/register", json={"name": "lzm", "cpus": 2})
        self.ok("outsider", "POST", "/api/v1/lz/register", json={"name": "lzb", "cpus": 2})
        for actor, user, role in (("admin", "ann", "admin"), ("member", "mel", "member")):
            self.ok("owner", "POST", "/api/v1/stations/s1/invitations", json={"user": user, "role": role})
            self.ok(actor, "POST", "/api/v1/invitations/s1/accept")
        self.ok("root", "PUT", "/api/v1/stations/s1/zones/lzm")
        self.ok("owner", "PUT", "/api/v1/stations/s1/volumes/ref", json={"mount": "/data/ref", "access": "rw"})
        self.job = self.submit("owner")

    # -- calls ------------------------------------------------------------------------------------
    def call(self, actor: str | None, method: str, path: str, session: requests.Session | None = None,
             **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if actor is not None:
            headers["Authorization"] = f"Bearer {self.tokens[actor]}"
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("allow_redirects", False)
        return (session or requests).request(method, self.url + path, headers=headers, **kwargs)

    def ok(self, actor: str | None, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.call(actor, method, path, **kwargs)
        assert answer.status_code < 300, (method, path, answer.status_code, answer.text)
        return answer.json() if answer.content else None

    def submit(self, actor: str, station: str = "s1", body: bytes | None = None) -> str:
        key = f"key-{time.monotonic_ns()}"
        return str(self.ok(actor, "POST", f"/api/v1/stations/{station}/jobs", params={"key": key},
                           data=body or job_tarball())["id"])

    def web_session(self) -> requests.Session:
        """Alice signed in at the web page (the hidden fields of the sign-in form sent back)."""
        session = requests.Session()
        page = session.get(self.url + "/login", timeout=30).text
        fields = {}
        for tag in re.findall(r"<input[^>]*>", page):
            name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
            if 'type="hidden"' in tag and name:
                fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
        answer = session.post(self.url + "/login", data={**fields, "name": "alice", "password": PASSWORD},
                              allow_redirects=False, timeout=30)
        # signed in: a redirect, or a page that refreshes to the next one (the session cookie set)
        assert answer.status_code in (200, 302, 303) and session.cookies, (answer.status_code, answer.text[:300])
        return session

    def rss(self) -> int:
        return int(self.process.memory_info().rss)

    def server_errors(self) -> list[str]:
        """Lines of the hub's log that answered 5xx or logged a traceback (none may)."""
        return [line for line in self.server.log().splitlines()
                if re.search(r'HTTP/1\.[01]" 5\d\d ', line) or "Exception in ASGI application" in line]

    def stop(self) -> None:
        self.server.stop()


# -- raw HTTP: what a polite client never sends ----------------------------------------------------
def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode()


def raw(port: int, request: bytes, parts: Iterable[bytes] = (), pause_s: float = 0.0,
        timeout_s: float = 30.0) -> int:
    """Send ``request`` then each of ``parts`` (``pause_s`` apart), stopping as soon as the hub
    answers; the status it answered, or 0 when it closed the connection without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        try:
            sock.sendall(request)
            for part in parts:
                if select.select([sock], [], [], 0)[0]:
                    break  # answered (refused) before the body was sent
                sock.sendall(part)
                if pause_s:
                    time.sleep(pause_s)
        except OSError:
            pass  # the hub closed its end: read what it said before
        return read_status(sock, timeout_s)


def read_status(sock: socket.socket, timeout_s: float) -> int:
    sock.settimeout(timeout_s)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    found = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(found.group(1)) if found else 0


def chunked(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A chunked body of ``total`` bytes (with no Content-Length to refuse it by)."""
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        yield f"{n:x}\r\n".encode() + b"a" * n + b"\r\n"
        sent += n
    yield b"0\r\n\r\n"


class MemoryWatch:
    """The hub's RSS sampled every 20 ms while the block runs: ``baseline`` and ``peak``."""

    def __init__(self, world: World):
        self.world = world
        self.baseline = self.peak = world.rss()
        self._stop = threading.Event()

    @contextmanager
    def watching(self) -> Iterator[MemoryWatch]:
        self.baseline = self.peak = self.world.rss()
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(5)
            self.peak = max(self.peak, self.world.rss())

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.peak = max(self.peak, self.world.rss())
            except psutil.Error:
                return

    @property
    def growth(self) -> int:
        return self.peak - self.baseline
