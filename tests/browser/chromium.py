"""A real headless Chromium (Debian's ``chromium`` and its matching ``chromium-driver``) driven by
Selenium, with the few waits the web page's tests need. Nothing is fetched from outside: Selenium
Manager is not used (the driver's path is given)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
LAPTOP = (1366, 900)
PHONE = (390, 844)


def available() -> bool:
    return Path(CHROMIUM).exists() and Path(DRIVER).exists()


class Browser:
    """One browser profile (its own cookies), downloads into ``downloads``."""

    def __init__(self, downloads: Path, size: tuple[int, int] = LAPTOP, trust_ca: Path | None = None):
        """``trust_ca``: a CA certificate this browser trusts for servers (through an NSS database in
        its own home, as a site CA is trusted: no certificate error is ignored)."""
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.downloads = downloads
        downloads.mkdir(parents=True, exist_ok=True)
        # Chromium's profile and scratch (org.chromium.Chromium.*) go into a short private directory
        # removed on close: the container tests check that nothing is left in /tmp, and Chromium's
        # singleton socket path must stay under 108 bytes
        self.scratch = Path(tempfile.mkdtemp(prefix="lz-chromium-"))
        scratch = self.scratch
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    f"--window-size={size[0]},{size[1]}", "--lang=en-US", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync"):
            options.add_argument(arg)
        options.add_experimental_option("prefs", {
            "download.default_directory": str(downloads), "download.prompt_for_download": False,
            "safebrowsing.enabled": False})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        env = {**os.environ, "TMPDIR": str(scratch)}
        if trust_ca is not None:
            env["HOME"] = str(_nss_home(scratch, trust_ca))
        service = Service(DRIVER, env=env)
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(60)

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)

    # -- looking -----------------------------------------------------------------------------------
    def go(self, url: str) -> None:
        self.driver.get(url)

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str = "body") -> str:
        return str(self.find(css).text)

    def wait(self, what: str, predicate: Callable[[], Any], timeout: float = 60, poll: float = 0.25) -> Any:
        """Until ``predicate`` answers something true (errors of a page mid-swap count as not yet)."""
        deadline = time.time() + timeout
        last: Exception | None = None
        while time.time() < deadline:
            try:
                found = predicate()
                if found:
                    return found
            except Exception as exc:  # stale element while htmx swaps a fragment
                last = exc
            time.sleep(poll)
        raise AssertionError(f"waited {timeout:.0f}s for {what} on {self.url} ({last!r}):\n{self.text()[:3000]}")

    def wait_for(self, css: str, timeout: float = 60) -> Any:
        return self.wait(css, lambda: self.all(css), timeout)[0]

    # -- acting ------------------------------------------------------------------------------------
    def fill(self, css: str, value: str) -> None:
        box = self.find(css)
        box.clear()
        box.send_keys(value)

    def click(self, css: str) -> None:
        self.find(css).click()

    def choose(self, css: str, value: str) -> None:
        from selenium.webdriver.support.ui import Select

        Select(self.find(css)).select_by_value(value)

    def screenshot(self, folder: Path | None, name: str) -> None:
        """The whole page (the window made as tall as the page, up to 2,400 px, then restored)."""
        if folder is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        size = self.driver.get_window_size()
        height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
        self.driver.set_window_size(size["width"], max(size["height"], min(height + 120, 2400)))
        try:
            self.driver.save_screenshot(str(folder / f"{name}.png"))
        finally:
            self.driver.set_window_size(size["width"], size["height"])

    def resize(self, size: tuple[int, int]) -> None:
        self.driver.set_window_size(*size)

    def downloaded(self, name: str, timeout: float = 30) -> Path:
        """The file once the download is complete (Chromium writes ``.crdownload`` until then)."""
        target = self.downloads / name
        self.wait(f"download {name}", lambda: target.exists() and not list(self.downloads.glob("*.crdownload")),
                  timeout)
        return target

    def resources(self) -> list[str]:
        """Every URL the current page loaded (scripts, styles, images, fetches)."""
        return list(self.driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)"))

    def console_errors(self) -> list[str]:
        try:
            entries = self.driver.get_log("browser")
        except Exception:
            return []
        return [e["message"] for e in entries if e.get("level") == "SEVERE"]


def _nss_home(scratch: Path, ca: Path) -> Path:
    """A home whose ``.pki/nssdb`` (where Chromium on Linux looks) trusts ``ca`` for servers."""
    import subprocess

    certutil = shutil.which("certutil")
    if certutil is None:
        pytest.skip("certutil is not installed (libnss3-tools; scripts/bootstrap installs it)")
    db = scratch / "home" / ".pki" / "nssdb"
    db.mkdir(parents=True)
    subprocess.run([certutil, "-d", f"sql:{db}", "-N", "--empty-password"], check=True, capture_output=True)
    subprocess.run([certutil, "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", "lz test CA", "-i", str(ca)],
                   check=True, capture_output=True)
    return db.parents[1]


def require_chromium() -> None:
    if not available():
        pytest.skip("Debian's chromium and chromium-driver are not installed (scripts/bootstrap installs them)")
