"""The hub's web page on a real SQLite hub: sign-in and sessions, the headers every page carries,
CSRF on every form, the API's authorization, uploads, a finished job's results, Station forms and
job controls. Each person is a browser of their own (a TestClient with its own cookie jar)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lz.hub.server.domain import login
from lz.hub.server.models import WebSession
from lz.results.archive import Member, Segment, end_of_archive
from tests.unit.hub_helpers import HubApp, hub_app, job_tarball, login_csrf, sign_in

PASSWORD = "correct horse"
COUNT = b"3 files counted\n"
ASSET = re.compile(r'<(?:script|link|img)\b[^>]*?\b(?:src|href)="([^"]*)"')
FLASH = re.compile(r'<p class="flash err"[^>]*>([^<]*)</p>')
CURRENT = re.compile(r'<g id="node\d+" class="node current">\s*<title>([^<]*)</title>')


class Browser:
    """One person at the web page: an API token to set the scene, and a signed-in cookie jar."""

    def __init__(self, app: HubApp, name: str):
        self.app = app
        self.token = app.user(name)
        app.hub.write(login.set_password, name, PASSWORD)
        self.client = TestClient(app.client.app, follow_redirects=False)
        signed_in = sign_in(self.client, name, PASSWORD, "/zones")
        assert signed_in.status_code == 200, signed_in.text
        found = re.search(r'name="csrf-token" content="([^"]+)"', self.client.get("/zones").text)
        assert found
        self.csrf = found.group(1)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, csrf: str | None = None, **fields: str) -> Any:
        return self.client.post(path, data={"csrf": self.csrf if csrf is None else csrf, **fields})

    def upload(self, body: bytes, key: str, station: str = "s1", csrf: bool = True) -> Any:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return self.client.post("/jobs/upload", params={"station": station, "key": key}, content=body,
                                headers=headers)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path, max_bundle_files=10) as a:
        yield a


@pytest.fixture
def alice(app: HubApp) -> Browser:
    """Alice, owner of Station s1 served by her landing zone lz1."""
    person = Browser(app, "alice")
    app.station_with_zone(person.token)
    return person


def _job(app: HubApp, who: Browser) -> str:
    response = app.submit(who.token)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _jobs(app: HubApp, who: Browser) -> list[dict[str, Any]]:
    return list(app.ok("GET", "/jobs", who.token))


def _results() -> bytes:
    """A results upload as a landing zone sends it: results.tar.gz written as lz.results.collect writes it
    (one gzip member per walker, then the end of the archive), its manifest, and a log."""
    inner = io.BytesIO()
    length = 0
    returned = {"out/first.txt": b"first\n", "out/count.txt": COUNT}
    for name, data in returned.items():
        segment = Segment(inner)
        segment.add(Member(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
        length += segment.close()
    inner.write(gzip.compress(end_of_archive(length), mtime=0))
    entries = [{"path": name, "status": "added", "type": "file", "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest()} for name, data in returned.items()]
    entries.append({"path": "out/gone.txt", "status": "deleted", "type": "file", "size": 0, "sha256": None})
    manifest = {"version": 1, "entries": entries, "totals": {}, "logs": {"stdout": True}}
    outer = io.BytesIO()
    with tarfile.open(fileobj=outer, mode="w:") as tar:
        for name, data in {"manifest.json": json.dumps(manifest).encode(), "stdout": b"counted\n",
                           "results.tar.gz": inner.getvalue()}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return outer.getvalue()


RESULTS = _results()


def _finished(app: HubApp, who: Browser) -> str:
    """A job of Station s1 that lz1 claimed, ran and finished with RESULTS (call it while no other
    job waits: lz1 claims whichever is first)."""
    job_id = _job(app, who)
    [claimed] = app.claim(who.token)
    assert claimed["id"] == job_id
    send = {"name": "lz1", "attempt": claimed["attempt"]}
    app.ok("PUT", f"/lz/jobs/{job_id}/results", who.token, params=send, content=RESULTS)
    app.ok("POST", f"/lz/jobs/{job_id}/finish", who.token,
           json={**send, "results": True, "facts": {"outcome": "succeeded", "exit_code": 0}})
    return job_id


# -- sign-in and sessions ------------------------------------------------------------------------
def test_every_page_without_a_session_goes_to_sign_in_and_back(app: HubApp, alice: Browser) -> None:
    job_id = _job(app, alice)
    stranger = TestClient(app.client.app, follow_redirects=False)
    for target in ("/zones", "/zones/table", "/stations", "/stations/s1", "/jobs", "/jobs?station=s1", "/jobs/table",
                   f"/jobs/{job_id}", f"/jobs/{job_id}/live", f"/jobs/{job_id}/results",
                   f"/jobs/{job_id}/files/out/count.txt", f"/jobs/{job_id}/logs/stdout", "/activate?user_code=BCDF"):
        response = stranger.get(target)
        assert (response.status_code, response.headers["location"]) == (303, "/login?next=" + quote(target)), target
    assert stranger.get("/jobs/table", headers={"HX-Request": "true"}).headers["hx-refresh"] == "true"
    assert stranger.post("/stations", data={"name": "x"}).status_code == 303
    assert stranger.get("/").headers["location"] == "/login"


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\\evil", "/\t/evil.example",
                                    "/\n/evil.example", "", "zones"])
def test_next_never_leaves_the_site(app: HubApp, target: str) -> None:
    app.user("alice")
    app.hub.write(login.set_password, "alice", PASSWORD)
    browser = TestClient(app.client.app, follow_redirects=False)
    form = browser.get("/login", params={"next": target})
    assert '<input type="hidden" name="next" value="/">' in form.text
    signed_in = browser.post("/login", data={"name": "alice", "password": PASSWORD, "next": target,
                                             "csrf": login_csrf(form.text)})
    assert signed_in.status_code == 200 and 'content="0;url=/"' in signed_in.text and "evil" not in signed_in.text
    assert browser.get("/login", params={"next": target}).headers["location"] == "/"


def test_a_wrong_password_gets_401_and_no_cookie(app: HubApp) -> None:
    app.user("alice")
    app.hub.write(login.set_password, "alice", PASSWORD)
    browser = TestClient(app.client.app, follow_redirects=False)
    for name, password in (("alice", "wrong"), ("nobody", PASSWORD)):
        refused = sign_in(browser, name, password)
        assert refused.status_code == 401 and "set-cookie" not in refused.headers
        assert "Unknown user or wrong password." in refused.text
    assert browser.get("/zones").status_code == 303


def test_the_session_cookie_is_httponly_strict_and_secure_behind_https(tmp_path: Path) -> None:
    for public_url, secure in ((None, False), ("https://hub.example", True)):
        with hub_app(tmp_path / str(secure), public_url=public_url) as app:
            app.user("alice")
            app.hub.write(login.set_password, "alice", PASSWORD)
            # a browser behind TLS (the sign-in form's cookie is Secure there too)
            browser = TestClient(app.client.app, base_url="https://testserver" if secure else "http://testserver")
            response = sign_in(browser, "alice", PASSWORD)
            cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("lz_session="))
            attributes = [a.strip().lower() for a in cookie.split(";")]
            assert attributes[0].startswith("lz_session=")
            assert {"httponly", "samesite=strict", "path=/"} <= set(attributes)
            assert ("secure" in attributes) is secure


def test_sign_out_deletes_the_session(app: HubApp, alice: Browser) -> None:
    def _sessions() -> int:
        return int(app.hub.read(lambda conn: conn.execute(select(func.count()).select_from(WebSession)).scalar()))

    cookie = alice.client.cookies["lz_session"]
    assert alice.post("/logout", csrf="forged").status_code == 403 and _sessions() == 1
    out = alice.post("/logout")
    assert (out.status_code, out.headers["location"]) == (303, "/login") and _sessions() == 0
    replay = TestClient(app.client.app, follow_redirects=False, cookies={"lz_session": cookie})
    assert replay.get("/zones").status_code == 303


def test_a_session_ends_after_eight_hours(app: HubApp, alice: Browser) -> None:
    app.clock.now += 8 * 3600 - 1
    assert alice.get("/zones").status_code == 200
    app.clock.now += 1
    assert alice.get("/zones").headers["location"] == "/login?next=/zones"


# -- what every page carries ---------------------------------------------------------------------
def test_pages_carry_strict_headers_and_only_same_origin_assets(app: HubApp, alice: Browser) -> None:
    job_id = _job(app, alice)
    pages = ["/zones", "/stations", "/stations/s1", "/jobs", f"/jobs/{job_id}", "/activate", "/jobs/ffff"]
    fragments = ["/zones/table", "/jobs/table", f"/jobs/{job_id}/live"]
    stranger = TestClient(app.client.app).get("/login")
    for response in [stranger] + [alice.get(p) for p in pages + fragments]:
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"].startswith("text/html")
        for url in ASSET.findall(response.text):
            assert url.startswith("/") and not url.startswith("//"), (response.url, url)
    assert ASSET.findall(alice.get("/zones").text) == ["/static/lz.css", "/static/htmx.min.js", "/static/lz.js"]
    for asset in ("/static/htmx.min.js", "/static/lz.js", "/static/lz.css"):
        assert alice.get(asset).status_code == 200 and alice.get(asset).content


# -- CSRF ----------------------------------------------------------------------------------------
def test_forms_without_the_csrf_token_are_refused_and_change_nothing(app: HubApp, alice: Browser) -> None:
    job_id = _job(app, alice)
    for csrf in ("", "forged"):
        assert alice.post("/stations", csrf=csrf, name="lab").status_code == 403
        assert alice.post(f"/jobs/{job_id}/control", csrf=csrf, action="stop").status_code == 403
        assert alice.post("/stations/s1/invite", csrf=csrf, user="alice").status_code == 403
    assert [s["name"] for s in app.ok("GET", "/stations", alice.token)] == ["s1"]
    assert [j["state"] for j in _jobs(app, alice)] == ["received"]


def test_an_upload_without_the_csrf_header_is_refused(app: HubApp, alice: Browser) -> None:
    assert alice.upload(job_tarball(), "key-00000001", csrf=False).status_code == 403
    assert _jobs(app, alice) == []
    assert list((app.hub.files.root / "bundles").iterdir()) == []


# -- authorization is the API's ------------------------------------------------------------------
def test_only_members_see_a_station_and_its_jobs(app: HubApp, alice: Browser) -> None:
    job_id = _finished(app, alice)
    bob = Browser(app, "bob")
    private = ["/stations/s1", f"/jobs/{job_id}", f"/jobs/{job_id}/live", f"/jobs/{job_id}/results",
               f"/jobs/{job_id}/files/out/count.txt", f"/jobs/{job_id}/logs/stdout"]
    for path in private:
        assert bob.get(path).status_code == 404, path
    assert job_id not in bob.get("/jobs").text and job_id not in bob.get("/jobs/table").text
    assert alice.post("/stations/s1/invite", user="bob", role="member").status_code == 303
    assert bob.post("/invitations/s1/accept").headers["location"] == "/stations/s1"
    for path in private:
        assert bob.get(path).status_code in (200, 286), path
    assert job_id in bob.get("/jobs").text and job_id in bob.get("/jobs/table").text


# -- uploads -------------------------------------------------------------------------------------
def test_an_upload_makes_one_job_per_key(app: HubApp, alice: Browser) -> None:
    made = alice.upload(job_tarball(), "key-00000001")
    assert made.status_code == 201, made.text
    job_id = made.json()["id"]
    assert made.json()["url"] == f"/jobs/{job_id}"
    again = alice.upload(job_tarball(), "key-00000001")  # a retry after a lost answer
    assert again.json()["id"] == job_id
    assert [j["id"] for j in _jobs(app, alice)] == [job_id]


def _tar(*names: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ("job/lz.toml", *names):
            data = b'command = ["true"]\n'
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.mark.parametrize(("body", "words"), [
    (_tar("job/../../x"), "'..'"), (_tar("/etc/passwd"), "absolute"), (b"not a tarball", "damaged"),
    (_tar(*[f"job/f{i}" for i in range(12)]), "too many files"),
])
def test_a_hostile_upload_is_refused_in_one_line(app: HubApp, alice: Browser, body: bytes, words: str) -> None:
    refused = alice.upload(body, "key-00000002")
    assert 400 <= refused.status_code < 500 and refused.headers["content-type"] == "application/json"
    detail = refused.json()["detail"]
    assert words in detail and "\n" not in detail
    assert _jobs(app, alice) == []


# -- a finished job ------------------------------------------------------------------------------
def test_a_finished_job_lists_and_serves_its_files(app: HubApp, alice: Browser) -> None:
    job_id = _finished(app, alice)
    page = alice.get(f"/jobs/{job_id}")
    assert re.findall(r'data-file="([^"]+)"', page.text) == ["out/first.txt", "out/count.txt"]
    [link] = re.findall(r'<a href="([^"]+)" download data-file="out/count.txt"', page.text)
    one = alice.get(link)
    assert one.status_code == 200 and one.content == COUNT
    assert "attachment" in one.headers["content-disposition"]
    assert alice.get(f"/jobs/{job_id}/files/out/first.txt").content == b"first\n"
    for missing in ("out/other.txt", "out/gone.txt", "manifest.json", "stdout"):
        assert alice.get(f"/jobs/{job_id}/files/{missing}").status_code == 404, missing
    archive = alice.get(f"/jobs/{job_id}/results")
    assert archive.status_code == 200 and archive.content == RESULTS
    assert alice.get(f"/jobs/{job_id}/logs/stdout").content == b"counted\n"


def test_the_live_fragment_stops_polling_once_the_job_finished(app: HubApp, alice: Browser) -> None:
    done = _finished(app, alice)
    job_id = _job(app, alice)
    assert alice.get(f"/jobs/{job_id}/live").status_code == 200
    assert 'hx-get="/jobs/' in alice.get(f"/jobs/{job_id}").text
    assert alice.get(f"/jobs/{done}/live").status_code == 286
    assert 'hx-get="/jobs/' not in alice.get(f"/jobs/{done}").text


def test_the_lifecycle_marks_the_jobs_state_and_only_it(app: HubApp, alice: Browser) -> None:
    done = _finished(app, alice)
    waiting = _job(app, alice)
    assert CURRENT.findall(alice.get(f"/jobs/{waiting}").text) == ["received"]
    page = alice.get(f"/jobs/{done}").text
    assert page.count('class="node current"') == 1 and CURRENT.findall(page) == ["cleaned"]


# -- Station forms -------------------------------------------------------------------------------
def _flash(response: Any) -> str:
    [line] = FLASH.findall(response.text)
    assert line and "\n" not in line
    return str(line)


def test_create_a_station_and_a_duplicate_is_a_409_flash(app: HubApp, alice: Browser) -> None:
    made = alice.post("/stations", name="lab")
    assert (made.status_code, made.headers["location"]) == (303, "/stations/lab")
    assert alice.get("/stations/lab").status_code == 200
    again = alice.post("/stations", name="lab")
    assert again.status_code == 409 and "lab" in _flash(again)
    assert [s["name"] for s in app.ok("GET", "/stations", alice.token)] == ["lab", "s1"]


def test_inviting_an_unknown_user_is_a_404_flash(alice: Browser) -> None:
    refused = alice.post("/stations/s1/invite", user="nobody", role="member")
    assert refused.status_code == 404 and "nobody" in _flash(refused)


def test_add_and_remove_a_landing_zone_and_a_volume(app: HubApp, alice: Browser) -> None:
    app.ok("POST", "/lz/register", alice.token, json={"name": "lz2"})
    assert 'value="lz2"' in alice.get("/stations/s1").text  # offered: alice owns it
    assert alice.post("/stations/s1/zones", lz="lz2").status_code == 303
    assert app.ok("GET", "/stations/s1", alice.token)["landing_zones"] == ["lz1", "lz2"]
    assert alice.post("/stations/s1/volumes", name="data", mount="/data", access="ro").status_code == 303
    assert alice.post("/stations/s1/volumes/data/map", lz="lz2", host_path="/shared/data").status_code == 303
    volumes = app.ok("GET", "/stations/s1/volumes", alice.token)
    assert volumes == [{"name": "data", "mount": "/data", "access": "ro", "landing_zones": {"lz2": "/shared/data"}}]
    assert "/shared/data" in alice.get("/stations/s1").text
    assert alice.post("/stations/s1/volumes/data/remove").status_code == 303
    assert app.ok("GET", "/stations/s1/volumes", alice.token) == []
    assert alice.post("/stations/s1/zones/lz2/remove").status_code == 303
    assert app.ok("GET", "/stations/s1", alice.token)["landing_zones"] == ["lz1"]


def test_a_plain_member_gets_no_invite_form_and_403_posting_it(app: HubApp, alice: Browser) -> None:
    bob = Browser(app, "bob")
    app.user("carol")
    assert alice.post("/stations/s1/invite", user="bob", role="member").status_code == 303
    assert bob.post("/invitations/s1/accept").status_code == 303
    page = bob.get("/stations/s1")
    assert page.status_code == 200 and 'action="/stations/s1/invite"' not in page.text
    refused = bob.post("/stations/s1/invite", user="carol", role="member")
    assert refused.status_code == 403 and _flash(refused)
    assert app.ok("GET", "/invitations", app.user("carol")) == []


def test_the_station_page_shows_the_quota_and_its_owner_sets_it(app: HubApp, alice: Browser) -> None:
    _job(app, alice)
    page = alice.get("/stations/s1").text
    assert 'id="quota"' in page and 'action="/stations/s1/quota"' in page and "the hub&#39;s default" in page
    assert alice.post("/stations/s1/quota", csrf="forged", pending="1").status_code == 403
    assert app.ok("GET", "/stations/s1/quota", alice.token)["pending"]["own"] is False
    set_ = alice.post("/stations/s1/quota", pending="1", running="", bytes="1G")
    assert (set_.status_code, set_.headers["location"]) == (303, "/stations/s1#quota")
    quota = app.ok("GET", "/stations/s1/quota", alice.token)
    assert (quota["pending"], quota["running"]["own"], quota["bytes"]["limit"]) == (
        {"limit": 1, "used": 1, "own": True}, False, 1 << 30)
    assert 'value="1"' in alice.get("/stations/s1").text
    refused = alice.post("/stations/s1/quota", pending="many")
    assert refused.status_code == 422 and "pending: &#39;many&#39; is not a count" in _flash(refused)
    assert app.submit(alice.token).status_code == 409  # the page's quota is the one submissions meet
    bob = Browser(app, "bob")
    app.ok("POST", "/stations/s1/members", alice.token, json={"user": "bob"})
    page = bob.get("/stations/s1").text
    assert 'id="quota"' in page and 'action="/stations/s1/quota"' not in page
    assert bob.post("/stations/s1/quota", pending="5").status_code == 403


# -- controls ------------------------------------------------------------------------------------
def test_stop_ends_a_pending_job_and_pause_holds_it(app: HubApp, alice: Browser) -> None:
    paused = _job(app, alice)
    held = alice.post(f"/jobs/{paused}/control", action="pause")
    assert (held.status_code, held.headers["location"]) == (303, f"/jobs/{paused}")
    assert app.ok("GET", f"/jobs/{paused}", alice.token)["state"] == "received"
    assert ">Resume<" in alice.get(f"/jobs/{paused}").text
    stopped = alice.post(f"/jobs/{paused}/control", action="stop")
    assert (stopped.status_code, stopped.headers["location"]) == (303, f"/jobs/{paused}")
    job = app.ok("GET", f"/jobs/{paused}", alice.token)
    assert (job["state"], job["outcome"], job["reason"]) == ("cleaned", "cancelled", "stopped by alice")


def test_landing_zones_tab_groups_pilots_and_marks_old_versions(app: HubApp, alice: Browser) -> None:
    for index in (1, 2):
        app.ok("POST", "/lz/register", alice.token, json={
            "name": f"pilot-{index}", "version": "0.0.1", "pilot_group": "4242",
            "ends_at": app.clock() + 3600 * index})
    app.ok("POST", "/lz/register", alice.token, json={"name": "gw", "version": "99.0"})
    page = alice.get("/zones/table").text
    assert "Pilots of SLURM job 4242" in page and "2 of 2 online" in page and "2:00:00 left" in page
    assert page.count('data-zone="pilot-') == 2
    rows = dict(re.findall(r'<tr class="\w+" data-zone="([^"]+)">(.*?)</tr>', page, re.S))
    assert "upgrade" in rows["pilot-1"] and "upgrade" not in rows["gw"]  # below the hub's minimum
    assert "1:00:00" in rows["pilot-1"] and "2:00:00" in rows["pilot-2"]


def test_job_lists_show_the_newest_first(app: HubApp, alice: Browser) -> None:
    first = _job(app, alice)
    app.clock.now += 1
    second = _job(app, alice)
    page = alice.get("/jobs/table").text
    assert page.index(second) < page.index(first)


def test_a_malformed_address_is_a_page_and_the_api_keeps_its_422(app: HubApp, alice: Browser) -> None:
    page = alice.get("/jobs/not-an-id!")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"] and "Not found" in page.text
    api = app.call("GET", "/jobs/not-an-id!", alice.token)
    assert api.status_code == 422 and api.json()["detail"][0]["loc"]


def test_a_jobs_buttons_follow_its_state() -> None:
    from lz.hub.server.web.pages_jobs import available_actions

    assert available_actions("pending", "received") == ["pause", "cancel"]
    assert available_actions("pending", "received", "pause") == ["resume", "cancel"]
    assert available_actions("leased", "building") == ["stop", "kill", "cancel"]
    assert available_actions("leased", "running") == ["stop", "kill", "pause", "cancel"]
    assert available_actions("leased", "paused") == ["stop", "kill", "resume", "cancel"]
    assert available_actions("finished", "cleaned") == []


def test_a_jobs_page_lists_its_attempts_with_zone_and_end(app: HubApp, alice: Browser) -> None:
    """Issue 20: each attempt's landing zone, start, end and why it ended, on the page as in the API."""
    job_id = _finished(app, alice)
    api = app.ok("GET", f"/jobs/{job_id}", alice.token)
    [attempt] = api["attempt_history"]
    page = alice.get(f"/jobs/{job_id}").text
    table = page[page.index('id="attempts"'):page.index("</table>", page.index('id="attempts"'))]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table)
    assert cells[:2] == ["1", "lz1"] and cells[4] == attempt["ended"], cells
    assert "at most 3 may fail" in page
