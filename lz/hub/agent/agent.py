"""The landing zone's side of the hub: claim work while there is room, hand each bundle to the
local intake (the one door), and tell the hub every transition and the results.

Three threads, started by the daemon: the *claimer* long-polls the hub while this landing zone
has room and records each claim before anything else (intent); the *heartbeat* renews the leases
of every claim and brings back cancels and lost leases; the *syncer* does the rest from the
database, so it resumes after a crash: intake of recorded claims, reports from the transitions
log after each claim's cursor, and the results upload once the local job is cleaned (small results
go inside the finish, protocol 4), after which the claim is forgotten.
Network errors, timeouts and 5xx only delay this; they never fail a job. The agent never runs
or stops jobs itself: it goes through the intake and ``JobStore.cancel`` like the CLI does.
"""

from __future__ import annotations

import base64
import functools
import logging
import os
import platform
import tarfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from lz import __version__
from lz.config import Settings
from lz.core.errors import LzError, UserError
from lz.core.layout import JobPaths
from lz.core.machine import State
from lz.core.records import Transition
from lz.core.resources import format_time
from lz.host.faults import crash_point
from lz.hub.agent import beat, leftovers, outbox
from lz.hub.agent.client import HubClient, HubRefused, HubUnavailable
from lz.hub.agent.options import AgentOptions
from lz.hub.agent.outbox import Claim
from lz.hub.agent.ports import PortTunnels
from lz.hub.protocol.names import FACTS, MANIFEST, RESULT_FILES
from lz.hub.protocol.schemas import facts_within_bounds
from lz.hub.protocol.versions import INLINE_BUNDLE_MAX, INLINE_RESULTS_MAX
from lz.store.jobs import Job, JobStore

log = logging.getLogger("lz.hub.agent.agent")


def reported_version(version: str = __version__, most: int = 32) -> str:
    """The version a landing zone registers with: the hub keeps 32 characters. A build from an
    edited checkout (``0.1.1.dev747+g058428d3c.d20261207``) loses its date first, then the rest of
    its local part: registration must never fail on the length of a version string."""
    if len(version) <= most:
        return version
    public, _, local = version.partition("+")
    kept = ".".join(local.split(".")[:1])
    return f"{public}+{kept}" if kept and len(public) + 1 + len(kept) <= most else public[:most]


class HubAgent:
    """``clock`` is wall time, for what is stored or shown (when a claim was made); every interval
    (heartbeats, the sweep) is measured on ``monotonic``, which no clock step moves."""

    def __init__(self, options: AgentOptions, client: HubClient, store: JobStore, settings: Settings,
                 wake: Callable[[], None], clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic):
        self.options = options
        self.client = client
        self.store = store
        self._controls_applied: dict[tuple[str, int], int] = {}
        self.engine = store.engine
        self.settings = settings
        self.name = settings.name
        self.wake_daemon = wake
        self.clock = clock
        self.monotonic = monotonic
        self.lease_s = 30.0
        self.idle_beat_s: float | None = None  # the hub's pace of beats while no job is held
        self._stop = threading.Event()
        self.draining = False  # a pilot's drain (``drain.drain``): what a claim in flight brings goes back
        self._kick = threading.Event()  # wakes the syncer (a new claim, a transition to report)
        self._room = threading.Event()  # wakes the claimer (a job ended)
        self._last_beat: float | None = None  # monotonic
        self._last_sweep: float | None = None  # monotonic
        self._sent_facts: dict[tuple[str, int], dict[str, Any]] = {}
        self._log_sent: dict[tuple[str, int, str], int | None] = {}  # None: the hub refused more
        self._fetched: set[tuple[str, int]] = set()  # bundles fetched ahead by this process
        self._inline: dict[tuple[str, int], bytes] = {}  # bundles a claim answer carried (protocol 2)
        self._inline_lock = threading.Lock()  # the claimer puts them, the syncer takes them
        self.hub_protocol = 1  # what the hub's last claim answer said it speaks (versions.PROTOCOL)
        self._threads: list[threading.Thread] = []
        self.incoming = settings.state_dir / "hub-incoming"
        self.outgoing = settings.state_dir / "hub-outgoing"
        self.ports = PortTunnels(client, self.name, store, self._stop)  # interactive ports (issue 26)

    # -- life ---------------------------------------------------------------------------------------
    def start(self) -> None:
        for path in (self.incoming, self.outgoing):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.sweep()  # what the last run's SIGKILL left, before anything writes there again
        for target, name in ((self._claimer, "hub-claimer"), (self._syncer, "hub-syncer"),
                             (self._beater, "hub-heartbeat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.ports.start()  # not joined at stop: its long poll ends by itself, and the thread is a daemon

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop claiming; what is unreported stays in the database for the next start."""
        self._stop.set()
        self._kick.set()
        self._room.set()
        for thread in self._threads:
            thread.join(timeout_s)

    def kick(self) -> None:
        """Something changed locally (the daemon's tick ran): report it soon."""
        self._kick.set()

    def on_transition(self, job: Job, transition: Transition) -> None:
        """A listener of the job store (the daemon adds it): a job whose process ended frees its
        room at once (the claimer asks for the next job, a job claimed ahead is taken in, while
        this one is collected), and a cleaned job's results go up at once, not at the syncer's
        next pass. Other transitions wait for that pass, so they still reach the hub in batches."""
        if transition.to_state not in _PORTS_OPEN:
            self.ports.close_job(job.id)  # the tunnel closes when the job ends (cancelling: at once)
        if transition.to_state in _ROOM_FREED:
            self._room.set()
            self._kick.set()  # the upload of a cleaned job, the intake of a job claimed ahead

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)

    # -- claiming -----------------------------------------------------------------------------------
    def facts(self) -> dict[str, Any]:
        try:
            import psutil

            memory_mb = int(psutil.virtual_memory().total // (1 << 20))
        except Exception:  # not essential
            memory_mb = None
        runtime = self.store.status().runtime
        return {"name": self.name, "version": reported_version(), "runtime": runtime,
                "executor": self.settings.executor,
                "cpus": os.cpu_count(), "gpus": 0, "memory_mb": memory_mb, "os": platform.system().lower(),
                "arch": platform.machine(), "max_running": self.options.max_running, **self._load(),
                **(self.options.pilot.facts() if self.options.pilot is not None else {})}

    def _load(self) -> dict[str, int]:
        counts = self.store.count_by_state()
        running = counts.get(State.RUNNING.value, 0)
        waiting = sum(v for k, v in counts.items() if k not in (State.RUNNING.value, State.CLEANED.value))
        return {"running": running, "queue_length": waiting}

    def _busy(self) -> int:
        """Claims whose local job has not ended yet (a job being collected or uploaded takes no room)."""
        return self._held()[0]

    def _held(self, held: _Held | None = None) -> tuple[int, list[str]]:
        """(claims whose local job has not ended, the hub ids of those whose job has ended): the
        claim names the latter to a hub that speaks protocol 3, so they take no room there
        before they are reported."""
        claims, states = held or self._snapshot()
        busy, ended = 0, []
        for claim in claims:
            if claim.local_job_id is None:
                busy += not claim.lease_lost
                continue
            if states.get(claim.local_job_id) not in _ROOM_FREED:
                busy += 1
            elif not claim.lease_lost:
                ended.append(claim.hub_job_id)
        return busy, ended

    def _snapshot(self) -> _Held:
        """The claims and their local jobs' states, in two reads: what the claimer decides a
        claim from (it read them once per question before: a few reads per claim per claim)."""
        claims = outbox.claims(self.engine)
        jobs = self.store.some(c.local_job_id for c in claims if c.local_job_id is not None)
        return claims, {job_id: job.state for job_id, job in jobs.items()}

    def _join_stations(self) -> None:
        """``galileod --stations``: ask the hub to add this landing zone to each (it allows it when
        the token's user may add landing zones there); a refusal is one log line."""
        from urllib.parse import quote

        for station in getattr(self.options, "stations", ()):
            try:
                self.client.put(f"/api/v1/stations/{quote(station, safe='')}/zones/{quote(self.name, safe='')}")
                log.warning("landing zone %r joined station %r", self.name, station)
            except HubRefused as exc:
                log.warning("could not join station %r: %s", station, exc)

    def _claimer(self) -> None:
        delay = 1.0
        registered = False
        while not self._stop.is_set():
            try:
                if not registered:
                    self.client.post("/api/v1/lz/register", self.facts(), retries=0)
                    registered = True
                    log.warning("landing zone %r registered with hub %s", self.name, self.client.url)
                    self._join_stations()
                held = self._snapshot()
                busy, ended = self._held(held)
                room = self.options.max_running - busy
                fit = self._pilot_room(held) if self.options.pilot is not None else {}
                if room <= 0 or fit is None:
                    fit = self._ahead_room(held)
                    if fit is None:
                        self._room.wait(1.0)
                        self._room.clear()
                        continue
                    room = 1
                if ended and self.hub_protocol >= 3:
                    fit = {**fit, "ended": ended[:64]}
                answer = self.client.post("/api/v1/lz/claim", {"name": self.name, "max_jobs": min(room, 16),
                                                               "wait_s": self.options.claim_wait_s, **fit},
                                          timeout_s=self.options.claim_wait_s + 15, retries=0,
                                          params={"inline": INLINE_BUNDLE_MAX})  # an older hub ignores it
                self.lease_s = float(answer["lease_s"])
                self.hub_protocol = int(answer.get("protocol") or 1)
                if answer["jobs"] and self.draining:
                    self._hand_back(answer["jobs"])
                    break
                if answer["jobs"]:
                    crash_point("agent.claim.answered")
                for job in _checked_claims(answer["jobs"]):
                    outbox.record_claim(self.engine, self.client.url, job, self.clock())
                    self._keep_inline(job)
                    log.info("claimed hub job %s (attempt %s)", job["id"], job["attempt"])
                if answer["jobs"]:
                    self._kick.set()
                delay = 1.0
            except (HubUnavailable, HubRefused, LzError, OSError, ValueError, KeyError) as exc:
                log.warning("hub %s: %s; trying again in %.0fs", self.client.url, exc, delay)
                self._pause(delay)
                delay = min(delay * 2, 30.0)
            except Exception:  # a bug must not stop the landing zone; it is logged and retried
                log.exception("hub claimer")
                self._pause(delay)
                delay = min(delay * 2, 30.0)

    def _hand_back(self, jobs: list[Any]) -> None:
        """Jobs a claim in flight brought after the drain began: straight back to the hub,
        never recorded (or their leases expire, if the hub cannot be told)."""
        held = [{"id": j.get("id"), "attempt": j.get("attempt")} for j in jobs if isinstance(j, dict)]
        try:
            self.client.post("/api/v1/lz/release", {"name": self.name, "offline": True, "jobs": held},
                             retries=0, timeout_s=3.0)
        except (HubUnavailable, HubRefused, OSError) as exc:
            log.warning("hub %s: %s; %d claimed job(s) will wait for their leases", self.client.url, exc, len(held))

    def _keep_inline(self, job: dict[str, Any]) -> None:
        """A bundle the claim answer carried, kept in memory for the intake (a restarted agent
        has none and downloads it, as an older hub's claim needs anyway)."""
        if not job.get("bundle"):
            return
        try:
            data = base64.b64decode(job["bundle"], validate=True)
        except ValueError:
            log.warning("hub job %s: its inline bundle is not base64; it will be downloaded", job["id"])
            return
        with self._inline_lock:
            self._inline[(job["id"], job["attempt"])] = data

    def _pilot_room(self, snapshot: _Held | None = None) -> dict[str, Any] | None:
        """A pilot's free resources and time for the claim call (``None``: nothing fits now);
        with too little time left it stops claiming and, once idle, stops the daemon."""
        from lz.hub.agent.pilot import as_claim

        claims, states = snapshot or self._snapshot()
        held = [c.spec.get("resources") or {} for c in claims if not c.lease_lost
                and (c.local_job_id is None or states.get(c.local_job_id) not in _ROOM_FREED)]
        room = self.options.pilot.room(held)
        if room is None:
            if not held and not claims:
                log.warning("pilot %r: the allocation ends too soon for any job; leaving", self.name)
                self.on_idle_end()
            return None
        if (room.cpus is not None and room.cpus <= 0) or (room.memory_mb is not None and room.memory_mb <= 0):
            return None
        return as_claim(room)

    def _ahead_room(self, snapshot: _Held | None = None) -> dict[str, Any] | None:
        """A pilot whose room is taken claims one job ahead (its bundle is fetched while the
        running jobs finish), so the next job starts as one ends, not a claim and a download
        later. The job must fit the whole allocation; it is taken in by intake only once it fits
        what is free (``_fits_now``), so nothing ever runs beyond the allocation. One at a time."""
        from lz.hub.agent.pilot import as_claim

        if self.options.pilot is None:
            return None
        claims = (snapshot or self._snapshot())[0]
        if any(c.local_job_id is None and not c.lease_lost for c in claims):
            return None
        room = self.options.pilot.room([])
        return None if room is None else as_claim(room)

    def _fits_now(self, claim: Claim) -> bool:
        """Whether a claimed job may be taken in now: always outside a pilot; in one, while it
        fits the CPUs, memory and GPUs the jobs taken in and still running leave free (a job
        claimed ahead waits here, its bundle fetched). Time is not counted again: the hub
        checked it at the claim."""
        pilot = self.options.pilot
        if pilot is None:
            return True
        from lz.hub.agent.pilot import free

        held = [c.spec.get("resources") or {} for c in outbox.claims(self.engine) if not c.lease_lost
                and c.local_job_id is not None and self.store.get(c.local_job_id).state not in _ROOM_FREED]
        room = free(pilot.allocation, held, None, pilot.margin_s)
        return room is not None and len(held) < self.options.max_running and room.fits(
            {k: v for k, v in (claim.spec.get("resources") or {}).items() if k != "time_s"})

    def on_idle_end(self) -> None:
        """The daemon's way out (a SIGTERM to itself: the same path as ``scancel``)."""
        import signal

        self._stop.set()
        os.kill(os.getpid(), signal.SIGTERM)

    # -- syncing ------------------------------------------------------------------------------------
    def _syncer(self) -> None:
        while not self._stop.is_set():
            try:
                if self.monotonic() - (self._last_sweep or 0.0) >= self.options.sweep_s:
                    self.sweep()
                self.sync_once()
            except (HubUnavailable, LzError, OSError) as exc:
                log.warning("hub %s: %s; will retry", self.client.url, exc)
                self._pause(2.0)
            except Exception:
                log.exception("hub syncer")
                self._pause(2.0)
            self._kick.wait(self.options.sync_s)
            self._kick.clear()

    def _beater(self) -> None:
        """Heartbeats on their own thread, so a long upload never lets a lease lapse."""
        while not self._stop.is_set():
            try:
                self.heartbeat()
            except (HubUnavailable, LzError, OSError) as exc:
                log.warning("hub %s heartbeat: %s; will retry", self.client.url, exc)
            except Exception:
                log.exception("hub heartbeat")
            self._pause(max(0.5, self.beat_due_in()))  # at the lease's pace: a claim since brings it back

    def beat_due_in(self, holding: bool = True) -> float:
        """Seconds to the next beat: a third of the lease, or the hub's ``idle_beat_s`` while
        this zone holds no job (its long polls show it is there)."""
        every = self.lease_s / 3
        if not holding and self.idle_beat_s:
            every = max(every, self.idle_beat_s)
        return beat.due_in(self.monotonic(), self._last_beat, every)

    def heartbeat(self) -> None:
        claims = outbox.claims(self.engine)
        if self.beat_due_in(holding=bool(beat.held(claims))) <= 0:
            self._heartbeat(claims)

    def sweep(self) -> list[Path]:
        """Remove what a crash left in the incoming and outgoing areas (nothing an open claim owns)."""
        self._last_sweep = self.monotonic()
        owned = {(c.hub_job_id, c.attempt) for c in outbox.claims(self.engine)}
        return leftovers.sweep((self.incoming, self.outgoing), owned)

    def sync_once(self) -> None:
        """One pass over every claim; each step is idempotent, so a pass cut short is simply redone.
        Claims not taken in yet go first: a job claimed ahead starts as soon as it is taken in, so
        its intake must not wait behind the round trips (report, results, finish) of the job
        whose end made room for it. The local jobs are read once per pass: one seen in an older
        state than it has now is simply handled at the next pass (its transition kicked it)."""
        held = outbox.claims(self.engine)
        jobs = self.store.some(c.local_job_id for c in held if c.local_job_id is not None)
        for claim in [c for c in held if c.local_job_id is None] + [c for c in held if c.local_job_id is not None]:
            if self._stop.is_set():
                return
            try:
                self._advance(claim, jobs.get(claim.local_job_id) if claim.local_job_id is not None else None)
            except HubRefused as exc:
                if exc.status == 409:
                    self._lease_gone(claim, str(exc))
                else:
                    log.warning("hub job %s: %s", claim.hub_job_id, exc)

    def _heartbeat(self, claims: list[Claim]) -> None:
        """Renew every held attempt; act on what the answer names, attempt by attempt."""
        held = beat.held(claims)
        answer = self.client.post("/api/v1/lz/heartbeat", {
            "name": self.name, "jobs": [{"id": c.hub_job_id, "attempt": c.attempt} for c in held], **self._load()},
            retries=1, timeout_s=max(5.0, self.lease_s / 3))
        self._last_beat = self.monotonic()
        self.lease_s = float(answer["lease_s"])
        self.idle_beat_s = float(answer.get("idle_beat_s") or 0) or None
        wanted = beat.orders(held, answer)
        for claim in wanted.gone:
            self._lease_gone(claim, "the hub gave its lease away")
        for claim in wanted.cancel:
            if not claim.cancel_applied and claim.local_job_id is not None:
                self._cancel_local(claim.local_job_id, "cancelled on the hub")
                outbox.mark(self.engine, claim, cancel_applied=True)
        for claim, control in wanted.controls:
            if claim.local_job_id is not None and claim not in wanted.gone:
                self._control_local(claim, control)

    def _control_local(self, claim: Claim, wanted: dict[str, Any]) -> None:
        """A stop, kill, pause or resume asked on the hub, carried out as ``lz stop`` etc. would:
        recorded on the local job (the daemon's tick signals it). Each request once per process
        (its sequence number); a repeat after a restart is harmless (the request is idempotent)."""
        from lz.engine.control import request

        key = (claim.hub_job_id, claim.attempt)
        if self._controls_applied.get(key) == wanted["seq"] or claim.local_job_id is None:
            return
        self._controls_applied[key] = wanted["seq"]
        try:
            request(self.store, claim.local_job_id, wanted["action"], f"{wanted['by']} (on the hub)")
            self.wake_daemon()
        except UserError as exc:
            log.info("hub job %s: %s not carried out: %s", claim.hub_job_id, wanted["action"], exc)

    def forget(self, claim: Claim) -> None:
        """The claim is done with: out of the outbox, then its files (a crash between leaves them
        to the sweep, as nothing owns them any more)."""
        outbox.forget(self.engine, claim)
        self._fetched.discard((claim.hub_job_id, claim.attempt))
        with self._inline_lock:
            self._inline.pop((claim.hub_job_id, claim.attempt), None)
        leftovers.remove_owned((self.incoming, self.outgoing), (claim.hub_job_id, claim.attempt))

    def _lease_gone(self, claim: Claim, why: str) -> None:
        """Fencing: our copy is no longer the job's; stop it and never report it again."""
        log.warning("hub job %s attempt %s: %s; cancelling the local copy", claim.hub_job_id, claim.attempt, why)
        outbox.mark(self.engine, claim, lease_lost=True)
        if claim.local_job_id is not None:
            self._cancel_local(claim.local_job_id, why)

    def _cancel_local(self, job_id: str, why: str) -> None:
        try:
            if self.store.get(job_id).state != State.CLEANED:
                self.store.cancel(job_id)
                self.wake_daemon()
        except UserError as exc:
            log.info("local job %s: %s (%s)", job_id, exc, why)

    def _advance(self, claim: Claim, job: Job | None = None) -> None:
        """One claim one step on; ``job``: its local job as this pass read it (else read here)."""
        if claim.local_job_id is None:
            if claim.lease_lost:
                self.forget(claim)
                return
            if not self._fits_now(claim):
                self._fetch_ahead(claim)
                return
            claim = self._intake(claim)
            if claim.local_job_id is None:
                return
        if job is None or job.id != claim.local_job_id:
            job = self.store.get(claim.local_job_id)
        if claim.lease_lost:
            if job.state == State.CLEANED:
                self.forget(claim)
                self._room.set()
            return
        if job.state == State.CLEANED and self.hub_protocol >= 2:  # the last transitions go with the finish
            self._finish(self._forward_notifications(claim), job, outbox.unreported(self.engine, claim))
            return
        if self._young(job):
            return  # told in one report once it has lived a while (or by its finish; see _young)
        claim = self._report(claim, job)
        claim = self._forward_notifications(claim)
        if job.state == State.CLEANED:
            self._finish(claim, job)
        elif job.work_dir:
            self._send_logs(claim, JobPaths(Path(job.work_dir)))

    def _young(self, job: Job) -> bool:
        """A job taken in less than ``report_after_s`` ago: its transitions, facts and logs wait
        (the syncer's next pass comes within ``sync_s``), so a short job costs no report of its
        own: its transitions go with its finish. A protocol-2 hub counts a zone's running jobs
        from its reports, so there a job whose process ended is reported at once (its room is
        free); a protocol-3 hub hears that from the next claim (``_held``). A wall clock stepped
        back (an age below 0) never holds a report back."""
        if job.state in _ROOM_FREED and self.hub_protocol < 3:
            return False
        age = self.clock() - job.created_at
        return 0 <= age < self.options.report_after_s

    def _intake(self, claim: Claim) -> Claim:
        from lz.intake.receive import Rejected, receive

        bundle = self.incoming / leftovers.bundle_name(claim.hub_job_id, claim.attempt)
        local_id = outbox.stored_by_intake(self.engine, claim)
        if local_id is None:
            if (claim.hub_job_id, claim.attempt) not in self._fetched or not bundle.exists():
                self._download(claim, bundle)
            crash_point("agent.bundle.downloaded")
            try:
                local_id = receive(self.store, self.settings, bundle, name=claim.name,
                                   overrides=_overrides(claim.spec), origin=claim.origin,
                                   volumes=_volumes(claim.spec)).id
            except Rejected as exc:
                log.warning("hub job %s refused by this landing zone's intake: %s", claim.hub_job_id, exc)
                local_id = exc.job.id
            crash_point("agent.intake.committed")
        bundle.unlink(missing_ok=True)  # also the one an intake that committed before a crash left
        self._fetched.discard((claim.hub_job_id, claim.attempt))
        outbox.link(self.engine, claim, local_id)
        self.wake_daemon()
        self._room.set()  # a pilot's claimer may now claim the next job ahead
        log.info("hub job %s attempt %s is local job %s", claim.hub_job_id, claim.attempt, local_id)
        return outbox.Claim(**{**claim.__dict__, "local_job_id": local_id})

    def _download(self, claim: Claim, bundle: Path) -> None:
        """The bundle the claim answer carried, else from the hub; either way renamed in place."""
        with self._inline_lock:
            data = self._inline.pop((claim.hub_job_id, claim.attempt), None)
        if data is not None:
            tmp = bundle.with_name(f".{bundle.name}.part")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, bundle)
            return
        self.client.download(f"/api/v1/lz/jobs/{quote(claim.hub_job_id)}/bundle", bundle,
                             params={"name": self.name, "attempt": claim.attempt})

    def _fetch_ahead(self, claim: Claim) -> None:
        """The bundle of a job claimed ahead, fetched while it waits for room. Only this process
        trusts it (``_fetched``): after a crash it is fetched again (a renamed file that was
        never fsynced may be torn after a node crash)."""
        key = (claim.hub_job_id, claim.attempt)
        if key in self._fetched:
            return
        self._download(claim, self.incoming / leftovers.bundle_name(claim.hub_job_id, claim.attempt))
        self._fetched.add(key)

    def _report(self, claim: Claim, job: Job) -> Claim:
        events = outbox.unreported(self.engine, claim)
        facts = _facts(job)
        key = (claim.hub_job_id, claim.attempt)
        if not events and self._sent_facts.get(key) == facts:
            return claim
        answer = self.client.post(f"/api/v1/lz/jobs/{quote(claim.hub_job_id)}/events",
                                  {"name": self.name, "attempt": claim.attempt, "events": events, "facts": facts})
        self._sent_facts[key] = facts
        seq = max([claim.reported_seq, answer["acknowledged_seq"], *(e["seq"] for e in events)])
        if seq != claim.reported_seq:
            outbox.mark(self.engine, claim, reported_seq=seq)
        return outbox.Claim(**{**claim.__dict__, "reported_seq": seq})

    def _forward_notifications(self, claim: Claim) -> Claim:
        """What the job sent through ``$LZ_NOTIFY`` since the hub's last acknowledgement, 100 a
        request, before the finish, so none is lost (a job keeps at most ``Limits.per_job``)."""
        while True:
            pending = outbox.unnotified(self.engine, claim)
            if not pending:
                break
            answer = self.client.post(f"/api/v1/lz/jobs/{quote(claim.hub_job_id)}/notifications",
                                      {"name": self.name, "attempt": claim.attempt, "notifications": pending})
            seq = max(claim.notified_seq, int(answer["acknowledged_seq"]), pending[-1]["seq"])
            outbox.mark(self.engine, claim, notified_seq=seq)
            claim = outbox.Claim(**{**claim.__dict__, "notified_seq": seq})
        return claim

    def _send_logs(self, claim: Claim, paths: JobPaths) -> None:
        """The next bytes of the running job's logs, for ``lz logs`` through the hub (at most
        1 MiB per log and pass; the hub answers its size, so a restarted agent resumes there)."""
        for which, path in (("build.log", paths.build_log), ("stdout", paths.stdout), ("stderr", paths.stderr)):
            key = (claim.hub_job_id, claim.attempt, which)
            sent = self._log_sent.get(key, 0)
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            if sent is None or size <= sent:
                continue
            with open(path, "rb") as handle:
                handle.seek(sent)
                chunk = handle.read(1 << 20)
            try:
                answer = self.client.request(
                    "POST", f"/api/v1/lz/jobs/{quote(claim.hub_job_id)}/logs/{which}", body=functools.partial(bytes, chunk),
                    retries=0,
                    params={"name": self.name, "attempt": claim.attempt, "offset": sent},
                    headers={"Content-Type": "application/octet-stream"}).json()
            except HubRefused as exc:
                if exc.status != 413:
                    raise
                self._log_sent[key] = None
                continue
            self._log_sent[key] = int(answer["size"])

    def _finish(self, claim: Claim, job: Job, events: list[dict[str, Any]] | None = None, inline_ok: bool = True) -> None:
        """Upload the results (if the job has any), finish the attempt (with ``events``, its
        transitions not reported yet, to a protocol-2 hub), then forget the claim. Small results
        go inside the finish to a protocol-4 hub (no upload request); should it refuse them there,
        they go up as an upload."""
        stored = self.settings.results_dir / job.id
        has_results = job.results_at is not None and (stored / MANIFEST).exists()
        facts = _facts(job)
        inline: str | None = None
        if has_results:
            archive = self.outgoing / leftovers.archive_name(claim.hub_job_id, claim.attempt)
            try:
                _pack_results(stored, archive)
                crash_point("agent.results.archived")
                if inline_ok and self.hub_protocol >= 4 and archive.stat().st_size <= INLINE_RESULTS_MAX:
                    inline = base64.b64encode(archive.read_bytes()).decode("ascii")
                else:
                    self.client.upload("PUT", f"/api/v1/lz/jobs/{quote(claim.hub_job_id)}/results", archive,
                                       "application/x-tar", params={"name": self.name, "attempt": claim.attempt},
                                       timeout_s=600)
                    crash_point("agent.results.uploaded")
            except HubRefused as exc:
                if exc.status not in (413, 422):
                    raise
                # the hub will never take these results (too large, say): end the attempt without them
                has_results = False
                facts["reason"] = f"{job.reason or job.outcome}; results refused by the hub: {exc}"[:4096]
            finally:
                archive.unlink(missing_ok=True)
        try:
            self.client.post(f"/api/v1/lz/jobs/{quote(claim.hub_job_id)}/finish",
                             {"name": self.name, "attempt": claim.attempt, "results": has_results, "facts": facts,
                              **({"events": events} if events else {}),
                              **({"results_inline": inline} if inline is not None else {})})
        except HubRefused as exc:
            if inline is None or exc.status not in (413, 422):
                raise
            log.warning("hub job %s: results refused inside the finish (%s); uploading them", claim.hub_job_id, exc)
            self._finish(claim, job, events, inline_ok=False)
            return
        crash_point("agent.finish.sent")
        self.forget(claim)
        crash_point("agent.finish.acknowledged")
        self._sent_facts.pop((claim.hub_job_id, claim.attempt), None)
        for which in ("build.log", "stdout", "stderr"):
            self._log_sent.pop((claim.hub_job_id, claim.attempt, which), None)
        self._room.set()
        log.info("hub job %s attempt %s finished (%s)", claim.hub_job_id, claim.attempt, job.outcome)


_Held = tuple[list[Claim], dict[str, str]]
"""The claims and the states of their local jobs (``HubAgent._snapshot``)."""
_PORTS_OPEN = frozenset({State.RUNNING, State.PAUSED})
"""States in which a job's tunnels stay open (a paused job's connections wait for it)."""
_ROOM_FREED = frozenset({State.COLLECTING, State.CLEANED})
"""States of a job whose process has ended: its CPUs, memory and GPUs are free for the next claim
while its results are collected and uploaded."""


def _facts(job: Job) -> dict[str, Any]:
    """The job's facts for the hub, each within the protocol's bounds (out of them: null, logged)."""
    facts, dropped = facts_within_bounds({k: getattr(job, k) for k in FACTS})
    if dropped:
        log.warning("job %s: %s out of the hub's bounds, reported as unknown", job.id, ", ".join(dropped))
    return facts


def _checked_claims(jobs: Any) -> list[dict[str, Any]]:
    """The claims of a hub's answer that have the hub's own form; the rest are refused with a log
    line. A claim's id and attempt name files of the state folder (the bundle, the results
    archive), so a hostile hub's ``../../x`` must never reach a path."""
    from pydantic import ValidationError

    from lz.hub.protocol.schemas import Claimed

    checked = []
    for job in jobs if isinstance(jobs, list) else []:
        try:
            checked.append(Claimed.model_validate(job).model_dump())
        except ValidationError as exc:
            log.warning("hub answered a claim that is not one (%d problems, first: %s); ignored",
                        exc.error_count(), exc.errors()[0]["msg"])
    return checked


def _volumes(spec: dict[str, Any]) -> tuple[Any, ...]:
    """The Station's volumes mapped on this landing zone (the hub puts them in the claimed spec)."""
    from lz.core.volumes import Volume, check

    return tuple(check(Volume.from_dict(v)) for v in spec.get("volumes") or ())


def _overrides(spec: dict[str, Any]) -> dict[str, Any]:
    """The resources the hub accepted (lz.toml and the submitter's flags) as intake flags."""
    res = spec.get("resources") or {}
    return {"cpus": res.get("cpus"), "gpus": res.get("gpus"), "memory": res.get("memory_mb"),
            "time": format_time(res["time_s"]) if res.get("time_s") else None, "partition": res.get("partition"),
            "array": spec.get("array")}  # a sweep travels as one job and runs whole on the zone that claims it


def _pack_results(stored: Path, archive: Path) -> None:
    fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w:") as tar:
        for name in RESULT_FILES:
            if (stored / name).is_file():
                tar.add(stored / name, arcname=name, recursive=False)


def start_agent(options: AgentOptions | None, store: JobStore, settings: Settings,
                wake: Callable[[], None]) -> HubAgent | None:
    """The daemon's one call: None without a hub. The token is read here, once, and kept in
    memory only (never in argv or the environment of jobs)."""
    if options is None:
        return None
    from lz.hub.agent.client import read_token

    token = options.tokens if options.tokens is not None else read_token(options.token_file)
    agent = HubAgent(options, HubClient(options.url, token), store, settings, wake)
    agent.start()
    return agent
