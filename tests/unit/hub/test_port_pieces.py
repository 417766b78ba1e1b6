"""The pure pieces of interactive ports (issue 26): ``ports`` in lz.toml, the hub's forwarded
request head and rewritten answer headers, the bandwidth meter, the agent's checks of a wanted
tunnel and its WebSocket address, squeue's batch host, and ``[ports]`` of the hub's file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lz.core import value_class
from lz.core.errors import BundleError
from lz.core.job import JobSpec
from lz.host.process import Completed
from lz.hub.agent.outbox import Claim
from lz.hub.agent.ports import LOOPBACK, Refused, endpoint, job_host, websocket_url
from lz.hub.protocol.ports import PortLimits, TunnelRequest
from lz.hub.server.config import load_file
from lz.hub.server.port_proxy import (
    answer_headers,
    forwarded_headers,
    forwarded_target,
    same_origin,
    without_hub_cookies,
)
from lz.hub.server.tunnels import Meter
from lz.intake.spec_file import load_spec
from lz.slurm.commands import batch_host_argv
from lz.slurm.parse import read_batch_host
from tests.unit.fakes import job_snapshot


# -- lz.toml ---------------------------------------------------------------------------------------
def _spec(tmp_path: Path, ports: str) -> JobSpec:
    (tmp_path / "lz.toml").write_text(f'command = ["python3", "serve.py"]\nports = {ports}\n')
    return load_spec(tmp_path)


def test_ports_in_lz_toml_are_kept_sorted_once_and_travel_in_the_spec(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "[8888, 6006, 8888]")
    assert spec.ports == (6006, 8888)
    assert spec.to_dict()["ports"] == [6006, 8888]
    assert JobSpec.from_dict(spec.to_dict()).ports == (6006, 8888)
    assert "ports" not in JobSpec(name="x").to_dict()  # a spec without ports reads as before


@pytest.mark.parametrize("ports", ["8888", "[0]", "[65536]", '["8888"]', "[true]", "[1.5]", str(list(range(1, 18)))])
def test_ports_that_are_not_a_short_list_of_tcp_ports_are_refused(tmp_path: Path, ports: str) -> None:
    with pytest.raises(BundleError, match="`ports` must be a list"):
        _spec(tmp_path, ports)


# -- the hub's relay -------------------------------------------------------------------------------
def test_the_forwarded_request_drops_the_hubs_credentials_and_says_where_it_came_from() -> None:
    raw = [(b"Host", b"hub.example"), (b"Cookie", b"lz_session=SECRET; _xsrf=abc; lz_login=X"),
           (b"Authorization", b"Bearer TOKEN"), (b"Connection", b"keep-alive"), (b"Transfer-Encoding", b"chunked"),
           (b"X-Forwarded-For", b"6.6.6.6"), (b"Accept", b"text/html")]
    out = forwarded_headers(raw, "/jobs/ab12/port/8888", 5, "10.0.0.9", "https")
    assert out == [(b"host", b"hub.example"), (b"cookie", b"_xsrf=abc"), (b"accept", b"text/html"),
                   (b"x-forwarded-prefix", b"/jobs/ab12/port/8888"), (b"x-forwarded-proto", b"https"),
                   (b"connection", b"close"), (b"x-forwarded-for", b"10.0.0.9"), (b"content-length", b"5")]
    only_hub = forwarded_headers([(b"cookie", b"lz_session=S")], "/p", 0, None, "http")
    assert not any(name == b"cookie" for name, _ in only_hub)
    assert without_hub_cookies(b"a=1;lz_pkce=2; b=3") == b"a=1; b=3"


def test_the_job_sees_its_own_paths() -> None:
    prefix = "/jobs/ab12/port/8888"
    assert forwarded_target(b"/jobs/ab12/port/8888/", prefix, b"") == b"/"
    assert forwarded_target(b"/jobs/ab12/port/8888/tree/a%2Fb%20c.ipynb", prefix, b"kernel=1") == \
        b"/tree/a%2Fb%20c.ipynb?kernel=1"  # as it was sent: the job decodes it itself
    assert forwarded_target(b"/elsewhere", prefix, b"") == b"/"


def test_the_answer_keeps_a_redirect_under_the_prefix_and_leaves_framing_to_the_hub() -> None:
    raw = [(b"Location", b"/login?next=%2F"), (b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"12"),
           (b"Set-Cookie", b"_xsrf=1; Path=/"), (b"Connection", b"close")]
    assert answer_headers(raw, "/jobs/ab12/port/8888") == [
        ("location", "/jobs/ab12/port/8888/login?next=%2F"), ("content-length", "12"), ("set-cookie", "_xsrf=1; Path=/")]
    assert answer_headers([(b"location", b"//elsewhere/x")], "/p") == [("location", "//elsewhere/x")]
    assert answer_headers([(b"location", b"https://a.example/")], "/p") == [("location", "https://a.example/")]


def test_a_websocket_from_another_sites_page_is_not_relayed() -> None:
    assert same_origin(None, "hub.example")  # a program, not a browser
    assert same_origin("https://hub.example", "hub.example")
    assert same_origin("http://127.0.0.1:8750", "127.0.0.1:8750")
    assert not same_origin("https://evil.example", "hub.example")
    assert not same_origin("null", "hub.example")  # a sandboxed page
    assert not same_origin("https://hub.example", None)


def test_the_meter_lets_a_seconds_worth_through_then_paces() -> None:
    meter = Meter(1000, now=0.0)
    assert meter.delay(1000, 0.0) == 0.0
    assert meter.delay(500, 0.0) == pytest.approx(0.5)
    assert meter.delay(500, 1.0) == pytest.approx(0.0)  # refilled while it waited
    assert Meter(0, now=0.0).delay(10**9, 0.0) == 0.0  # 0: no limit


def test_the_hubs_file_sets_the_port_limits(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text("[ports]\nidle_s = 30\nbytes_per_s = 0\n")
    assert load_file(path)["ports"] == PortLimits(idle_s=30, bytes_per_s=0)
    path.write_text("[ports]\nopen_relay = true\n")
    with pytest.raises(ValueError, match="open_relay"):
        load_file(path)


# -- the agent -------------------------------------------------------------------------------------
WANTED = TunnelRequest(id="t" * 32, job_id="ab12", attempt=2, port=8888)


def _running(ports: tuple[int, ...] = (8888,), state: str = "running", executor: str = "local"):  # type: ignore[no-untyped-def]
    return value_class.replace(job_snapshot("local1"), state=state, spec=JobSpec(name="n", ports=ports),
                               executor=executor, executor_id="4242")


def _claim(**changes: object) -> Claim:
    return dataclasses.replace(Claim("ab12", 2, "n", {}, "local1", 0, False, False), **changes)  # type: ignore[arg-type]


def test_the_agent_opens_only_a_declared_port_of_a_running_job_it_holds() -> None:
    assert endpoint(WANTED, [_claim()], lambda _id: _running(), job_host).host == LOOPBACK
    refusals = {
        "not held here": ([_claim(attempt=1)], _running()),
        "not held here ": ([_claim(lease_lost=True)], _running()),
        "not held here  ": ([_claim(local_job_id=None)], _running()),
        "is not running": ([_claim()], _running(state="collecting")),
        "declares no port 8888": ([_claim()], _running(ports=(9999,))),
    }
    for why, (claims, job) in refusals.items():
        with pytest.raises(Refused, match=why.strip()):
            endpoint(WANTED, claims, lambda _id, job=job: job, job_host)
    with pytest.raises(Refused, match="node it runs on"):
        endpoint(WANTED, [_claim()], lambda _id: _running(), lambda _job: None)


def test_a_slurm_jobs_ports_are_on_its_batch_host() -> None:
    seen = []

    def squeue(argv: list[str], *, timeout: float) -> Completed:
        seen.append(argv)
        return Completed(tuple(argv), 0, "node07\n", "")

    assert job_host(_running(executor="slurm"), squeue) == "node07"
    assert seen == [["squeue", "--noheader", "--jobs", "4242", "--format=%B"]] == [batch_host_argv("4242")]
    assert read_batch_host(0, "n/a\n") is None  # still pending
    assert read_batch_host(1, "slurm_load_jobs error: Invalid job id specified\n") is None
    assert read_batch_host(0, "") is None
    assert read_batch_host(0, "a\nb\n") is None
    assert read_batch_host(0, "node;rm -rf /\n") is None


def test_the_tunnels_websocket_address() -> None:
    assert websocket_url("https://hub.example/lz/", "abc", "my zone") == \
        "wss://hub.example/lz/api/v1/lz/tunnels/abc?name=my%20zone"
    assert websocket_url("http://127.0.0.1:8080", "abc", "X") == "ws://127.0.0.1:8080/api/v1/lz/tunnels/abc?name=X"


def test_a_jobs_tunnels_close_when_it_ends_and_none_is_kept_for_an_ended_job() -> None:
    import socket
    import threading

    from lz.hub.agent.ports import PortTunnels

    class Store:
        state = "running"

        def get(self, _job_id: str):  # type: ignore[no-untyped-def]
            return _running(state=self.state)

    store = Store()
    tunnels = PortTunnels(None, "X", store, threading.Event())  # type: ignore[arg-type]
    ours, theirs = socket.socketpair()
    assert tunnels._keep("local1", ours, theirs) and tunnels.open_count("local1") == 2
    tunnels.close_job("local1")
    assert tunnels.open_count("local1") == 0 and ours.fileno() == -1 and theirs.fileno() == -1
    store.state = "collecting"
    ours, theirs = socket.socketpair()
    assert not tunnels._keep("local1", ours, theirs)  # it ended meanwhile: closed at once
    assert tunnels.open_count("local1") == 0 and ours.fileno() == -1
