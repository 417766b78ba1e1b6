"""A hub soak: real hubs and landing zones on loopback, jobs that leave a trace of every run, and
random SIGKILLs of zones, of zones together with their jobs' processes (a machine dying), and of
the hub. Shared by the small soak in CI (``test_hub_soak.py``) and the large one in
``bench/hub_soak.py``; both print the same columns, and the goal for each is 0.

- *lost*: a job that did not succeed (nothing asked it to stop);
- *duplicated*: a job whose process ran more often than the hub has attempts for it, or whose
  results hold the output of more than one run;
- *stuck*: a job not finished when the soak's time ran out;
- *wrong*: a job whose returned result is not what its input makes;
- *leftovers*: files left in a zone's work root, spool or hub areas, or in the hub's incoming
  uploads, once everything finished. An upload a killed hub was receiving stays in ``incoming``
  until a hub's sweep finds it older than ``incoming_grace_s`` (600 s): the soak sweeps, as that
  sweep would, what was last changed before the last hub kill (*dead uploads swept*), and counts
  what is left.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import tarfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from lz.hub.agent.client import HubClient, read_token
from tests.integration.hub_server import HubServer, hub_landing_zone
from tests.integration.landing_zone import LandingZone, wait_until
from tests.integration.tls_proxy import Balancer, make_ca

RUN = """#!/bin/sh
# one line per run of this job, in a ledger outside every landing zone
echo "$$ $(date +%s.%N)" >> "$LEDGER/{name}"
sleep {sleep}
expr {number} \\* {number} > square.txt
"""


def soak_job(name: str, number: int, sleep_s: float, ledger: Path) -> bytes:
    files = {"job/lz.toml": f'name = "{name}"\ncommand = ["sh", "run.sh"]\nenv = {{ LEDGER = "{ledger}" }}\n'
                            '[resources]\ncpus = 1\n'.encode(),
             "job/run.sh": RUN.format(name=name, sleep=sleep_s, number=number).encode()}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class SoakResult:
    jobs: int
    seconds: float = 0.0
    kills: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    zone_leftovers: list[str] = field(default_factory=list)
    hub_leftovers: list[str] = field(default_factory=list)
    attempts: Counter[int] = field(default_factory=Counter)
    unstarted_at_first_event: int | None = None  # jobs no run of which had begun when the chaos first struck
    last_hub_kill: float | None = None  # wall clock: the stored times of the uploads are
    dead_uploads: int = 0  # what killed hubs were receiving, swept at the end (``_sweep_dead_uploads``)

    def columns(self) -> dict[str, Any]:
        return {"jobs": self.jobs, "seconds": round(self.seconds, 1), "kills": dict(self.kills),
                "attempts": dict(sorted(self.attempts.items())), "lost": len(self.lost),
                "duplicated": len(self.duplicated), "stuck": len(self.stuck), "wrong": len(self.wrong),
                "zone leftovers": len(self.zone_leftovers), "hub leftovers": len(self.hub_leftovers),
                **({} if self.unstarted_at_first_event is None else {"unstarted at first event": self.unstarted_at_first_event}),
                **({} if self.last_hub_kill is None else {"dead uploads swept": self.dead_uploads})}

    def check(self) -> None:
        bad = {k: getattr(self, k) for k in ("lost", "duplicated", "stuck", "wrong", "zone_leftovers",
                                               "hub_leftovers") if getattr(self, k)}
        assert not bad, json.dumps({**self.columns(), "details": {k: v[:10] for k, v in bad.items()}}, indent=1)


FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")


def wall_clock_shifter(zone: LandingZone, base: Path) -> Path | None:
    """Run ``zone`` under libfaketime (Debian's faketime package) with its wall-clock offset read
    from a file the chaos rewrites: its wall clock steps, its monotonic clock does not. None
    where libfaketime is missing."""
    if not FAKETIME.exists():
        return None
    offset = base / "wall-offset"
    offset.write_text("+0\n")
    extra = {"LD_PRELOAD": str(FAKETIME), "FAKETIME_TIMESTAMP_FILE": str(offset), "FAKETIME_NO_CACHE": "1",
             "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    zone.daemon.env.update(extra)
    return offset


class Chaos:
    """Random kills at random moments, from a seed, each followed by a restart after a delay
    shorter or longer than the lease, and wall-clock steps of one zone; a background thread
    until ``stop``.

    ``first``/``first_when``: a test that must see a hub die mid-run names the first event's kind
    and the progress it waits for (polled), not a delay: test_hub_balanced's first kill came
    8.7 s after its second upload, which with the hubs waking each other's claims at once was as
    the last jobs began, and could come after the end (then no hub killed at all)."""

    def __init__(self, zones: list[LandingZone], hubs: list[HubServer], seed: int, every_s: float, lease_s: float,
                 result: SoakResult, wall_offset: Path | None = None, first: str | None = None,
                 first_when: Callable[[], bool] | None = None, unstarted: Callable[[], int] | None = None):
        self.zones, self.hubs, self.every_s, self.lease_s, self.result = zones, hubs, every_s, lease_s, result
        self.first = first  # the kind of the first event (a test that must see a hub die), else random
        self.first_when = first_when  # the first event once this holds, else after a random delay
        self.unstarted = unstarted  # jobs not begun yet: noted at the first event (``SoakResult``)
        self.wall_offset = wall_offset
        self.random = random.Random(seed)
        self.done = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="chaos", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join(120)
        if self.errors:
            raise self.errors[0]

    def _run(self) -> None:
        try:
            while self._next():
                kind = self.random.choice(["zone", "zone", "machine", "machine", "hub", "clock"])
                kind, self.first = self.first or kind, None
                if self.unstarted is not None and self.result.unstarted_at_first_event is None:
                    self.result.unstarted_at_first_event = self.unstarted()
                pause = self.random.choice([0.2, 1.0, self.lease_s * 1.5])
                if kind == "clock":
                    if self.wall_offset is not None:  # an hour back, or put right again
                        stepped = self.wall_offset.read_text().strip() != "+0"
                        self.wall_offset.write_text("+0\n" if stepped else "-3600\n")
                        self.result.kills["clock step"] += 1
                    continue
                if kind == "hub":
                    hub = self.random.choice(self.hubs)
                    hub.kill9()
                    self.result.kills["hub"] += 1
                    self.result.last_hub_kill = time.time()
                    time.sleep(pause)
                    hub.start()
                    continue
                zone = self.random.choice(self.zones)
                if kind == "machine":
                    kill_machine(zone)
                    self.result.kills["machine"] += 1
                else:
                    zone.kill9()
                    self.result.kills["zone"] += 1
                time.sleep(pause)
                zone.start()
        except BaseException as exc:  # surfaced by stop()
            self.errors.append(exc)

    def _next(self) -> bool:
        """Wait for the next event: False once stopped. The first waits for ``first_when`` where
        given (its random delay drawn all the same: the later events stay those of the seed)."""
        delay = self.random.uniform(0.5, 1.5) * self.every_s
        when, self.first_when = self.first_when, None
        if when is None:
            return not self.done.wait(delay)
        while not when():
            if self.done.wait(0.05):
                return False
        return True


def kill_machine(zone: LandingZone) -> None:
    """SIGKILL a zone's daemon and every process working in its work root: its machine died."""
    zone.kill9()
    root = str(zone.workdir.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd == root or cwd.startswith(root + "/"):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def run_soak(base: Path, *, jobs: int = 60, zones: int = 4, hubs: int = 1, db_url: str | None = None,
             lease_s: float = 4.0, chaos_every_s: float = 6.0, seed: int = 1, timeout_s: float = 600,
             max_running: int = 2, max_sleep_s: float = 3.0, balanced: bool = False,
             store: str | None = None) -> SoakResult:
    """``balanced``: every zone and the user reach the hubs only through one nginx in front of
    them all (deploy/nginx/lz-hub.conf with a server line per hub), as a site with several hub
    hosts runs them. ``store``: an object store's URL; each hub then has a folder of its own
    (no shared disk), else they share one ``files`` folder."""
    ledger = base / "ledger"
    ledger.mkdir(parents=True)
    files = base / "files"
    servers = [HubServer(base / f"hub{i}", db=db_url or str(base / "hub.db"), files=None if store else files,
                         lease_s=lease_s, store=store)
               for i in range(hubs)]
    fleet: list[LandingZone] = []
    result = SoakResult(jobs)
    chaos: Chaos | None = None
    balancer: Balancer | None = None
    started = time.monotonic()
    try:
        for server in servers:
            server.start()
        url, ca = servers[0].url, None
        if balanced:
            tls = make_ca(base / "tls")
            balancer = Balancer(base / "balancer", tls, [server.port for server in servers])
            balancer.start()
            url, ca = balancer.url, tls.ca
        token = servers[0].user("alice")
        session = requests.Session()
        if ca is not None:  # this CA, whatever REQUESTS_CA_BUNDLE the machine sets (it would win)
            session.trust_env, session.verify = False, str(ca)
        client = HubClient(url, read_token(token), timeout_s=60, session=session)
        client.post("/api/v1/stations", {"name": "soak"})
        _allow_attempts(client, "soak", 20)
        wall_offset = None
        for i in range(zones):
            zone = hub_landing_zone(base / f"lz{i}", servers[i % hubs], f"lz{i}", token, max_running, 0.3,
                                    url=url if balanced else None, ca=ca)
            if i == 0:
                wall_offset = wall_clock_shifter(zone, base)
            zone.start()
            fleet.append(zone)
        wait_until(lambda: len(client.get("/api/v1/zones")) == zones, 60, "landing zones registered")
        for i in range(zones):
            client.put(f"/api/v1/stations/soak/zones/lz{i}")
        shuffle = random.Random(seed)
        numbers = {f"s{i:04d}": i + 2 for i in range(jobs)}
        ids: dict[str, str] = {}
        for name, number in numbers.items():
            bundle = base / f"{name}.tar.gz"
            bundle.write_bytes(soak_job(name, number, round(shuffle.uniform(0, max_sleep_s), 2), ledger))
            answer = _retrying(lambda b=bundle, n=name: client.upload(  # type: ignore[misc]
                "POST", "/api/v1/stations/soak/jobs", b, "application/gzip", params={"key": f"soak-{n}", "name": n}))
            ids[name] = answer["id"]
            bundle.unlink()
            if chaos is None and len(ids) == max(1, jobs // 10):
                # balanced: a hub killed once a quarter of the jobs began, so mid-run however fast they go
                chaos = Chaos(fleet, servers, seed, chaos_every_s, lease_s, result, wall_offset,
                              first="hub" if balanced else None,
                              first_when=(lambda: _begun(ledger) >= max(1, jobs // 4)) if balanced else None,
                              unstarted=(lambda: jobs - _begun(ledger)) if balanced else None)
                chaos.start()
        deadline = time.monotonic() + timeout_s
        listing: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            listing = _retrying(lambda: client.get("/api/v1/jobs", params={"station": "soak"}))
            if len(listing) == jobs and all(j["state"] == "cleaned" for j in listing):
                break
            time.sleep(1.0)
        if chaos is not None:
            chaos.stop()
        if wall_offset is not None:
            wall_offset.write_text("+0\n")
        for zone in fleet:  # every zone up again, to finish what it holds and sweep what it left
            if not zone.daemon.running():
                zone.start()
        settle = time.monotonic() + max(60.0, 6 * lease_s)
        while time.monotonic() < settle:
            listing = _retrying(lambda: client.get("/api/v1/jobs", params={"station": "soak"}))
            if all(j["state"] == "cleaned" for j in listing) and _zones_idle(fleet):
                break
            time.sleep(1.0)
        result.seconds = time.monotonic() - started
        _judge(result, client, listing, numbers, ids, ledger, base)
        for zone in fleet:
            zone.stop()
        fleet_left = [p for zone in fleet for p in zone.leftovers() + _hub_areas(zone)]
        result.zone_leftovers.extend(fleet_left)
        if result.last_hub_kill is not None:
            result.dead_uploads = _sweep_dead_uploads(servers, result.last_hub_kill)
        result.hub_leftovers.extend(_hub_incoming(servers, files, store))
        return result
    finally:
        if chaos is not None and not chaos.done.is_set():
            chaos.done.set()
        for zone in fleet:
            zone.stop()
        for server in servers:
            server.stop()
        if balancer is not None:
            balancer.stop()


def _sweep_dead_uploads(servers: list[HubServer], last_kill: float) -> int:
    """The hubs' own sweep of incoming uploads (``Store.sweep_incoming``, each hub's store: the
    shared folder or bucket, and its scratch), with the grace reaching back to the last hub kill
    instead of ``incoming_grace_s``: what a killed hub was receiving goes, and what any hub wrote
    after the last kill stays, to be counted as left behind."""
    now = time.time()
    return sum(server.open_store().sweep_incoming(now, now - last_kill) for server in servers)


def _hub_incoming(servers: list[HubServer], files: Path, store: str | None) -> list[str]:
    """Uploads the hubs left unfinished: in the shared folder, or in the bucket and each hub's
    own scratch folder."""
    if store is None:
        return [str(p) for p in (files / "incoming").glob("*")] if (files / "incoming").exists() else []
    left = [name for name, _ in servers[0].open_store().listing("incoming")]
    return left + [str(p) for server in servers for p in (server.files / "incoming").glob("*")
                   if (server.files / "incoming").exists()]


def _allow_attempts(client: HubClient, station: str, attempts: int) -> None:
    """Give the soak's Station room for many attempts where the hub bounds them: each kill may
    cost a job an attempt, and the soak is about the kills, not about running out of them."""
    try:
        client.request("PUT", f"/api/v1/stations/{station}", json={"max_attempts": attempts}, retries=0)
    except Exception:  # a hub without bounded attempts: nothing to raise
        pass


def _retrying(call: Any, tries: int = 60) -> Any:
    """The hub may be down for a moment (the chaos kills it): try again, as a client would."""
    for attempt in range(tries):
        try:
            return call()
        except Exception:
            if attempt == tries - 1:
                raise
            time.sleep(1.0)
    raise AssertionError("unreachable")


def _begun(ledger: Path) -> int:
    """Jobs whose first run began: each writes its ledger line first thing."""
    return sum(1 for _ in ledger.iterdir())


def _zones_idle(fleet: list[LandingZone]) -> bool:
    return all(not zone.leftovers() for zone in fleet)


def _hub_areas(zone: LandingZone) -> list[str]:
    """Files a zone keeps for a hub (incoming bundles, outgoing results) once nothing is open."""
    found = []
    for area in ("incoming", "outgoing"):
        for root in (zone.db.parent / "hub" / area, zone.db.parent / area):
            if root.exists():
                found += [str(p) for p in root.rglob("*") if p.is_file()]
    return found


def _judge(result: SoakResult, client: HubClient, listing: list[dict[str, Any]], numbers: dict[str, int],
           ids: dict[str, str], ledger: Path, base: Path) -> None:
    by_id = {j["id"]: j for j in listing}
    for name, job_id in ids.items():
        job = by_id.get(job_id)
        if job is None or job["state"] != "cleaned":
            result.stuck.append(f"{name} {job and job['state']}")
            continue
        result.attempts[int(job["attempts"])] += 1
        runs = (ledger / name).read_text().splitlines() if (ledger / name).exists() else []
        if len(runs) > int(job["attempts"]):
            result.duplicated.append(f"{name}: {len(runs)} runs for {job['attempts']} attempts")
        if job["outcome"] != "succeeded":
            result.lost.append(f"{name}: {job['outcome']} ({job.get('reason')})")
            continue
        out = base / "results" / name
        try:
            square = _square(client, job_id, out)
        except Exception as exc:
            result.wrong.append(f"{name}: no results ({exc})")
            continue
        if square != str(numbers[name] ** 2):
            result.wrong.append(f"{name}: {square!r} != {numbers[name] ** 2}")


def _square(client: HubClient, job_id: str, out: Path) -> str:
    """square.txt from the job's stored results (the archive holds results.tar.gz)."""
    import gzip

    out.mkdir(parents=True, exist_ok=True)
    archive = out / "results.tar"
    client.download(f"/api/v1/jobs/{job_id}/results", archive)
    with tarfile.open(archive) as outer:
        inner = outer.extractfile("results.tar.gz")
        assert inner is not None
        with gzip.GzipFile(fileobj=inner) as unzipped, tarfile.open(fileobj=unzipped, mode="r|") as tar:
            for member in tar:
                if member.name.endswith("square.txt"):
                    handle = tar.extractfile(member)
                    assert handle is not None
                    return handle.read().decode().strip()
    raise AssertionError("no square.txt in the results")
