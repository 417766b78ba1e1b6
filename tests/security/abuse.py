"""A bounded load of abuse against a running hub while a legitimate member polls their job list:
big bodies (declared and chunked), slow bodies, many long polls, password guessing and anonymous
floods, each on threads of its own. The figures: attacks tried and refused (any 4xx, 429 of the
rate limits included, or a connection the hub closed without serving), 5xx (none may be), the
hub's RSS at the start, its peak and growth, and the member's latency (served: 200 only)."""

from __future__ import annotations

import socket
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from tests.security.world import MemoryWatch, MiB, World, chunked, head, raw

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Figures:
    seconds: float
    tried: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    harmless: Counter[str] = field(default_factory=Counter)  # answered 2xx with no effect (an empty long poll)
    server_errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    legit_calls: int = 0
    legit_served: int = 0
    rss_start: int = 0
    rss_peak: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def p99(self) -> float:
        if len(self.latencies) < 2:
            return max(self.latencies, default=float("inf"))
        return statistics.quantiles(self.latencies, n=100)[98]

    def counters(self) -> Counter[str]:
        return Counter({"attacks tried": sum(self.tried.values()), "refused": sum(self.refused.values()),
                        "5xx": sum(self.server_errors.values()), "RSS peak MiB": self.rss_peak // MiB,
                        "RSS growth MiB": (self.rss_peak - self.rss_start) // MiB,
                        "legitimate served": self.legit_served, "p99 ms": round(self.p99 * 1000)})

    def lines(self) -> list[str]:
        growth = (self.rss_peak - self.rss_start) / MiB
        kinds = sorted(self.tried)
        return [f"hostile load, {self.seconds:.0f} s: attacks tried {sum(self.tried.values())}, refused "
                f"{sum(self.refused.values())}, harmless {sum(self.harmless.values())}, "
                f"5xx {sum(self.server_errors.values())}",
                "  by kind: " + ", ".join(f"{k} {self.tried[k]}/{self.refused[k]}" for k in kinds) + " (tried/refused)",
                f"  hub RSS start {self.rss_start / MiB:.0f} MiB, peak {self.rss_peak / MiB:.0f} MiB, "
                f"growth {growth:.1f} MiB",
                f"  legitimate member: {self.legit_served}/{self.legit_calls} served (200), p99 {self.p99 * 1000:.0f} ms,"
                f" median {statistics.median(self.latencies or [0]) * 1000:.0f} ms, max "
                f"{max(self.latencies, default=0) * 1000:.0f} ms"]


class Abuse:
    """Runs the attackers and the legitimate member for ``seconds``; ``threads`` per kind."""

    def __init__(self, world: World, seconds: float, threads: int = 1, slow_sockets: int = 50,
                 long_polls: int = 20):
        self.world = world
        self.seconds = seconds
        self.threads = threads
        self.slow_sockets = slow_sockets
        self.long_polls = long_polls
        self.figures = Figures(seconds)
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def run(self) -> Figures:
        attackers: list[tuple[str, Callable[[], None]]] = [
            ("declared", self._declared_bodies), ("chunked", self._chunked_bodies),
            ("guess", self._password_guesses), ("anonymous", self._anonymous_flood)]
        workers = [threading.Thread(target=self._loop, args=(kind, fn), daemon=True)
                   for kind, fn in attackers for _ in range(self.threads)]
        workers += [threading.Thread(target=self._slow_bodies, daemon=True),
                    threading.Thread(target=self._many_long_polls, daemon=True),
                    threading.Thread(target=self._legitimate, daemon=True)]
        memory = MemoryWatch(self.world)
        with memory.watching():
            for worker in workers:
                worker.start()
            self._stop.wait(self.seconds)
            self._stop.set()
            for worker in workers:
                worker.join(60)
        self.figures.rss_start, self.figures.rss_peak = memory.baseline, memory.peak
        return self.figures

    # -- bookkeeping --------------------------------------------------------------------------------
    def _count(self, kind: str, status: int) -> None:
        with self._lock:
            self.figures.tried[kind] += 1
            if status >= 500:
                self.figures.server_errors[kind] += 1
            elif status == 0 or status >= 400:
                self.figures.refused[kind] += 1
            else:
                self.figures.harmless[kind] += 1

    def _loop(self, kind: str, attack: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                attack()
            except (OSError, requests.RequestException) as exc:
                with self._lock:
                    self.figures.errors.append(f"{kind}: {exc}")

    # -- the attackers ------------------------------------------------------------------------------
    def _declared_bodies(self) -> None:
        """Huge declared bodies, anonymous and with a token: refused before a byte is read."""
        for method, path, headers in (("POST", "/login", FORM), ("POST", "/oauth/token", FORM),
                                      ("POST", "/api/v1/lz/register", self._auth("outsider")),
                                      ("POST", "/api/v1/stations/s1/jobs?key=abcdefgh", self._auth("member"))):
            self._count("declared", raw(self.world.port, head(method, path, {**headers, "Content-Length": str(1 << 30)})))

    def _chunked_bodies(self) -> None:
        """Bodies with no length, 4 MiB each, to routes whose caps are 16 KiB and 1 MiB."""
        for path, headers in (("/login", FORM), ("/api/v1/lz/register", {**self._auth("outsider"),
                                                                          "Content-Type": "application/json"})):
            status = raw(self.world.port, head("POST", path, {**headers, "Transfer-Encoding": "chunked"}),
                         chunked(4 * MiB))
            self._count("chunked", status)

    def _password_guesses(self) -> None:
        answer = requests.post(self.world.url + "/login", data={"name": "alice", "password": f"guess-{time.monotonic_ns()}"},
                               allow_redirects=False, timeout=30)
        self._count("guess", answer.status_code)

    def _anonymous_flood(self) -> None:
        for method, path, kwargs in (("GET", "/api/v1/jobs", {}), ("POST", "/oauth/device/code", {"data": {"client_id": "lz"}}),
                                     ("GET", f"/jobs/{self.world.job}", {}), ("GET", "/activate?user_code=ABCD-EFGH", {})):
            answer = requests.request(method, self.world.url + path, allow_redirects=False, timeout=30, **kwargs)
            # an anonymous page read answers the sign-in redirect or a refusal: nothing is shown
            self._count("anonymous", 400 if answer.status_code in (302, 303, 307) else answer.status_code)

    def _slow_bodies(self) -> None:
        """``slow_sockets`` connections trickling a form body a byte every half second; a closed
        one is opened again."""
        socks: list[socket.socket] = []
        try:
            while not self._stop.is_set():
                while len(socks) < self.slow_sockets:
                    sock = socket.create_connection(("127.0.0.1", self.world.port), timeout=10)
                    sock.sendall(head("POST", "/login", {**FORM, "Content-Length": "16000"}) + b"name=")
                    socks.append(sock)
                    self._count("slow", 0)  # never served: counted refused when it is opened
                for sock in list(socks):
                    try:
                        sock.sendall(b"a")
                    except OSError:
                        socks.remove(sock)
                        sock.close()
                self._stop.wait(0.5)
        finally:
            for sock in socks:
                sock.close()

    def _many_long_polls(self) -> None:
        """Many long polls at once with one token (bob's zone, in no Station: they wait the
        hub's longest wait and answer nothing)."""
        def poll() -> None:
            with requests.Session() as session:
                while not self._stop.is_set():
                    answer = self.world.call("outsider", "POST", "/api/v1/lz/claim", session=session,
                                             json={"name": "lzb", "wait_s": 60, "max_jobs": 1}, timeout=90)
                    empty = answer.status_code == 200 and answer.json()["jobs"] == []
                    self._count("long-poll", answer.status_code if not empty else 200)
                    if answer.status_code == 429:
                        self._stop.wait(float(answer.headers.get("Retry-After", "1")))

        pollers = [threading.Thread(target=self._guarded, args=("long-poll", poll), daemon=True)
                   for _ in range(self.long_polls)]
        for poller in pollers:
            poller.start()
        for poller in pollers:
            poller.join(90)

    def _guarded(self, kind: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except (OSError, requests.RequestException) as exc:
            with self._lock:
                self.figures.errors.append(f"{kind}: {exc}")

    # -- the legitimate member ----------------------------------------------------------------------
    def _legitimate(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    answer = self.world.call("member", "GET", "/api/v1/jobs", session=session, timeout=30)
                    status = answer.status_code
                except requests.RequestException as exc:
                    status = 0
                    self.figures.errors.append(f"legitimate: {exc}")
                took = time.monotonic() - began
                with self._lock:
                    self.figures.legit_calls += 1
                    if status == 200:
                        self.figures.legit_served += 1
                        self.figures.latencies.append(took)
                    elif status >= 500:
                        self.figures.server_errors["legitimate"] += 1
                self._stop.wait(0.1)

    def _auth(self, actor: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.world.tokens[actor]}"}


def check(figures: Figures, max_growth: int = 100 * MiB, max_p99_s: float = 1.0) -> list[str]:
    """What the figures must show; the problems found (empty: all is well)."""
    problems = []
    if figures.server_errors:
        problems.append(f"5xx answers: {dict(figures.server_errors)}")
    if figures.rss_peak - figures.rss_start >= max_growth:
        problems.append(f"RSS grew {(figures.rss_peak - figures.rss_start) / MiB:.0f} MiB")
    if figures.p99 >= max_p99_s:
        problems.append(f"legitimate p99 {figures.p99:.2f} s")
    if figures.legit_served < figures.legit_calls:
        problems.append(f"legitimate calls not served: {figures.legit_calls - figures.legit_served}")
    tried, refused = sum(figures.tried.values()), sum(figures.refused.values())
    if tried == 0 or refused + sum(figures.harmless.values()) < tried - sum(figures.server_errors.values()):
        problems.append(f"attacks tried {tried}, refused {refused}")
    return problems

