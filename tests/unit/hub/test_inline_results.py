"""Results inside the finish (protocol 4, issue 22): one request where an upload and a finish took
two, checked and fenced as an upload is, stored before the finish names them; a hub that refuses
them there gets them as an upload from the agent."""

from __future__ import annotations

import base64
import io
import tarfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lz.hub.protocol.versions import INLINE_BUNDLE_MAX, INLINE_RESULTS_MAX, PROTOCOL
from tests.unit.hub_helpers import HubApp, hub_app, results_tar


def _claimed(h: HubApp, token: str) -> dict[str, Any]:
    assert h.submit(token).status_code == 201
    answer = h.ok("POST", f"/lz/claim?inline={INLINE_BUNDLE_MAX}", token,
                  json={"name": "lz1", "wait_s": 0, "max_jobs": 1})
    assert answer["protocol"] == PROTOCOL >= 4
    return dict(answer["jobs"][0])


def _finish(h: HubApp, token: str, job: dict[str, Any], data: bytes | str, **extra: Any) -> Any:
    inline = data if isinstance(data, str) else base64.b64encode(data).decode("ascii")
    return h.call("POST", f"/lz/jobs/{job['id']}/finish", token, json={
        "name": "lz1", "attempt": job["attempt"], "results": True, "results_inline": inline,
        "facts": {"outcome": "succeeded", "exit_code": 0}, **extra})


def test_a_finish_carrying_its_results_stores_them_and_ends_the_job(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        alice = h.user("alice")
        h.station_with_zone(alice)
        job = _claimed(h, alice)
        data = results_tar(b"inline\n")
        assert _finish(h, alice, job, data).status_code == 200
        shown = h.ok("GET", f"/jobs/{job['id']}", alice)
        assert (shown["state"], shown["outcome"], shown["results"]) == ("cleaned", "succeeded", True)
        stored = h.hub.read(lambda conn: conn.exec_driver_sql(
            "SELECT results_bytes FROM hub_jobs WHERE id = ?", (job["id"],)).scalar())
        assert stored == len(data)  # counted toward the quotas as an upload is
        assert h.call("GET", f"/jobs/{job['id']}/results", alice).content == data
        again = _finish(h, alice, job, data)  # its answer lost: the same finish again, same outcome
        assert again.status_code == 200
        assert h.call("GET", f"/jobs/{job['id']}/results", alice).content == data
        assert [e["event"] for e in h.ok("GET", f"/jobs/{job['id']}", alice)["history"]].count("finish") == 1


def test_inline_results_are_checked_as_an_upload_is(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        alice = h.user("alice")
        h.station_with_zone(alice)
        job = _claimed(h, alice)
        stray = io.BytesIO()
        with tarfile.open(fileobj=stray, mode="w:") as tar:
            info = tarfile.TarInfo("../../etc/passwd")
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
        cases = [("not base64!", "not base64"), (base64.b64encode(b"junk" * 200).decode(), "not a readable tar"),
                 (base64.b64encode(stray.getvalue()).decode(), "unexpected entry")]
        for text, said in cases:
            answer = _finish(h, alice, job, text)
            assert answer.status_code == 422 and said in answer.text, (said, answer.status_code, answer.text)
        too_big = base64.b64encode(b"\0" * (INLINE_RESULTS_MAX + 3)).decode()
        assert _finish(h, alice, job, too_big).status_code == 422  # past the schema's bound: never decoded
        without = _finish(h, alice, job, results_tar(), results=False)
        assert without.status_code == 422 and "only with results true" in without.text
        assert h.ok("GET", f"/jobs/{job['id']}", alice)["state"] != "cleaned"  # nothing of it recorded
        assert not list((tmp_path / "hub" / "files" / "results").rglob("*.tar"))


def test_inline_results_of_an_attempt_not_held_are_refused_before_anything_is_stored(tmp_path: Path) -> None:
    """The fence comes before the write: another zone, or a stale attempt, must never replace the
    stored results of a job (the object's name is the job's and the attempt's)."""
    with hub_app(tmp_path) as h:
        alice, mallory = h.user("alice"), h.user("mallory")
        h.station_with_zone(alice)
        job = _claimed(h, alice)
        good = results_tar(b"good\n")
        assert _finish(h, alice, job, good).status_code == 200
        h.ok("POST", "/lz/register", mallory, json={"name": "lz1", "cpus": 1})  # her own zone of that name
        assert _finish(h, mallory, job, results_tar(b"evil\n")).status_code in (403, 404, 409)
        assert _finish(h, alice, {**job, "attempt": job["attempt"] + 1}, results_tar(b"late\n")).status_code == 409
        assert h.call("GET", f"/jobs/{job['id']}/results", alice).content == good


def test_inline_results_cost_fewer_statements_than_an_upload(tmp_path: Path) -> None:
    with hub_app(tmp_path) as h:
        alice = h.user("alice")
        h.station_with_zone(alice)
        counts: dict[str, list[int]] = {"upload": [], "inline": []}
        for way in ("upload", "inline") * 3:
            job = _claimed(h, alice)
            before = sum(h.hub.statements.snapshot().values())
            attempt = {"name": "lz1", "attempt": job["attempt"]}
            if way == "upload":
                put = h.client.put(f"/api/v1/lz/jobs/{job['id']}/results", params=attempt, content=results_tar(),
                                   headers={**h.auth(alice), "Content-Type": "application/x-tar"})
                assert put.status_code == 200, put.text
                h.ok("POST", f"/lz/jobs/{job['id']}/finish", alice, json={
                    **attempt, "results": True, "facts": {"outcome": "succeeded", "exit_code": 0}})
            else:
                assert _finish(h, alice, job, results_tar()).status_code == 200
            counts[way].append(sum(h.hub.statements.snapshot().values()) - before)
        # an upload reads its fence twice (before and after the bytes), an inline finish once (and
        # is one request and one read transaction fewer): 10 statements against 9
        assert max(counts["inline"]) < min(counts["upload"]), counts


class _Hub:
    """An agent's client for a hub that speaks protocol 4 but refuses results inside a finish
    (a proxy's body limit, say): the agent must upload them instead."""

    url = "http://hub.test"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool]] = []

    def post(self, path: str, payload: Any = None, **_: Any) -> Any:
        from lz.hub.agent.client import HubRefused

        inline = "results_inline" in (payload or {})
        self.calls.append(("POST", path, inline))
        if inline:
            raise HubRefused(413, "request body too large")
        return {"ok": True}

    def upload(self, method: str, path: str, archive: Path, *_: Any, **__: Any) -> Any:
        assert archive.is_file() and tarfile.is_tarfile(archive)
        self.calls.append((method, path, False))
        return {"ok": True}


def test_the_agent_uploads_results_a_hub_refused_inside_the_finish(tmp_path: Path) -> None:
    from lz.config import Settings
    from lz.hub.agent.agent import HubAgent
    from lz.hub.agent.options import AgentOptions
    from lz.hub.agent.outbox import Claim
    from lz.hub.protocol.names import FACTS, MANIFEST
    from lz.store.db import make_engine
    from lz.store.jobs import JobStore
    from lz.store.migrate import upgrade

    settings = Settings(db=tmp_path / "lz" / "lz.db", workdir=tmp_path / "work", runtime="none", name="lz1")
    settings.db.parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.db)
    upgrade(engine)
    client = _Hub()
    agent = HubAgent(AgentOptions("http://hub.test", tmp_path / "token", 2), client,  # type: ignore[arg-type]
                     JobStore(engine), settings, wake=lambda: None)
    agent.outgoing.mkdir(parents=True, exist_ok=True)
    agent.hub_protocol = PROTOCOL
    stored = settings.results_dir / "local1"
    stored.mkdir(parents=True)
    (stored / MANIFEST).write_text("{}")
    (stored / "stdout").write_text("out\n")
    job = SimpleNamespace(**{k: None for k in FACTS}, id="local1", results_at=time.time(), state=None)
    job.outcome = "succeeded"
    claim = Claim(hub_job_id="a" * 32, attempt=1, name="lz1", spec={}, local_job_id="local1", reported_seq=0,
                  lease_lost=False, cancel_applied=False)
    agent._finish(claim, job)  # type: ignore[arg-type]
    finish = f"/api/v1/lz/jobs/{'a' * 32}/finish"
    assert client.calls == [("POST", finish, True), ("PUT", f"/api/v1/lz/jobs/{'a' * 32}/results", False),
                            ("POST", finish, False)]
    assert not list(agent.outgoing.iterdir())
