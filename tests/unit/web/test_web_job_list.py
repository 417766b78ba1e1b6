"""The Jobs tab's list (issue 22): each filter, the order, paging across pages with the API's
cursor, the filters kept by every link and by the table's polling, bad values as one line, and
the authorization of the API through every filter. Jobs are written through the domain layer."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lz.hub.server.domain import accounts, jobs, stations
from tests.unit.hub_helpers import HubApp, hub_app
from tests.unit.web.test_web_pages import FLASH, Browser

ROW = re.compile(r'<tr data-job="([0-9a-f]+)"')
HX_GET = re.compile(r'<div id="jobs" hx-get="([^"]*)"')


def _link(text: str, which: str) -> str | None:
    found = re.search(rf'<a href="([^"]*)" id="jobs-{which}"', text)
    return html.unescape(found.group(1)) if found else None


def _shown(text: str) -> list[str]:
    return ROW.findall(text)


def _add(app: HubApp, token: str, station: str, names: list[str], start: float, step: float = 1.0) -> list[str]:
    """Jobs named ``names`` in ``station``, submitted ``step`` seconds apart from ``start`` (one transaction)."""
    def _write(conn: Any) -> list[str]:
        who = accounts.authenticate(conn, token, app.clock())
        assert who is not None
        sid = stations.visible(conn, who, station)
        made = []
        for i, name in enumerate(names):
            job_id = jobs.new_job_id()
            jobs.submit(conn, who, sid, job_id, f"k-{job_id}", {"name": name}, "", 0, start + i * step)
            made.append(job_id)
        return made

    return list(app.hub.write(_write))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[HubApp]:
    with hub_app(tmp_path) as a:
        yield a


@pytest.fixture
def alice(app: HubApp) -> Browser:
    """Alice: Station s1 served by lz1, Station s2 served by lz2."""
    person = Browser(app, "alice")
    app.station_with_zone(person.token)
    app.station_with_zone(person.token, "s2", "lz2")
    return person


def test_each_filter_narrows_the_list_and_stays_in_the_form(app: HubApp, alice: Browser) -> None:
    t0 = app.clock()
    alpha1, alpha2, beta1 = _add(app, alice.token, "s1", ["alpha-1", "alpha-2", "beta-1"], t0 - 7200, 1800)
    [other] = _add(app, alice.token, "s2", ["gamma"], t0 - 10)
    [claimed] = app.claim(alice.token, "lz1")  # the oldest waiting job of s1 runs on lz1
    assert claimed["id"] == alpha1
    app.ok("POST", f"/jobs/{beta1}/cancel", alice.token)
    cases: list[tuple[dict[str, str], set[str]]] = [
        ({}, {alpha1, alpha2, beta1, other}),
        ({"name": "alpha"}, {alpha1, alpha2}),  # a part of the name
        ({"name": "ALPHA-2"}, {alpha2}),  # any case
        ({"name": "*-1"}, {alpha1, beta1}),  # a pattern
        ({"name": "a?pha*"}, {alpha1, alpha2}),
        ({"station": "s2"}, {other}),
        ({"zone": "lz1"}, {alpha1}),
        ({"zone": "lz2"}, set()),
        ({"state": "cleaned"}, {beta1}),
        ({"state": "active"}, {alpha1, alpha2, other}),
        ({"state": "PD"}, {alpha1, alpha2, other}),
        ({"outcome": "cancelled"}, {beta1}),
        ({"outcome": "CA"}, {beta1}),
        ({"since": "1h"}, {beta1, other}),  # created in the last hour of the hub's clock
        ({"since": "2027-01-15T05:00:00Z"}, {alpha1, alpha2, beta1, other}),
        ({"station": "s1", "name": "alpha", "state": "PD"}, {alpha1, alpha2}),
    ]
    for params, expected in cases:
        for path in ("/jobs", "/jobs/table"):
            answer = alice.get(path, params=params)
            assert answer.status_code == 200, (params, answer.text)
            assert set(_shown(answer.text)) == expected, (path, params)
    page = alice.get("/jobs", params={"name": "alpha", "station": "s2", "state": "CG", "outcome": "failed",
                                      "zone": "lz1", "since": "3d", "order": "oldest", "size": "25"}).text
    for kept in ('id="f-name" name="name" value="alpha"', 'id="f-zone" name="zone" value="lz1"',
                 'id="f-since" name="since" value="3d"', '<option value="s2" selected>',
                 '<option value="CG" selected>', '<option value="failed" selected>',
                 '<option value="oldest" selected>', '<option value="25" selected>'):
        assert kept in page, kept
    assert "No jobs match." in page


def test_newest_first_by_default_and_oldest_first_on_request(app: HubApp, alice: Browser) -> None:
    made = _add(app, alice.token, "s1", [f"job{i}" for i in range(5)], app.clock() - 100)
    assert _shown(alice.get("/jobs").text) == made[::-1]
    assert _shown(alice.get("/jobs", params={"order": "newest"}).text) == made[::-1]
    assert _shown(alice.get("/jobs/table", params={"order": "oldest"}).text) == made
    twin = _add(app, alice.token, "s1", ["twin-a", "twin-b"], app.clock() - 50, 0)  # one instant: by id
    both = _shown(alice.get("/jobs", params={"name": "twin-*", "order": "oldest"}).text)
    assert both == sorted(twin) and _shown(alice.get("/jobs", params={"name": "twin-*"}).text) == sorted(twin)[::-1]


def test_pages_of_125_jobs_forward_and_back_keep_the_filters(app: HubApp, alice: Browser) -> None:
    wanted = _add(app, alice.token, "s1", [f"run-{i:03d}" for i in range(125)], app.clock() - 1000)
    _add(app, alice.token, "s1", [f"other-{i}" for i in range(20)], app.clock() - 1100, 10)  # interleaved, filtered out
    url: str | None = "/jobs?name=run-*&station=s1"
    pages: list[list[str]] = []
    urls = []
    while url:
        answer = alice.get(url)
        assert answer.status_code == 200
        assert "125 jobs" in answer.text
        pages.append(_shown(answer.text))
        urls.append(url)
        polled = html.unescape(HX_GET.search(answer.text).group(1))  # the table polls this very page
        assert polled.startswith("/jobs/table?") and _shown(alice.get(polled).text) == pages[-1]
        assert all(p in polled for p in ("name=run-%2A", "station=s1"))
        url = _link(answer.text, "following")
        assert url is None or ("name=run-%2A" in url and "station=s1" in url)
    assert [len(p) for p in pages] == [50, 50, 25]
    assert sum(pages, []) == wanted[::-1]
    assert _link(alice.get(urls[0]).text, "preceding") is None  # the first page has no newer one
    back = _link(alice.get(urls[2]).text, "preceding")
    assert back and "before=" in back and "name=run-%2A" in back
    assert _shown(alice.get(back).text) == pages[1]
    newest = _link(alice.get(back).text, "preceding")
    assert newest and _shown(alice.get(newest).text) == pages[0]
    oldest_first = alice.get("/jobs", params={"name": "run-*", "order": "oldest", "size": "100"}).text
    assert _shown(oldest_first) == wanted[:100] and ">Newer &rarr;<" in oldest_first
    later = _link(oldest_first, "following")
    assert later and "order=oldest" in later and "size=100" in later
    assert _shown(alice.get(later).text) == wanted[100:]


def test_a_new_job_does_not_shift_a_later_page(app: HubApp, alice: Browser) -> None:
    made = _add(app, alice.token, "s1", [f"j{i}" for i in range(6)], app.clock() - 100)
    second = _link(alice.get("/jobs", params={"size": "3"}).text, "following")
    assert second
    _add(app, alice.token, "s1", ["late"], app.clock())
    assert _shown(alice.get(second).text) == made[2::-1]


@pytest.mark.parametrize("params, says", [
    ({"state": "sideways"}, "unknown state 'sideways'"),
    ({"state": "failed"}, "is an outcome in lz, not a state"),
    ({"outcome": "meh"}, "unknown outcome 'meh'"),
    ({"since": "last tuesday"}, "since 'last tuesday': give a duration"),
    ({"since": "9" * 200}, "since"),
    ({"size": "0"}, "a page shows 1 to 200 jobs, not '0'"),
    ({"size": "201"}, "not '201'"),
    ({"size": "ten"}, "not 'ten'"),
    ({"order": "by-name"}, "unknown order 'by-name'"),
    ({"after": "nonsense"}, "not a page cursor"),
    ({"before": "nan_abc"}, "not a page cursor"),
    ({"after": "1e999_ab"}, "not a page cursor"),
    ({"zone": "a b"}, "no landing zone is named 'a b'"),
    ({"station": "../etc"}, "no Station is named '../etc'"),
    ({"station": "nobodys"}, "no station 'nobodys' that you belong to"),
    ({"name": "x" * 129}, "a name pattern is at most 128 characters"),
])
def test_a_bad_value_is_one_line_and_a_4xx(app: HubApp, alice: Browser, params: dict[str, str], says: str) -> None:
    _add(app, alice.token, "s1", ["one"], app.clock())
    answer = alice.get("/jobs", params=params)
    assert 400 <= answer.status_code < 500, answer.status_code
    assert len(FLASH.findall(answer.text)) == 1 and says in html.unescape(FLASH.findall(answer.text)[0])
    assert 'id="job-filters"' in answer.text and not _shown(answer.text)  # the form again, to correct it
    fragment = alice.get("/jobs/table", params=params)
    assert 400 <= fragment.status_code < 500 and len(FLASH.findall(fragment.text)) == 1


def test_what_is_typed_is_escaped(app: HubApp, alice: Browser) -> None:
    hostile = '"><script>alert(1)</script>'
    for params in ({"name": hostile}, {"zone": hostile}, {"since": hostile}, {"state": hostile}):
        text = alice.get("/jobs", params=params).text
        assert "<script>alert" not in text and "&lt;script&gt;" in text


def test_no_filter_shows_another_stations_jobs(app: HubApp, alice: Browser) -> None:
    theirs = _add(app, alice.token, "s1", [f"secret-{i}" for i in range(3)], app.clock() - 100)
    app.claim(alice.token, "lz1")
    bob = Browser(app, "bob")
    app.station_with_zone(bob.token, "b1", "bz")
    mine = _add(app, bob.token, "b1", ["secret-bob"], app.clock() - 200)
    cursor = _link(alice.get("/jobs", params={"size": "1"}).text, "following")
    assert cursor
    tries = [{}, {"name": "secret*"}, {"name": "secret"}, {"zone": "lz1"}, {"state": "all"}, {"state": "PD"},
             {"station": "s1"}, {"station": "s1", "name": "*"}, {"since": "1d"}, {"order": "oldest", "size": "200"}]
    for params in tries:
        for path in ("/jobs", "/jobs/table", cursor, cursor.replace("/jobs?", "/jobs/table?")):
            answer = bob.get(path, params=params if "?" not in path else None)
            assert not set(_shown(answer.text)) & set(theirs), (path, params)
            echoed = answer.text.replace(cursor.rsplit("_", 1)[1], "")  # the id in the cursor bob gave
            assert all(job_id not in echoed for job_id in theirs), (path, params)
    assert bob.get("/jobs", params={"station": "s1"}).status_code == 404
    assert _shown(bob.get("/jobs", params={"name": "secret"}).text) == mine


def test_the_station_page_shows_the_first_page_and_links_on(app: HubApp, alice: Browser) -> None:
    made = _add(app, alice.token, "s1", [f"s{i}" for i in range(60)], app.clock() - 100)
    text = alice.get("/stations/s1").text
    assert _shown(text) == made[:-51:-1]
    more = _link(text, "following")
    assert more and more.startswith("/jobs?") and "station=s1" in more
    assert _shown(alice.get(more).text) == made[9::-1]


def test_a_cursor_past_the_end_says_so_and_leads_back(app: HubApp, alice: Browser) -> None:
    made = _add(app, alice.token, "s1", ["a", "b"], app.clock() - 100)
    last = _link(alice.get("/jobs", params={"size": "1"}).text, "following")
    assert last and _shown(alice.get(last).text) == made[:1]
    assert _link(alice.get(last).text, "following") is None  # a full last page: no empty one after it
    app.ok("POST", f"/jobs/{made[0]}/cancel", alice.token)
    app.hub.write(lambda conn: conn.execute(jobs.jobs_t.delete().where(jobs.jobs_t.c.id == made[0])))
    gone = alice.get(last).text
    assert "No more jobs." in gone and _link(gone, "first") == "/jobs?size=1"


def _sort_link(text: str, by: str) -> str:
    found = re.search(rf'<a href="([^"]*)" id="sort-{by}"', text)
    assert found, f"no sort-{by} heading"
    return html.unescape(found.group(1))


def test_the_name_and_state_headings_sort_and_page_through_ties(app: HubApp, alice: Browser) -> None:
    """Sorted by name (A to Z, oldest first among equal names) with pages of 25 across runs of
    equal names, forward and back; by state the same; each from its column heading's link, with
    the filters kept; a cursor of another order is one line and a 400."""
    names = [f"n{i % 7}" for i in range(60)]  # 7 names, runs of 8 or 9 equal ones: ties cross pages
    made = _add(app, alice.token, "s1", names, app.clock() - 1000)
    by_name = [j for _, _, j in sorted(zip(names, range(60), made))]
    first = alice.get("/jobs", params={"station": "s1", "size": "25"}).text
    url: str | None = _sort_link(first, "name")
    assert "order=name" in url and "station=s1" in url and "size=25" in url
    pages, urls = [], []
    while url:
        text = alice.get(url).text
        pages.append(_shown(text))
        urls.append(url)
        url = _link(text, "following")
    assert [len(p) for p in pages] == [25, 25, 10] and sum(pages, []) == by_name
    back = _link(alice.get(urls[2]).text, "preceding")
    assert back and _shown(alice.get(back).text) == pages[1]
    assert 'aria-sort="ascending"' in alice.get(urls[0]).text

    states = ["running", "received", "queued", "collecting"]
    app.hub.write(lambda conn: [conn.execute(jobs.jobs_t.update().where(jobs.jobs_t.c.id == j)
                                             .values(state=states[i % 4])) for i, j in enumerate(made)])
    by_state = [j for _, _, j in sorted((states[i % 4], i, j) for i, j in enumerate(made))]
    url = _sort_link(first, "state")
    seen: list[str] = []
    while url:
        text = alice.get(url).text
        seen += _shown(text)
        url = _link(text, "following")
    assert seen == by_state
    mixed = alice.get("/jobs", params={"order": "newest", "after": "bjA~1.5_ab"})
    assert mixed.status_code in (400, 422) and "not a page cursor" in mixed.text


def test_the_api_sorts_by_name_with_cursors_of_that_order(app: HubApp, alice: Browser) -> None:
    names = [f"z{i % 3}" for i in range(12)]
    made = _add(app, alice.token, "s1", names, app.clock() - 500)
    want = [j for _, _, j in sorted(zip(names, range(12), made))]
    got: list[str] = []
    before = None
    while True:
        answer = app.client.get("/api/v1/jobs", params={"order": "name", "limit": 5, **({"before": before} if before else {})},
                                headers={"Authorization": f"Bearer {alice.token}"})
        assert answer.status_code == 200, answer.text
        got += [j["id"] for j in answer.json()]
        before = answer.headers.get("X-Lz-Next")
        if not before:
            break
    assert got == want
    bad = app.client.get("/api/v1/jobs", params={"order": "name", "before": "1.5_ab"},
                         headers={"Authorization": f"Bearer {alice.token}"})
    assert bad.status_code in (400, 422) and "cursor" in bad.text
