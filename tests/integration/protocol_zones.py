"""Many lightweight landing zones speaking the hub's own protocol against one real hub process: the
shared driver of ``bench/hub_scale.py`` and its CI size (``test_hub_many_zones.py``).

A zone here is no ``lz run`` daemon but the wire of one (``lz.hub.agent``): its own landing-zone
token, ``register``, a long-poll ``claim`` loop (``wait_s`` 20 as the agent), a heartbeat every
third of the lease naming what it holds, and per claimed job: the bundle downloaded, the local
transitions reported (build, built, started, ended), a small results tar uploaded, ``finish``. To a
hub that speaks protocol 3 a job is as short as the agent's ``report_after_s`` allows: no report
of its own, every transition goes with the finish (the agent's claims name its ended jobs instead).
Request and answer bodies are the protocol's pydantic schemas. All zones run as asyncio tasks on one
event loop, each zone with an httpx client of its own (a few connections): a thousand idle long
polls are a thousand sockets, not a thousand threads. The hub's CPU and RSS come from
``/proc/PID/stat`` and ``/proc/PID/status``."""

from __future__ import annotations

import asyncio
import base64
import gc
import io
import os
import random
import ssl
import statistics
import tarfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lz.core.machine import Outcome, State
from lz.hub.agent.client import read_token
from lz.hub.protocol.names import MANIFEST
from lz.hub.protocol.schemas import (
    Claimed,
    ClaimIn,
    ClaimOut,
    EventIn,
    Facts,
    FinishIn,
    HeartbeatIn,
    HeartbeatOut,
    Held,
    ReportIn,
    ZoneFacts,
)
from lz.hub.protocol.versions import INLINE_BUNDLE_MAX, PROTOCOL
from tests.integration.hub_fleet import trivial_job
from tests.integration.hub_server import HubServer

STATION = "scale"
TRIES = 4
CLAIM_WAIT_S = 20.0  # the agent's default (AgentOptions.claim_wait_s)
_TRANSITIONS = (  # what a `none`-runtime job's local lifecycle records, in the order the agent reports them:
    # one syncer pass once it runs, the rest with the finish (protocol 2; 3: all with the finish)
    ((State.RECEIVED, State.BUILDING, "build"), (State.BUILDING, State.QUEUED, "built"),
     (State.QUEUED, State.RUNNING, "started")),
    ((State.RUNNING, State.COLLECTING, "ended"),),
)


class HubProcess:
    """CPU seconds (user + system, all threads) of the hub's processes together, and the resident
    memory of the largest."""

    def __init__(self, *pids: int):
        self.pids = pids
        self.tick = os.sysconf("SC_CLK_TCK")

    def cpu_s(self) -> float:
        return sum(self._cpu_s(pid) for pid in self.pids)

    def _cpu_s(self, pid: int) -> float:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()  # after the command name, which may hold spaces
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime, stime

    def rss_mib(self) -> float:
        return max(self._rss_mib(pid) for pid in self.pids)

    @staticmethod
    def _rss_mib(pid: int) -> float:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError(f"no VmRSS for {pid}")


def _results_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:") as tar:
        for name, data in {"stdout": b"ok\n", MANIFEST: b"{}\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Wire:
    """What every zone and submitter saw: answers by status class, and when each job was claimed
    (monotonic) and by whom."""

    statuses: Counter[int] = field(default_factory=Counter)
    claimed_at: dict[str, float] = field(default_factory=dict)
    claims: Counter[str] = field(default_factory=Counter)  # job id -> times handed out
    finished: dict[str, asyncio.Event] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    transport_errors: Counter[str] = field(default_factory=Counter)  # tried again, as the agent does

    def done(self, job_id: str) -> asyncio.Event:
        return self.finished.setdefault(job_id, asyncio.Event())

    async def call(self, client: httpx.AsyncClient, method: str, path: str, token: str, *,
                   headers: dict[str, str] | None = None, answer: bool = True, **kwargs: Any) -> Any:
        headers = {**(headers or {}), "Authorization": f"Bearer {token}"}
        for attempt in range(TRIES):  # as the agent's HubClient: a network error is tried again
            try:
                response = await client.request(method, path, headers=headers, **kwargs)
                break
            except httpx.TransportError as exc:
                self.transport_errors[type(exc).__name__] += 1
                if attempt + 1 == TRIES:
                    raise
                await asyncio.sleep(0.5 * 2 ** attempt)
        self.statuses[response.status_code] += 1
        if response.status_code >= 400:
            problem = f"{method} {path} -> {response.status_code} {response.text[:200]}"
            self.failures.append(problem)
            raise AssertionError(problem)
        return response.json() if answer else None


class Zone:
    def __init__(self, name: str, token: str, wire: Wire, max_running: int):
        self.name = name
        self.token = token
        self.wire = wire
        self.max_running = max_running
        self.held: dict[str, int] = {}
        self.finishing: set[str] = set()  # a heartbeat crossing the finish names it gone: no loss
        self.lease_s = 30.0
        self.room = asyncio.Event()
        self.client: httpx.AsyncClient  # its own small pool: one pool of 2,000 connections is the
        # load generator's bottleneck (httpcore scans its pool per request), not the hub's

    async def register(self, client: httpx.AsyncClient) -> None:
        facts = ZoneFacts(name=self.name, executor="local", runtime="none", cpus=1, max_running=self.max_running)
        await self.wire.call(client, "POST", "/api/v1/lz/register", self.token, json=facts.model_dump())

    async def claim_loop(self, client: httpx.AsyncClient) -> None:
        jobs: set[asyncio.Task[None]] = set()
        while True:
            room = self.max_running - len(self.held)
            if room <= 0:
                self.room.clear()
                await self.room.wait()
                continue
            body = ClaimIn(name=self.name, max_jobs=min(room, 16), wait_s=CLAIM_WAIT_S)
            answer = ClaimOut.model_validate(await self.wire.call(
                client, "POST", "/api/v1/lz/claim", self.token, json=body.model_dump(exclude_none=True),
                params={"inline": INLINE_BUNDLE_MAX}, timeout=CLAIM_WAIT_S + 15))
            now = time.monotonic()
            self.lease_s = answer.lease_s
            for job in answer.jobs:
                self.wire.claimed_at.setdefault(job.id, now)
                self.wire.claims[job.id] += 1
                self.held[job.id] = job.attempt
                task = asyncio.create_task(self._run(client, job, answer.protocol))
                jobs.add(task)
                task.add_done_callback(jobs.discard)

    async def heartbeat_loop(self, client: httpx.AsyncClient) -> None:
        """As the agent's beater: a beat a third of the lease after the last, or the hub's
        ``idle_beat_s`` after it while the zone holds no job (woken at the lease's pace to see)."""
        await asyncio.sleep(random.uniform(0, self.lease_s / 3))  # zones start at scattered times
        idle_beat_s, last = 0.0, -1e9
        while True:
            every = self.lease_s / 3 if self.held else max(self.lease_s / 3, idle_beat_s)
            if time.monotonic() - last < every:
                await asyncio.sleep(min(self.lease_s / 3, every - (time.monotonic() - last)))
                continue
            last = time.monotonic()
            body = HeartbeatIn(name=self.name, running=len(self.held), queue_length=0,
                               jobs=[Held(id=i, attempt=a) for i, a in self.held.items()])
            answer = HeartbeatOut.model_validate(await self.wire.call(
                client, "POST", "/api/v1/lz/heartbeat", self.token, json=body.model_dump()))
            taken = [j for j in answer.gone_jobs + answer.cancel_jobs
                     if self.held.get(j.id) == j.attempt and j.id not in self.finishing]
            if taken:
                self.wire.failures.append(f"{self.name}: the heartbeat took jobs away: {taken}")
            idle_beat_s = answer.idle_beat_s or 0.0

    async def _run(self, client: httpx.AsyncClient, job: Claimed, protocol: int = PROTOCOL) -> None:
        """One trivial job, as the agent drives it: bundle (inside the claim answer when small),
        transitions, results, finish (with the last transitions; protocol 3: with all of them;
        protocol 4: with the results too)."""
        try:
            where = f"/api/v1/lz/jobs/{job.id}"
            attempt: dict[str, str | int] = {"name": self.name, "attempt": job.attempt}
            if job.bundle is None:
                await self.wire.call(client, "GET", f"{where}/bundle", self.token, params=attempt, answer=False)
            seq = 0
            batches = []
            for batch in _TRANSITIONS:
                events = []
                for source, dest, event in batch:
                    seq += 1
                    events.append(EventIn(seq=seq, from_state=source, to_state=dest, event=event, at=time.time()))
                batches.append(events)
            if protocol >= 3:  # a job younger than the agent's report_after_s: told by its finish alone
                batches = [[], batches[0] + batches[1]]
            else:
                report = ReportIn(name=self.name, attempt=job.attempt, events=batches[0],
                                  facts=Facts(executor="local", started_at=time.time()))
                await self.wire.call(client, "POST", f"{where}/events", self.token,
                                     json=report.model_dump(exclude_unset=True))
            inline = None
            if protocol >= 4:  # small results inside the finish: no upload request
                inline = base64.b64encode(_results_tar()).decode("ascii")
            else:
                await self.wire.call(client, "PUT", f"{where}/results", self.token, params=attempt,
                                     content=_results_tar(), headers={"Content-Type": "application/x-tar"})
            self.finishing.add(job.id)
            finish = FinishIn(name=self.name, attempt=job.attempt, results=True, events=batches[1],
                              facts=Facts(outcome=Outcome.SUCCEEDED, exit_code=0, ended_at=time.time()),
                              results_inline=inline)
            await self.wire.call(client, "POST", f"{where}/finish", self.token,
                                 json=finish.model_dump(exclude_unset=True))
            self.wire.done(job.id).set()
        except Exception as exc:  # noqa: BLE001 - a failure is a result of the run, counted and shown
            self.wire.failures.append(f"{self.name} job {job.id}: {type(exc).__name__}: {exc}")
        finally:
            self.held.pop(job.id, None)
            self.finishing.discard(job.id)
            self.room.set()


@dataclass
class ScaleResult:
    zones: int
    jobs: int
    setup_s: float
    idle_s: float
    baseline_cpu_s_per_min: float  # the same hub before any zone joined
    idle_cpu_s_per_min: float
    idle_rss_mib: float
    latency_ms: list[float]  # submit sent -> claim answer at the zone, one job at a time, zones idle
    burst_s: float  # the burst of ``jobs``: first submit sent -> last finish acknowledged
    burst_cpu_s: float
    peak_rss_mib: float
    statuses: Counter[int]
    claims: Counter[str]
    failures: list[str]
    transport_errors: Counter[str]
    burst_statements: int = 0  # SQL statements the hub sent during the burst

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.burst_s

    @property
    def cpu_ms_per_job(self) -> float:
        return self.burst_cpu_s / self.jobs * 1000

    @property
    def net_cpu_ms_per_job(self) -> float:
        """Less what the zones cost while idle (heartbeats, polls) over the same time."""
        return (self.burst_cpu_s - self.idle_cpu_s_per_min / 60 * self.burst_s) / self.jobs * 1000

    def percentile(self, q: float) -> float:
        values = sorted(self.latency_ms)
        return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")

    def row(self) -> dict[str, Any]:
        return {"zones": self.zones, "baseline_cpu_s_per_min": round(self.baseline_cpu_s_per_min, 2),
                "idle_cpu_s_per_min": round(self.idle_cpu_s_per_min, 2),
                "idle_rss_mib": round(self.idle_rss_mib, 1),
                "claim_ms_p50": round(statistics.median(self.latency_ms), 1) if self.latency_ms else None,
                "claim_ms_p95": round(self.percentile(0.95), 1), "claim_ms_p99": round(self.percentile(0.99), 1),
                "jobs": self.jobs, "jobs_per_s": round(self.jobs_per_s, 1),
                "cpu_ms_per_job": round(self.cpu_ms_per_job, 1), "net_cpu_ms_per_job": round(self.net_cpu_ms_per_job, 1),
                "statements_per_job": round(self.burst_statements / self.jobs, 1),
                "peak_rss_mib": round(self.peak_rss_mib, 1),
                "5xx": sum(n for s, n in self.statuses.items() if s >= 500),
                "network_errors": sum(self.transport_errors.values()), "setup_s": round(self.setup_s, 1)}

    def check(self) -> None:
        """Every job claimed once and finished, no refusal and no 5xx."""
        assert not self.failures, self.failures[:5]
        assert not [s for s in self.statuses if s >= 400], self.statuses
        assert len(self.claims) == self.jobs + len(self.latency_ms), (len(self.claims), self.jobs)
        assert set(self.claims.values()) == {1}, [j for j, n in self.claims.items() if n != 1][:5]


def run_scale(base: Path, *, zones: int, jobs: int, latency_jobs: int = 50, idle_s: float = 30.0,
              baseline_s: float = 10.0, submitters: int = 4, max_running: int = 4,
              db_url: str | None = None, hubs: int = 1, config: Path | None = None) -> ScaleResult:
    """A fresh hub process: ``baseline_s`` of its CPU with no zone at all, then ``zones``
    protocol-level zones long-polling it, then: ``idle_s`` of idle (CPU and RSS), ``latency_jobs`` submitted one at a time, each once finished (submit->claim),
    then ``jobs`` submitted at once by ``submitters`` clients (jobs/s, CPU per job).

    ``hubs`` 2 (PostgreSQL): a second hub process on the same database and stored files; the
    submitters talk to the first, every zone to the second, so each claim is woken by what
    another process committed (CPU and statements of both together, RSS of the larger).
    ``config``: the hubs' configuration file (``lz hub serve --config``)."""
    assert hubs in (1, 2), hubs
    servers = [HubServer(base / "hub", db=db_url, metrics=True, config=config, access_log=False)]
    if hubs == 2:
        assert db_url is not None and not db_url.startswith("sqlite"), "two hubs need PostgreSQL"
        servers.append(HubServer(base / "hub2", db=db_url, metrics=True, files=servers[0].files, config=config,
                                 access_log=False))
    for server in servers:
        server.start()
    try:
        pids = [server.proc.pid for server in servers if server.proc is not None]
        return asyncio.run(_drive(servers, HubProcess(*pids), zones=zones, jobs=jobs,
                                  latency_jobs=latency_jobs, idle_s=idle_s, baseline_s=baseline_s,
                                  submitters=submitters,
                                  max_running=max_running))
    finally:
        for server in servers:
            server.stop()


async def _drive(hubs: list[HubServer], proc: HubProcess, *, zones: int, jobs: int, latency_jobs: int, idle_s: float,
                 baseline_s: float, submitters: int, max_running: int) -> ScaleResult:
    hub = hubs[0]
    wire = Wire()
    alice = read_token(hub.user("alice"))
    limits = httpx.Limits(max_connections=4 * submitters + 16)
    bundle = trivial_job()
    async with httpx.AsyncClient(base_url=hub.url, limits=limits, timeout=60) as client:
        await wire.call(client, "POST", "/api/v1/stations", alice, json={"name": STATION})
        cpu0, t0 = proc.cpu_s(), time.monotonic()
        await asyncio.sleep(baseline_s)
        baseline_cpu = (proc.cpu_s() - cpu0) / (time.monotonic() - t0) * 60
        started = time.monotonic()
        loops: list[asyncio.Task[None]] = []
        fleet: list[Zone] = []

        def start(zone: Zone) -> None:  # as an agent: polling and beating once it has registered
            fleet.append(zone)
            loops.extend(asyncio.create_task(loop(zone.client)) for loop in (zone.claim_loop, zone.heartbeat_loop))

        try:
            await _join(client, wire, alice, zones, max_running, hubs[-1].url, start)
            setup_s = time.monotonic() - started
            await asyncio.sleep(min(5.0, idle_s))  # every zone in its first long poll
            quiet_collector()  # the generator's own pauses are not the hub's
            cpu0, t0 = proc.cpu_s(), time.monotonic()
            await _sleep_watching(loops, idle_s)
            idle_cpu = (proc.cpu_s() - cpu0) / (time.monotonic() - t0) * 60
            idle_rss = proc.rss_mib()

            async def submit(key: str) -> str:
                answer = await wire.call(client, "POST", f"/api/v1/stations/{STATION}/jobs", alice, content=bundle,
                                         headers={"Content-Type": "application/gzip"},
                                         params={"key": key, "name": key})
                return str(answer["id"])

            latency = []
            for i in range(latency_jobs):
                sent = time.monotonic()
                job_id = await submit(f"latency-{i:06d}")
                await _wait_watching(loops, wire.done(job_id).wait(), 60, wire)
                latency.append((wire.claimed_at[job_id] - sent) * 1000)
                await asyncio.sleep(0.05)  # the zone back in its long poll
            peak_rss = proc.rss_mib()
            statements0 = await _statements(client, hubs)
            cpu1, t1 = proc.cpu_s(), time.monotonic()
            sent_at: dict[str, float] = {}

            async def submitter(first: int) -> None:
                for i in range(first, jobs, submitters):
                    sent = time.monotonic()
                    sent_at[await submit(f"burst-{i:06d}")] = sent

            await asyncio.gather(*(submitter(k) for k in range(submitters)))
            await _wait_watching(loops, asyncio.gather(*(wire.done(j).wait() for j in sent_at)), 600, wire)
            burst_s, burst_cpu = time.monotonic() - t1, proc.cpu_s() - cpu1
            statements = await _statements(client, hubs) - statements0
            peak_rss = max(peak_rss, proc.rss_mib())
        finally:
            usual_collector()
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await asyncio.gather(*(zone.client.aclose() for zone in fleet))
    return ScaleResult(zones, jobs, setup_s, idle_s, baseline_cpu, idle_cpu, idle_rss, latency, burst_s, burst_cpu, peak_rss,
                       wire.statuses, wire.claims, wire.failures, wire.transport_errors, statements)


_USUAL_THRESHOLDS = gc.get_threshold()


def quiet_collector() -> None:
    """This process's collector tuned as ``lz hub serve`` tunes the hub's (``tune_collector``):
    a thousand zones' clients are some 200,000 objects, and each full collection of them stopped
    the generator for 280 ms, which the latency figures counted as the hub's."""
    from lz.hub.server.warmup import tune_collector

    tune_collector()


def usual_collector() -> None:
    gc.set_threshold(*_USUAL_THRESHOLDS)
    gc.unfreeze()


async def _statements(client: httpx.AsyncClient, hubs: list[HubServer]) -> int:
    """The SQL statements the hub processes have sent so far (``lz_hub_db_statements_total``)."""
    total = 0
    for hub in hubs:
        assert hub.metrics_url is not None
        text = (await client.get(hub.metrics_url)).text
        total += int(sum(float(line.rsplit(None, 1)[1]) for line in text.splitlines()
                         if line.startswith("lz_hub_db_statements_total{")))
    return total


async def _join(client: httpx.AsyncClient, wire: Wire, alice: str, zones: int, max_running: int,
                zone_url: str, start: Callable[[Zone], None]) -> list[Zone]:
    """Each zone: a landing-zone token of its own (``POST /api/v1/tokens``), registered (at
    ``zone_url``, where it then long-polls), added to the Station, then ``start``ed. Zones start
    as they join, not all in one instant after the last: a fleet whose polls all began together
    polled again together every ``CLAIM_WAIT_S``, a burst of 1,000 requests that held a job
    submitted then for up to 2 s (the hub now spreads such polls apart, ``POLL_SPREAD``, but that
    takes a few rounds)."""
    gate = asyncio.Semaphore(8)
    tls = ssl.create_default_context()  # one for all (plain http here; httpx would make one per client)

    async def one(i: int) -> Zone:
        async with gate:
            made = await wire.call(client, "POST", "/api/v1/tokens", alice,
                                   json={"for_landing_zones": True, "label": f"scale-{i}"})
            zone = Zone(f"z{i:05d}", made["token"], wire, max_running)
            zone.client = httpx.AsyncClient(base_url=zone_url, timeout=60, verify=tls,
                                            limits=httpx.Limits(max_connections=max_running + 4))
            await zone.register(zone.client)
            await wire.call(client, "PUT", f"/api/v1/stations/{STATION}/zones/{zone.name}", alice)
        start(zone)
        return zone

    return list(await asyncio.gather(*(one(i) for i in range(zones))))


async def _sleep_watching(loops: list[asyncio.Task[None]], seconds: float) -> None:
    """Sleep, but fail at once when a zone's loop died (a refused claim or heartbeat)."""
    done, _ = await asyncio.wait(loops, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for task in done:
        task.result()


async def _wait_watching(loops: list[asyncio.Task[None]], awaitable: Any, timeout: float, wire: Wire) -> None:
    """Until ``awaitable`` is done; fails when a zone's loop dies first or after ``timeout``."""
    waiting = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait([waiting, *loops], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if waiting not in done:
        waiting.cancel()
        for task in done:
            task.result()
        raise AssertionError(f"not finished within {timeout:g} s; failures: {wire.failures[:5]}; "
                             f"network errors: {dict(wire.transport_errors)}; answers: {dict(wire.statuses)}")
