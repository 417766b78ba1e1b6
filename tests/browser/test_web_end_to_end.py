"""The web page in a real headless Chromium against a real ``lz hub serve`` and a real landing
zone (``lz run --hub``) on loopback: sign in, approve the landing zone's device code on
/activate, see it online, create a Station, add the landing zone, upload the example job as a
folder, watch it reach ``cleaned``, download its results (the archive and a single file) and
compare them byte for byte, stop a long job and see its partial results; a user who is not in the
Station sees none of it (a direct URL is a 404). Also: no asset from outside, keyboard sign-in,
and the phone layout.

``LZ_SCREENSHOTS=DIR`` keeps a screenshot of each tab there (``scripts/screenshots`` sets it to
docs/screenshots)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.browser.chromium import PHONE, Browser, require_chromium
from tests.integration.hub_server import HubServer, hub_landing_zone, printed_code
from tests.integration.landing_zone import LandingZone

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.browser]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "wordcount"
PASSWORD = "correct horse"
SHOTS = Path(os.environ["LZ_SCREENSHOTS"]).resolve() if os.environ.get("LZ_SCREENSHOTS") else None


@pytest.fixture
def hub(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[HubServer]:
    """On the local folder, or (``indirect`` param ``s3``) on a real S3 server process with
    downloads redirected to presigned URLs: the browser follows them."""
    require_chromium()
    config = tmp_path / "hub.toml"
    config.write_text("[login]\ndevice_interval_s = 1\n")
    store = None
    if getattr(request, "param", "local") == "s3":
        s3 = request.getfixturevalue("s3_server")
        store = s3.url(s3.new_bucket())
        config.write_text("[login]\ndevice_interval_s = 1\n[hub]\npresign = true\n")
    server = HubServer(tmp_path / "hub", lease_s=10, config=config, store=store)
    server.start()
    for name in ("alice", "bob"):
        subprocess.run([sys.executable, "-m", "lz.cli", "hub", "user", "add", name, "--password-stdin"],
                       input=PASSWORD + "\n", text=True, env=server.env, check=True, capture_output=True)
    yield server
    server.stop()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    opened = Browser(tmp_path / "downloads")
    yield opened
    opened.close()


def sign_in(browser: Browser, hub: HubServer, name: str, then: str = "/zones") -> None:
    browser.go(f"{hub.url}/login?next={then}")
    browser.fill("#name", name)
    browser.fill("#password", PASSWORD)
    browser.click("form[action='/login'] button[type=submit]")
    browser.wait(f"signed in as {name}", lambda: name in browser.text("header"))


def long_job(folder: Path) -> Path:
    """Writes a line a second for five minutes: stopped early, it returns what it wrote so far."""
    folder.mkdir(parents=True)
    (folder / "lz.toml").write_text('name = "ticker"\ncommand = ["sh", "run.sh"]\n')
    (folder / "run.sh").write_text("mkdir -p out\nfor i in $(seq 1 300); do echo tick $i >> out/ticks.txt; "
                                   "echo tick $i; sleep 1; done\n")
    tarball = folder.parent / "ticker.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(folder, arcname="ticker")
    return tarball


def members_of(archive: Path) -> dict[str, bytes]:
    """The files of a stored results archive (a tar holding results.tar.gz, manifest.json, logs)."""
    found: dict[str, bytes] = {}
    with tarfile.open(archive) as outer:
        inner_bytes = outer.extractfile("results.tar.gz").read()  # type: ignore[union-attr]
        with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:gz") as inner:
            for member in inner:
                if member.isfile():
                    found[member.name] = inner.extractfile(member).read()  # type: ignore[union-attr]
    return found


def upload(browser: Browser, hub: HubServer, station: str, *, folder: Path | None = None,
           tarball: Path | None = None) -> str:
    browser.go(f"{hub.url}/jobs?station={station}")
    browser.choose("#submit-station", station)
    if folder is not None:
        browser.find("#submit-folder").send_keys(str(folder))
    if tarball is not None:
        browser.find("#submit-tarball").send_keys(str(tarball))
    browser.click("#submit-button")
    browser.wait("the job's page", lambda: re.search(r"/jobs/[0-9a-f]{10}$", browser.url), timeout=60)
    return browser.url.rsplit("/", 1)[-1]


def state_of(browser: Browser) -> str:
    return str(browser.find("#job-state").get_attribute("data-state"))


@pytest.mark.parametrize("hub", ["local", "s3"], indirect=True)
def test_the_web_page_end_to_end(hub: HubServer, browser: Browser, tmp_path: Path) -> None:
    # sign in; the landing zone started with `lz run --hub` (no token) prints a code; approve it here
    sign_in(browser, hub, "alice")
    browser.screenshot(SHOTS, "0-landing-zones-empty")
    lz = hub_landing_zone(tmp_path / "X", hub, "X", tmp_path / "X-token", max_running=2,
                          config="usage_interval_s = 1\n")  # usage of short jobs shows too
    started = threading.Thread(target=lz.start)
    started.start()
    try:
        _the_rest(hub, browser, lz, tmp_path, started)
    finally:
        started.join(60)
        lz.stop()


def _the_rest(hub: HubServer, browser: Browser, lz: LandingZone, tmp_path: Path, started: threading.Thread) -> None:
    code = printed_code(tmp_path / "X" / "daemon-1.log")
    browser.go(f"{hub.url}/activate")
    browser.fill("#user_code", code.lower().replace("-", ""))  # typed as people type it
    browser.click("form[action='/activate'] button[type=submit]")
    browser.wait_for("#approve")
    assert "landing zone X" in browser.text("main")
    browser.screenshot(SHOTS, "5-activate")
    browser.click("#approve")
    browser.wait("approval", lambda: "approved" in browser.text("main"))
    started.join(60)
    assert not started.is_alive(), "the landing zone did not get past its login"

    # Landing Zones tab: X comes online by itself (a polled fragment, no reload)
    browser.go(f"{hub.url}/zones")
    browser.wait("X online", lambda: "online" in browser.find("tr[data-zone='X']").text, timeout=60)
    row = browser.text("tr[data-zone='X']")
    assert "none" in row or "local" in row, row
    browser.screenshot(SHOTS, "1-landing-zones")

    # Stations tab: create a Station with the button, add the landing zone
    browser.go(f"{hub.url}/stations")
    browser.fill("#station-name", "lab")
    browser.click("#create-station")
    browser.wait("the Station's page", lambda: browser.url.endswith("/stations/lab"))
    browser.choose("#add-zone", "X")
    browser.click("#add-zone-button")
    browser.wait("X in lab", lambda: "X" in browser.text("#zones ul"))
    browser.screenshot(SHOTS, "2-station-lab")
    browser.go(f"{hub.url}/stations")
    assert "X" in browser.text("table")
    browser.screenshot(SHOTS, "2-stations")

    # Jobs tab: upload the example folder, watch it reach cleaned
    job_id = upload(browser, hub, "lab", folder=EXAMPLE)
    browser.wait("cleaned", lambda: state_of(browser) == "cleaned", timeout=120)
    assert browser.text("#job-outcome") == "succeeded"
    assert "received" in browser.text("table.history") and "cleaned" in browser.text("table.history")
    assert browser.find(".lifecycle g.node.current title").get_attribute("textContent") == "cleaned"
    assert "words:" in browser.text("#log-stdout")
    browser.screenshot(SHOTS, "4-job")

    # results: the whole archive, then one file, byte for byte
    browser.click("#download-results")
    archive = browser.downloaded(f"{job_id}.tar")
    alice_token = hub.cli("hub", "token", "create", "--user", "alice").stdout.strip().splitlines()[-1]
    api = requests.get(f"{hub.url}/api/v1/jobs/{job_id}/results", headers={"Authorization": f"Bearer {alice_token}"},
                       timeout=30)
    assert api.status_code == 200 and hashlib.sha256(api.content).digest() == hashlib.sha256(archive.read_bytes()).digest()
    assert [r.status_code for r in api.history] == ([307] if hub.store else [])  # S3: from a presigned URL
    files = members_of(archive)
    expected_count = f"{len((EXAMPLE / 'input.txt').read_text().split())}\n".encode()
    assert files["out/count.txt"].strip() == expected_count.strip()
    assert files["runs.txt"].startswith((EXAMPLE / "runs.txt").read_bytes())  # modified: the old lines, then one more
    browser.click("a[data-file='out/count.txt']")
    single = browser.downloaded("count.txt")
    assert single.read_bytes() == files["out/count.txt"]

    # the job list shows it; a long job, stopped, returns its partial results
    browser.go(f"{hub.url}/jobs")
    browser.wait("the job in the list", lambda: browser.find(f"tr[data-job='{job_id}']"))
    ticker = upload(browser, hub, "lab", tarball=long_job(tmp_path / "ticker"))
    browser.wait("ticking", lambda: "tick 3" in browser.text("#log-stdout"), timeout=90)
    browser.screenshot(SHOTS, "3-jobs-running-job")
    browser.click("#control-pause")
    browser.wait("paused", lambda: state_of(browser) == "paused", timeout=60)
    assert not browser.all("#control-pause")
    browser.click("#control-resume")
    browser.wait("running again", lambda: state_of(browser) == "running", timeout=60)
    # the live part is swapped every 2 s: a keyboard user's focus stays on the button meanwhile
    from selenium.webdriver.common.keys import Keys

    browser.driver.execute_script("document.getElementById('control-stop').focus()")
    time.sleep(4.5)
    assert browser.driver.switch_to.active_element.get_attribute("id") == "control-stop"
    browser.driver.switch_to.active_element.send_keys(Keys.ENTER)
    browser.wait("stopped and cleaned", lambda: state_of(browser) == "cleaned", timeout=120)
    assert browser.find("a[data-file='out/ticks.txt']")
    browser.click("a[data-file='out/ticks.txt']")
    ticks = browser.downloaded("ticks.txt").read_text().splitlines()
    assert 3 <= len(ticks) < 300 and ticks[0] == "tick 1", ticks
    assert "stop" in browser.text("table.history")
    assert browser.text("#usage-cpu") != "–" and browser.text("#usage-rss").endswith("B")  # sampled while it ran
    browser.go(f"{hub.url}/jobs")
    browser.wait("both jobs listed", lambda: len(browser.all("tr[data-job]")) == 2)
    browser.screenshot(SHOTS, "3-jobs")

    # the filter form: a plain GET (Enter in a field sends it), its address a bookmark, its values
    # kept in the form and by the table's polling
    browser.fill("#f-name", "tick")
    browser.find("#f-name").send_keys(Keys.ENTER)
    browser.wait("only the ticker", lambda: [r.get_attribute("data-job") for r in browser.all("tr[data-job]")]
                 == [ticker])
    assert "name=tick" in browser.url and browser.find("#f-name").get_attribute("value") == "tick"
    time.sleep(3.5)  # one poll of the table later, still filtered
    assert [r.get_attribute("data-job") for r in browser.all("tr[data-job]")] == [ticker]
    browser.go(f"{hub.url}/jobs?size=1&order=oldest")
    browser.click("#jobs-following")
    browser.wait("the second page", lambda: [r.get_attribute("data-job") for r in browser.all("tr[data-job]")]
                 == [ticker])
    assert "order=oldest" in browser.url and "size=1" in browser.url

    # nothing was fetched from outside the hub, and the page logged no errors
    for page in ("/zones", "/stations/lab", f"/jobs/{job_id}"):
        browser.go(hub.url + page)
        outside = [u for u in browser.resources() if not u.startswith(hub.url)]
        assert not outside, outside
    assert not [e for e in browser.console_errors() if "favicon" not in e], browser.console_errors()

    # the phone layout: the tabs stay reachable, wide tables scroll inside their box
    browser.resize(PHONE)
    browser.go(f"{hub.url}/jobs/{job_id}")
    width = browser.driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= PHONE[0] + 2, f"the page is {width}px wide on a {PHONE[0]}px phone"
    browser.screenshot(SHOTS, "6-job-on-a-phone")

    # bob is on the hub but not in lab: he sees neither the Station nor its jobs, even by URL
    _bob_sees_nothing(hub, tmp_path, job_id, ticker)


def _bob_sees_nothing(hub: HubServer, tmp_path: Path, *job_ids: str) -> None:
    bob = Browser(tmp_path / "bob-downloads")
    try:
        sign_in(bob, hub, "bob", then="/jobs")
        assert not bob.all("tr[data-job]")
        for job_id in job_ids:
            assert job_id not in bob.text("main")
        for path in (f"/jobs/{job_ids[0]}", "/stations/lab", f"/jobs/{job_ids[0]}/results",
                     f"/jobs/{job_ids[0]}/files/out/count.txt"):
            status = bob.driver.execute_script(
                "const r = new XMLHttpRequest(); r.open('GET', arguments[0], false); r.send(); return r.status;",
                hub.url + path)
            assert status == 404, (path, status)
        bob.go(f"{hub.url}/jobs/{job_ids[0]}")
        assert "Not found" in bob.text("h1")
    finally:
        bob.close()


def test_keyboard_only_sign_in_and_station(hub: HubServer, browser: Browser) -> None:
    """Every control is a real link, button or field: Tab and Enter are enough."""
    from selenium.webdriver.common.keys import Keys

    browser.go(f"{hub.url}/login")
    active = browser.driver.switch_to.active_element
    assert active.get_attribute("id") == "name"  # autofocus
    active.send_keys("alice", Keys.TAB)
    browser.driver.switch_to.active_element.send_keys(PASSWORD, Keys.ENTER)
    browser.wait("signed in", lambda: "alice" in browser.text("header"))
    browser.go(f"{hub.url}/stations")
    browser.find("#station-name").send_keys("keys", Keys.ENTER)
    browser.wait("the Station's page", lambda: browser.url.endswith("/stations/keys"))
    # Tab from the top reaches the skip link first, then the tabs
    browser.find("body").send_keys(Keys.TAB)
    assert browser.driver.switch_to.active_element.get_attribute("class") == "skip"
