"""Notifications on the hub: forwarded by the holding landing zone (sizes checked again), read
by the job's owner, and delivered by e-mail to a real SMTP server and by signed webhooks to a
real HTTP server, retried with back-off and never lost by a hub restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from lz.hub.server import deliver
from lz.hub.server.config import SmtpConfig
from lz.hub.server.domain import notifications
from lz.hub.server.domain.notifications import Due
from tests.notify_receivers import smtp_server, webhook_server
from tests.unit.hub_helpers import HubApp, hub_app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path, deliver_s=3600) as a:  # the loop stays out of the way: tests call deliver_once
        yield a


def _running_job(app: HubApp, token: str) -> str:
    app.station_with_zone(token)
    job_id = str(app.submit(token).json()["id"])
    app.claim(token)
    return job_id


def _forward(app: HubApp, token: str, job_id: str, *items: tuple[int, str], attempt: int = 1, lz: str = "lz1") -> object:
    return app.call("POST", f"/lz/jobs/{job_id}/notifications", token, json={
        "name": lz, "attempt": attempt, "notifications": [{"seq": s, "at": 1.5e9, "text": t} for s, t in items]})


def test_forwarded_notifications_are_stored_once_and_shown_to_the_owner(app: HubApp) -> None:
    alice, bob = app.user("alice"), app.user("bob")
    job_id = _running_job(app, alice)
    first = _forward(app, alice, job_id, (1, "epoch 1"), (2, "epoch 2"))
    assert first.status_code == 200 and first.json() == {"acknowledged_seq": 2}  # type: ignore[attr-defined]
    again = _forward(app, alice, job_id, (2, "epoch 2"), (3, "done ✓"))  # a resend after a crash: no duplicate
    assert again.json() == {"acknowledged_seq": 3}  # type: ignore[attr-defined]
    shown = app.ok("GET", f"/jobs/{job_id}/notifications", alice)["notifications"]
    assert [(n["seq"], n["text"], n["seen"]) for n in shown] == [(1, "epoch 1", False), (2, "epoch 2", False),
                                                                  (3, "done ✓", False)]
    assert app.call("GET", f"/jobs/{job_id}/notifications", bob).status_code == 404  # not bob's Station


def test_the_hub_checks_sizes_characters_and_the_holder_again(app: HubApp) -> None:
    alice = app.user("alice")
    job_id = _running_job(app, alice)
    assert _forward(app, alice, job_id, (1, "é" * 2049)).status_code == 422  # 4098 bytes
    assert _forward(app, alice, job_id, (1, "x" * 4096)).status_code == 200
    assert _forward(app, alice, job_id, (2, "bell \x07")).status_code == 422
    assert _forward(app, alice, job_id, *((i, "x") for i in range(1, 102))).status_code == 422  # 101 in one request
    assert _forward(app, alice, job_id, (3, "stale"), attempt=2).status_code == 409  # not the attempt it holds


def test_subscriptions_are_checked_and_a_webhook_gets_a_secret(app: HubApp) -> None:
    alice = app.user("alice")
    app.ok("POST", "/stations", alice, json={"name": "s1"})
    for body in ({"channel": "email", "target": "not-an-address"}, {"channel": "webhook", "target": "ftp://x/"},
                 {"channel": "webhook", "target": "http://user:pw@host/"}, {"channel": "email"},
                 {"channel": "web", "events": ["everything"]}):
        assert app.call("POST", "/stations/s1/notifications", alice, json=body).status_code == 422, body
    made = app.ok("POST", "/stations/s1/notifications", alice, json={"channel": "webhook", "target": "https://h/x"})
    assert len(made["secret"]) >= 40
    listed = app.ok("GET", "/stations/s1/notifications", alice)
    assert [(s["channel"], s["target"], s["events"]) for s in listed] == [("webhook", "https://h/x", ["notifications", "job_end"])]
    assert "secret" not in listed[0] or listed[0]["secret"] is None  # shown once only
    assert app.call("DELETE", f"/stations/s1/notifications/{made['id']}", alice).status_code == 204
    assert app.call("GET", "/stations/s1/notifications", app.user("mallory")).status_code == 404


def test_a_webhook_is_signed_retried_with_back_off_and_survives_a_restart(tmp_path: Path) -> None:
    with webhook_server() as hooks:
        with hub_app(tmp_path, deliver_s=3600, webhook_allow_private=True) as app:
            alice = app.user("alice")
            job_id = _running_job(app, alice)
            secret = app.ok("POST", "/stations/s1/notifications", alice,
                            json={"channel": "webhook", "target": hooks.url, "events": ["notifications"]})["secret"]
            _forward(app, alice, job_id, (1, "half way"))
            hooks.fail_next = 1
            assert deliver.deliver_once(app.hub) == {"sent": 0, "failed": 1}
            assert deliver.deliver_once(app.hub) == {"sent": 0, "failed": 0}  # backing off
        # a new hub process on the same database: the delivery is still queued
        with _reopened(tmp_path) as app2:
            app2.clock.now = app.clock.now + notifications.BACKOFF_S + 1
            assert deliver.deliver_once(app2.hub) == {"sent": 1, "failed": 0}
            assert deliver.deliver_once(app2.hub) == {"sent": 0, "failed": 0}  # once sent, never again
    [(headers, body)] = hooks.received
    assert deliver.signature_ok(secret, body, headers["x-lz-signature"])
    assert not deliver.signature_ok("wrong", body, headers["x-lz-signature"])
    sent = json.loads(body)
    assert (sent["event"], sent["text"], sent["job"]["id"], sent["job"]["owner"]) == ("notification", "half way", job_id, "alice")
    assert headers["x-lz-delivery"] == str(sent["delivery"]) and headers["x-lz-event"] == "notification"


def _reopened(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The same hub database opened by a second app (as after a restart)."""
    from contextlib import contextmanager

    from fastapi.testclient import TestClient

    from lz.hub.server.app import create_app
    from lz.hub.server.config import HubConfig
    from tests.clock import Clock
    from tests.unit.hub_helpers import HUB_EPOCH

    @contextmanager
    def _open():  # type: ignore[no-untyped-def]
        clock = Clock(HUB_EPOCH)
        app = create_app(HubConfig(db_url=f"sqlite:///{tmp_path / 'hub' / 'hub.db'}", files_dir=tmp_path / "hub" / "files",
                                   clock=clock, deliver_s=3600, webhook_allow_private=True), migrate=False)
        with TestClient(app) as client:
            yield HubApp(client, clock)

    return _open()


def test_an_email_reaches_a_real_smtp_server_and_a_job_end_too(tmp_path: Path) -> None:
    with smtp_server() as (box, port):
        smtp = SmtpConfig(host="127.0.0.1", port=port, sender="lz-hub@example.org", starttls=False)
        with hub_app(tmp_path, deliver_s=3600, smtp=smtp) as app:
            alice = app.user("alice")
            job_id = _running_job(app, alice)
            app.ok("POST", "/stations/s1/notifications", alice, json={"channel": "email", "target": "alice@example.org"})
            _forward(app, alice, job_id, (1, "loss 0.01, converged"))
            app.ok("POST", f"/lz/jobs/{job_id}/finish", alice, json={
                "name": "lz1", "attempt": 1, "results": False, "facts": {"outcome": "succeeded", "exit_code": 0}})
            assert deliver.deliver_once(app.hub) == {"sent": 2, "failed": 0}
            assert deliver.deliver_once(app.hub) == {"sent": 0, "failed": 0}  # each job end once
    said, ended = sorted(box.messages, key=lambda m: "ended" in str(m["Subject"]))
    assert said["To"] == "alice@example.org" and said["From"] == "lz-hub@example.org"
    assert said["X-Envelope-To"] == "alice@example.org"
    assert "loss 0.01, converged" in str(said["Subject"]) and "loss 0.01, converged" in said.get_payload()
    assert "ended" in str(ended["Subject"]) and "succeeded" in str(ended["Subject"])


def test_signing_is_hmac_sha256_of_the_exact_body() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    assert deliver.sign("Jefe", b"what do ya want for nothing?") == \
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    request = deliver.webhook_request(Due(7, "webhook", "http://h/x", "k", "job_end", {"text": "t"}, 0))
    assert request.get_method() == "POST" and request.data is not None
    assert deliver.signature_ok("k", request.data, request.get_header("X-lz-signature"))
    assert json.loads(request.data) == {"text": "t", "delivery": 7}


def test_the_jobs_page_shows_them_newest_first_with_a_badge_until_seen(app: HubApp) -> None:
    from tests.unit.web.test_web_pages import Browser

    alice = Browser(app, "alice")
    job_id = _running_job(app, alice.token)
    _forward(app, alice.token, job_id, (1, "first <b>not bold</b>"), (2, "second"))
    page = alice.get(f"/jobs/{job_id}").text
    assert '<span class="badge warn" id="notifications-new">2 new</span>' in page
    assert page.index("second") < page.index("first &lt;b&gt;not bold&lt;/b&gt;")  # escaped, newest first
    assert alice.post(f"/jobs/{job_id}/notifications/seen").status_code == 303
    fragment = alice.get(f"/jobs/{job_id}/notifications")
    assert fragment.status_code == 200 and "new</span>" not in fragment.text and "second" in fragment.text
    # e-mail only: no badge any more
    assert alice.post("/stations/s1/notifications", channel="email", target="a@example.org",
                      event_notifications="1").status_code == 303
    _forward(app, alice.token, job_id, (3, "third"))
    assert "new</span>" not in alice.get(f"/jobs/{job_id}/notifications").text
    settings = alice.get("/stations/s1/notifications").text
    assert "a@example.org" in settings and "notifications" in settings
    refused = alice.post("/stations/s1/notifications", channel="webhook", target="gopher://x", event_job_end="1")
    assert refused.status_code == 422 and "http:// or https://" in refused.text
    metadata = alice.post("/stations/s1/notifications", channel="webhook", target="http://169.254.169.254/latest/",
                          event_job_end="1")  # the page checks what the API checks (SSRF)
    assert metadata.status_code == 422 and "a link-local address" in metadata.text
