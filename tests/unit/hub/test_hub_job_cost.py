"""What one job costs the hub (issue 22): protocol 2's fewer requests (the bundle inside the claim
answer, the last transitions with the finish), verified tokens kept a few seconds (and forgotten
at once on a revoke through this process), and a statement budget for one job's whole trip."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lz.hub.protocol.versions import INLINE_BUNDLE_MAX, PROTOCOL
from lz.hub.server import db
from lz.hub.server.domain import accounts
from tests.unit.hub_helpers import HubApp, hub_app, job_tarball, results_tar


def _claim(h: HubApp, token: str, inline: int | None = None) -> dict[str, Any]:
    query = f"?inline={inline}" if inline is not None else ""
    return dict(h.ok("POST", f"/lz/claim{query}", token, json={"name": "lz1", "wait_s": 0, "max_jobs": 1}))


def _events(*steps: tuple[int, str, str, str]) -> list[dict[str, Any]]:
    return [{"seq": seq, "from_state": a, "to_state": b, "event": e, "at": time.time()} for seq, a, b, e in steps]


def _finish_one(h: HubApp, token: str, job: dict[str, Any], events: list[dict[str, Any]]) -> None:
    where = f"/api/v1/lz/jobs/{job['id']}"
    attempt = {"name": "lz1", "attempt": job["attempt"]}
    put = h.client.put(f"{where}/results", params=attempt, content=results_tar(),
                       headers={**h.auth(token), "Content-Type": "application/x-tar"})
    assert put.status_code == 200, put.text
    h.ok("POST", f"/lz/jobs/{job['id']}/finish", token, json={
        **attempt, "results": True, "events": events, "facts": {"outcome": "succeeded", "exit_code": 0}})


def test_a_claim_asking_inline_carries_the_bundle_and_says_its_protocol(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        alice = h.user("alice")
        h.station_with_zone(alice)
        h.ok("POST", "/lz/register", alice, json={"name": "lz1", "cpus": 4, "max_running": 4})
        bundle = job_tarball()
        assert h.submit(alice, body=bundle).status_code == 201
        assert h.submit(alice, body=bundle).status_code == 201
        answer = _claim(h, alice, inline=1 << 20)  # asked for more than the hub inlines: its bound holds
        assert answer["protocol"] == PROTOCOL >= 2
        assert base64.b64decode(answer["jobs"][0]["bundle"]) == bundle
        older = _claim(h, alice)  # an older agent asks nothing: no bundle, it downloads
        assert older["jobs"][0]["bundle"] is None


def test_a_bundle_over_the_inline_bound_is_downloaded(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        alice = h.user("alice")
        h.station_with_zone(alice)
        big = job_tarball(files={"noise.bin": bytes(range(256)) * 40})  # compresses poorly enough
        assert h.submit(alice, body=big).status_code == 201
        job = _claim(h, alice, inline=len(big) - 1)["jobs"][0]
        assert job["bundle"] is None
        got = h.call("GET", f"/lz/jobs/{job['id']}/bundle", alice, params={"name": "lz1", "attempt": job["attempt"]})
        assert got.content == big
        assert INLINE_BUNDLE_MAX == 64 << 10


def test_a_finish_records_the_transitions_it_carries_once(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        alice = h.user("alice")
        h.station_with_zone(alice)
        job_id = h.submit(alice).json()["id"]
        job = _claim(h, alice, inline=INLINE_BUNDLE_MAX)["jobs"][0]
        h.ok("POST", f"/lz/jobs/{job_id}/events", alice, json={
            "name": "lz1", "attempt": 1, "events": _events((1, "received", "building", "build"),
                                                           (2, "building", "queued", "built"),
                                                           (3, "queued", "running", "started"))})
        # the finish repeats seq 3 (a report whose answer was lost) and carries 4 and 5
        _finish_one(h, alice, job, _events((3, "queued", "running", "started"), (4, "running", "collecting", "ended"),
                                           (5, "collecting", "cleaned", "collected")))
        shown = h.ok("GET", f"/jobs/{job_id}", alice)
        assert shown["state"] == "cleaned" and shown["outcome"] == "succeeded"
        steps = [(e["from"], e["to"], e["event"]) for e in shown["history"]]
        assert steps.count(("queued", "running", "started")) == 1
        assert steps[-1] == ("collecting", "cleaned", "finish")  # the finish starts where the carried ones left it
        assert ("running", "collecting", "ended") in steps


def test_a_verified_token_is_kept_but_a_revoke_through_this_hub_counts_at_once(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        alice = h.user("alice")
        h.ok("GET", "/whoami", alice)
        reads = h.hub.statements.snapshot()["select"]
        h.ok("GET", "/whoami", alice)
        assert h.hub.statements.snapshot()["select"] == reads  # from the cache: no statement at all
        mine = h.ok("GET", "/tokens", alice)
        h.ok("DELETE", f"/tokens/{mine[0]['id']}", alice)
        assert h.call("GET", "/whoami", alice).status_code == 401


def test_a_revoke_through_another_process_counts_after_the_cache_time(tmp_path: Path) -> None:
    """Another hub process (or ``lz hub token revoke``): its own engine on the same database."""
    with hub_app(tmp_path) as h:
        alice = h.user("alice")
        now = [1000.0]
        h.hub.principals.clock = lambda: now[0]
        h.ok("GET", "/whoami", alice)
        _revoke_elsewhere(h, "alice")
        assert h.call("GET", "/whoami", alice).status_code == 200  # at most TOKEN_CACHE_S more
        now[0] += h.hub.principals.ttl_s
        assert h.call("GET", "/whoami", alice).status_code == 401


def test_tokens_in_use_are_verified_again_together_not_per_request(tmp_path: Path) -> None:
    """A zone calls every 10-20 s, past ``TOKEN_CACHE_S``: each call verified its token in a
    transaction of its own. The refresh verifies every token in use in one statement, keeps them,
    drops one revoked through another process (and lets one unused for long lapse)."""
    from lz.hub.server import token_cache

    with hub_app(tmp_path) as h:
        tokens = [h.user(f"user{i}") for i in range(3)]
        now = [1000.0]
        h.hub.principals.clock = lambda: now[0]
        for token in tokens:
            h.ok("GET", "/whoami", token)
        for _ in range(3):  # three refreshes, each within the cache time of the one before
            now[0] += token_cache.REFRESH_S
            before = h.hub.statements.snapshot()["select"]
            assert h.hub.refresh_tokens() == 3
            assert h.hub.statements.snapshot()["select"] == before + 1
        before = h.hub.statements.snapshot()["select"]
        for token in tokens:
            h.ok("GET", "/whoami", token)
        assert h.hub.statements.snapshot()["select"] == before  # 12 s after they were first verified
        _revoke_elsewhere(h, "user1")
        h.hub.refresh_tokens()
        assert h.call("GET", "/whoami", tokens[1]).status_code == 401
        assert h.call("GET", "/whoami", tokens[0]).status_code == 200
        now[0] += token_cache.KEEP_UNUSED_S
        assert h.hub.refresh_tokens() == 0  # none used for that long: they lapse


def test_an_expired_token_is_refused_even_when_cached(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        alice = h.user("alice", expires_s=10)
        h.ok("GET", "/whoami", alice)
        h.clock.advance(11)
        assert h.call("GET", "/whoami", alice).status_code == 401


def _statements_a_trip(tmp_path: Path, rest: Callable[[HubApp, str, dict[str, Any]], None]) -> list[int]:
    """Statements of three trips: a submission, its claim (bundle inline), then ``rest``."""
    with hub_app(tmp_path) as h:
        alice = h.user("alice")
        h.station_with_zone(alice)
        counts = []
        for _ in range(3):
            before = sum(h.hub.statements.snapshot().values())
            job = _claim(h, alice, inline=INLINE_BUNDLE_MAX)["jobs"] if h.submit(alice).status_code == 201 else []
            assert job and job[0]["bundle"]
            rest(h, alice, job[0])
            counts.append(sum(h.hub.statements.snapshot().values()) - before)
    return counts


def test_one_job_trip_stays_within_its_statement_budget(tmp_path: Path) -> None:
    """submit, claim (bundle inline), one report, results, finish (with the last transitions):
    91 statements before issue 22's cuts, 51 after; the budget keeps it from creeping back."""
    def rest(h: HubApp, token: str, job: dict[str, Any]) -> None:
        h.ok("POST", f"/lz/jobs/{job['id']}/events", token, json={
            "name": "lz1", "attempt": 1, "events": _events((1, "received", "building", "build"),
                                                           (2, "building", "queued", "built"),
                                                           (3, "queued", "running", "started"))})
        _finish_one(h, token, job, _events((4, "running", "collecting", "ended")))

    counts = _statements_a_trip(tmp_path, rest)
    # 52 after the cuts (from 91), then 62 with usage charging on each report and the finish, 60
    # with a new submission's answer reading no attempts or usage (none can exist yet), 59 with
    # a claim reading the credit rules once; 54 with the Station and the role read together (a
    # permission check) and the Station's name and quota read together (the quota check, twice)
    assert max(counts[1:]) <= 54, counts


def test_a_short_jobs_trip_on_protocol_4_stays_within_its_budget(tmp_path: Path) -> None:
    """What an agent of protocol 4 sends for a job that ends before its first report: submit,
    claim (bundle inline), finish (transitions and results inline). The budget of the whole trip,
    submission and its answer included."""
    def rest(h: HubApp, token: str, job: dict[str, Any]) -> None:
        h.ok("POST", f"/lz/jobs/{job['id']}/finish", token, json={
            "name": "lz1", "attempt": job["attempt"], "results": True,
            "results_inline": base64.b64encode(results_tar()).decode("ascii"),
            "events": _events((1, "received", "building", "build"), (2, "building", "queued", "built"),
                              (3, "queued", "running", "started"), (4, "running", "collecting", "ended")),
            "facts": {"outcome": "succeeded", "exit_code": 0}})

    # 34 (7 Dec): the bench's 34.5 a job on SQLite, where a few zones' empty looks are shared out
    assert max(_statements_a_trip(tmp_path, rest)[1:]) <= 34


def test_a_pooled_connection_is_pinged_only_after_being_idle(tmp_path: Path, monkeypatch: Any) -> None:
    """``db.ping_when_idle``: no ping for a connection used a moment ago; one idle longer is
    pinged, and one that fails its ping is replaced, not handed out."""
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    now = [0.0]
    db.ping_when_idle(engine, 1.0, clock=lambda: now[0])
    pings: list[bool] = []
    healthy = [True]

    def ping(_conn: Any) -> bool:
        pings.append(healthy[0])
        if not healthy[0]:
            healthy[0] = True  # the replacement answers
            raise OSError("server closed the connection")
        return True

    monkeypatch.setattr(engine.dialect, "do_ping", ping)
    for _ in range(3):
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        now[0] += 0.5
    assert pings == []  # each checkout within a second of the last checkin
    now[0] += 2
    healthy[0] = False
    with engine.connect() as conn:
        assert conn.execute(text("select 1")).scalar() == 1
    assert pings == [False]  # the dead one failed its ping; its replacement is new, so not pinged
    engine.dispose()


class _AgentsHub:
    """The agent's client answered in process by a real hub app; a download is refused (the
    claim answer must have carried the bundle), and the claimer stops after one claim."""

    url = "http://hub.test"

    def __init__(self, app: HubApp, token: str):
        self.app, self.token = app, token
        self.agent: Any = None
        self.paths: list[str] = []

    def post(self, path: str, payload: Any = None, params: Any = None, **_: Any) -> Any:
        self.paths.append(path)
        answer = self.app.ok("POST", path.removeprefix("/api/v1"), self.token, json=payload, params=params)
        if path.endswith("/claim"):
            self.agent._stop.set()
        return answer

    def download(self, path: str, *_: Any, **__: Any) -> None:
        raise AssertionError(f"downloaded {path}: the claim answer carried the bundle")


def test_the_agent_takes_the_bundle_from_the_claim_answer(tmp_path: Path) -> None:
    from lz.config import Settings
    from lz.hub.agent import outbox
    from lz.hub.agent.agent import HubAgent
    from lz.hub.agent.options import AgentOptions
    from lz.store.db import make_engine
    from lz.store.jobs import JobStore
    from lz.store.migrate import upgrade

    with hub_app(tmp_path / "hub") as h:
        alice = h.user("alice")
        h.station_with_zone(alice)
        job_id = h.submit(alice, body=job_tarball('["echo", "inline"]')).json()["id"]
        settings = Settings(db=tmp_path / "lz" / "lz.db", workdir=tmp_path / "work", runtime="none", name="lz1")
        settings.db.parent.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.db)
        upgrade(engine)
        client = _AgentsHub(h, alice)
        agent = HubAgent(AgentOptions("http://hub.test", tmp_path / "token", 2), client,  # type: ignore[arg-type]
                         JobStore(engine), settings, wake=lambda: None)
        client.agent = agent
        agent.incoming.mkdir(parents=True)
        agent._claimer()  # register, one claim
        assert agent.hub_protocol == PROTOCOL and client.paths[-1] == "/api/v1/lz/claim"
        [claim] = outbox.claims(engine)
        assert claim.hub_job_id == job_id
        claim = agent._intake(claim)  # no download: the bundle came inline
        assert agent.store.get(claim.local_job_id).spec.command == ("echo", "inline")
        assert not agent._inline and not list(agent.incoming.iterdir())


def test_a_check_wakes_no_second_claim_for_a_job_whose_ticket_is_in_flight() -> None:
    """``Notifier``: a burst of checks while the first woken claims run must not wake more claims
    for the same pending jobs (with 1,000 zones waiting on PostgreSQL that made 245 statements
    a job); a released or long-forgotten ticket frees its job for the next check."""
    import asyncio

    from lz.hub.server.notify import INFLIGHT_S, Notifier

    now = [0.0]
    notifier = Notifier(0.25, lambda: ({}, {}), clock=lambda: now[0])
    stations_of = {zone: (1,) for zone in (10, 11, 12, 13)}

    async def scenario() -> list[list[int]]:
        loop = asyncio.get_running_loop()
        notifier.bind(loop)
        waiting = {zone: loop.create_future() for zone in stations_of}
        for zone, future in waiting.items():
            notifier._waiters[zone] = [future]

        def woken() -> list[int]:
            done = [zone for zone, f in waiting.items() if f.done()]
            for zone in done:
                del waiting[zone]
                notifier._waiters.pop(zone, None)
            return done

        rounds = []
        notifier._hand_out({1: 2}, stations_of)  # two pending jobs: two claims woken
        rounds.append(woken())
        notifier._hand_out({1: 2}, stations_of)  # the same two, their claims still running: none
        rounds.append(woken())
        notifier.release(rounds[0][0])  # the first claim took one job
        notifier._hand_out({1: 1}, stations_of)  # one pending, one ticket in flight: none
        rounds.append(woken())
        notifier.release(rounds[0][1])  # the second claim found nothing it fits: one pending, none in flight
        notifier._hand_out({1: 1}, stations_of)
        rounds.append(woken())
        now[0] += INFLIGHT_S + 1  # that claim died without a word: its ticket counts no more
        notifier._hand_out({1: 1}, stations_of)
        rounds.append(woken())
        return rounds

    rounds = asyncio.run(scenario())
    assert [len(r) for r in rounds] == [2, 0, 0, 1, 1], rounds


def test_a_claim_naming_its_ended_jobs_gets_their_room_before_any_report(tmp_path: Path) -> None:
    """Protocol 3 (issue 23): a pilot of one slot holds a running job and one claimed ahead; once
    the first ended, its next claim says so and gets a job, with no report of that end first; a
    job the claim does not name still counts, and an older agent's claim is unchanged."""
    with hub_app(tmp_path) as h:
        alice = h.user("alice")
        h.station_with_zone(alice)
        h.ok("POST", "/lz/register", alice, json={"name": "lz1", "cpus": 1, "max_running": 1, "pilot_group": "7"})
        for _ in range(4):
            assert h.submit(alice).status_code == 201

        def claim(**extra: Any) -> list[str]:
            answer = h.ok("POST", "/lz/claim", alice, json={"name": "lz1", "wait_s": 0, "max_jobs": 1, **extra})
            assert answer["protocol"] == PROTOCOL >= 3
            return [j["id"] for j in answer["jobs"]]

        running, ahead = claim(), claim()
        assert running and ahead and claim() == []  # one running, one ahead: full
        assert claim(ended=["0" * 32]) == []  # a job it does not hold frees nothing
        third = claim(ended=running)
        assert third and third != ahead  # the ended one's room, told by the claim alone
        shown = h.ok("GET", f"/jobs/{running[0]}", alice)
        assert shown["state"] != "collecting"  # nothing was reported: the hub still shows it as it was
        refused = h.call("POST", "/lz/claim", alice, json={"name": "lz1", "wait_s": 0, "ended": ["../x"]})
        assert refused.status_code == 422


def _revoke_elsewhere(h: HubApp, user: str) -> None:
    """Revoke ``user``'s first token through an engine of its own, as another hub process would."""
    other = db.make_hub_engine(str(h.hub.engine.url))
    try:
        with db.write(other) as conn:
            token_id = accounts.list_tokens(conn, user)[0]["id"]
            accounts.revoke_token(conn, token_id, h.clock())
    finally:
        other.dispose()
