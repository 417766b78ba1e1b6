"""Anyone, with no account (issue 21, items 1 and 13): no route reads a body past its cap, a
lying or trickled body costs a bounded amount, every API route but /meta refuses before reading,
and device-code requests are bounded."""

from __future__ import annotations

import socket
import time

import pytest
import requests

from tests.security.world import SETTINGS, MemoryWatch, MiB, World, chunked, head, raw

pytestmark = [pytest.mark.integration, pytest.mark.security]

FORMS = ("/login", "/oauth/token", "/oauth/device/code", "/activate", "/stations", "/logout")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _routes(world: World) -> list[tuple[str, str]]:
    """(method, path) of every API route, placeholders filled with real names."""
    paths = requests.get(world.url + "/openapi.json", timeout=30).json()["paths"]
    fill = {"{station}": "s1", "{job_id}": world.job, "{lz}": "lz1", "{member}": "mel", "{volume}": "ref",
            "{which}": "stdout"}
    routes = []
    for path, operations in paths.items():
        for placeholder, value in fill.items():
            path = path.replace(placeholder, value)
        routes += [(method.upper(), path) for method in operations]
    return routes


def test_every_api_route_but_meta_refuses_an_anonymous_caller_before_reading_a_body(world: World) -> None:
    routes = _routes(world)
    assert len(routes) > 30
    for method, path in routes:
        status = raw(world.port, head(method, path, {"Content-Length": str(10 << 30), "Content-Type": "application/json"}))
        if path == "/api/v1/meta":
            assert status in (200, 413), (method, path, status)
        else:
            assert status == 401, (method, path, status)  # 10 GiB declared, none sent: answered at once


@pytest.mark.parametrize("path", FORMS)
def test_a_form_declaring_a_huge_body_is_refused_before_any_of_it_is_read(world: World, path: str) -> None:
    began = time.monotonic()
    assert raw(world.port, head("POST", path, {**FORM, "Content-Length": str(400 * MiB)})) == 413
    assert time.monotonic() - began < 5


def test_json_and_uploads_declaring_more_than_their_cap_are_refused(world: World) -> None:
    auth = {"Authorization": f"Bearer {world.tokens['outsider']}"}
    json_head = head("POST", "/api/v1/lz/register", {**auth, "Content-Type": "application/json",
                                                     "Content-Length": str(2 * MiB)})
    assert raw(world.port, json_head) == 413
    upload = head("POST", "/api/v1/stations/s1/jobs?key=abcdefgh",
                  {**auth, "Content-Type": "application/gzip", "Content-Length": str(SETTINGS["max_upload_bytes"] + 1)})
    assert raw(world.port, upload) == 413
    results = head("PUT", f"/api/v1/lz/jobs/{world.job}/results?name=lz1&attempt=1",
                   {"Authorization": f"Bearer {world.tokens['zone']}", "Content-Length": str(1 << 40)})
    assert raw(world.port, results) == 413
    assert raw(world.port, head("POST", "/login", {**FORM, "Content-Length": "12abc"})) in (400, 413)


def test_chunked_bodies_are_cut_at_the_cap_and_cost_no_more(world: World) -> None:
    """No Content-Length to refuse by: the hub counts what arrives and stops at the cap."""
    auth = {"Authorization": f"Bearer {world.tokens['outsider']}"}
    cases = [("POST", "/login", FORM, 64 * MiB),
             ("POST", "/api/v1/lz/register", {**auth, "Content-Type": "application/json"}, 64 * MiB),
             ("POST", "/api/v1/stations/s1/jobs?key=abcdefgh", {**auth, "Content-Type": "application/gzip"}, 64 * MiB)]
    with MemoryWatch(world).watching() as memory:
        for method, path, headers, size in cases:
            status = raw(world.port, head(method, path, {**headers, "Transfer-Encoding": "chunked"}), chunked(size))
            assert status in (0, 404, 413), (path, status)  # the outsider's upload: s1 is not his (404)
    assert memory.growth < 40 * MiB, memory.growth


def test_a_body_shorter_or_longer_than_it_said_is_refused(world: World) -> None:
    # longer: the hub reads what was declared; the rest is not a request (400) or never read
    status = raw(world.port, head("POST", "/login", {**FORM, "Content-Length": "20"}) + b"name=x&password=yy" + b"z" * MiB)
    assert status in (400, 401, 403, 429), status
    # shorter: the client stops sending and closes its side; nothing is served
    with socket.create_connection(("127.0.0.1", world.port), timeout=30) as sock:
        sock.sendall(head("POST", "/login", {**FORM, "Content-Length": "10000"}) + b"name=x")
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(30)
        answer = sock.recv(4096)
    assert answer == b"" or int(answer.split()[1]) >= 400, answer[:100]


def test_slow_bodies_hold_no_worker_and_little_memory_while_others_are_served(world: World) -> None:
    """A hundred clients trickling form bodies a byte at a time: each costs a socket and a
    coroutine (bodies are read before any handler thread is taken), not a worker, and a
    member is served meanwhile."""
    threads_before = world.process.num_threads()
    socks = []
    with MemoryWatch(world).watching() as memory:
        try:
            for _ in range(100):
                sock = socket.create_connection(("127.0.0.1", world.port), timeout=30)
                sock.sendall(head("POST", "/login", {**FORM, "Content-Length": "16000"}) + b"name=")
                socks.append(sock)
            for _ in range(3):
                for sock in socks:
                    try:
                        sock.sendall(b"a")
                    except OSError:
                        pass  # its time was up (408): the hub closed it
                began = time.monotonic()
                assert world.call("member", "GET", "/api/v1/jobs").status_code == 200
                assert time.monotonic() - began < 1.0
                time.sleep(0.3)
            threads_during = world.process.num_threads()
        finally:
            for sock in socks:
                sock.close()
    assert threads_during - threads_before < 10, (threads_before, threads_during)
    assert memory.growth < 30 * MiB, memory.growth


def test_device_code_requests_are_bounded_per_address(world: World) -> None:
    answers = [requests.post(world.url + "/oauth/device/code", data={"client_id": "lz"}, timeout=30)
               for _ in range(30)]
    codes = [a.status_code for a in answers]
    assert set(codes) <= {200, 429} and codes.count(200) <= 20, codes
    refused = [a for a in answers if a.status_code == 429]
    assert refused and all(a.headers.get("Retry-After") for a in refused)


def test_a_trickled_body_is_refused_with_408_when_its_time_is_up(world: World) -> None:
    """A form must arrive whole within ``body_timeout_s`` (3 s on this hub): a byte every 0.2 s
    never gets there."""
    began = time.monotonic()
    status = raw(world.port, head("POST", "/login", {**FORM, "Content-Length": "16000"}), (b"a" for _ in range(200)),
                 pause_s=0.2)
    assert status == 408 and time.monotonic() - began < SETTINGS["body_timeout_s"] + 3
