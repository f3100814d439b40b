"""Headless Chromium through Selenium for the dashboard's browser tests.

Debian's chromium and chromium-driver are used as installed (/usr/bin); the
driver's path is always given to Selenium so that Selenium Manager never looks
for (or downloads) a browser or a driver. Without them a test skips, except in
CI (``CI=true``) where it fails: CI installs them (``make test``, as root).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1400, 1000)
MISSING = "Debian chromium and chromium-driver are not installed (make test installs them as root)"

T = TypeVar("T")


def missing_browser() -> list[str]:
    """The browser files that are not there (empty: the browser tests can run)."""
    return [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]


def require_browser() -> None:
    """Skip the calling test without Chromium and its driver; fail instead in CI."""
    missing = missing_browser()
    if not missing:
        return
    reason = f"{MISSING} (missing: {', '.join(missing)})"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"CI must run the browser tests: {reason}", pytrace=False)
    pytest.skip(reason)


def start_chromium() -> WebDriver:
    """A headless Chromium with a 1400x1000 window whose console log can be read."""
    require_browser()
    return chromium()


def chromium(*extra_args: str) -> WebDriver:
    """Headless Debian Chromium (1400x1000, console log readable) with ``extra_args``,
    without checking that it is installed (``start_chromium`` does, for tests)."""
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        *extra_args,
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


def wait_until(
    predicate: Callable[[], T | None], timeout: float, what: str | Callable[[], str]
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Exceptions of the predicate count as "not yet" (the DOM may be re-rendering);
    the last one is named in the failure message with ``what`` was awaited (a
    callable ``what`` describes it at the time of the failure: the state seen).
    """
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            value = predicate()
        except (WebDriverException, AssertionError, LookupError, ValueError) as exc:
            value, last_error = None, f"; last error: {type(exc).__name__}: {exc}"
        if value:
            return value
        if time.monotonic() >= deadline:
            described = what() if callable(what) else what
            pytest.fail(f"timed out after {timeout:g} s waiting for {described}{last_error}")
        time.sleep(0.2)


def wait_for(driver: WebDriver, css: str, timeout: float = 15.0) -> WebElement:
    """The first element matching ``css``, once there is one."""

    def find() -> WebElement | None:
        found = driver.find_elements(By.CSS_SELECTOR, css)
        return found[0] if found else None

    return wait_until(find, timeout, f"an element matching {css!r} on {driver.current_url}")


def console_errors(driver: WebDriver) -> list[str]:
    """The SEVERE browser console entries since the last call (favicon 404s ignored)."""
    return [
        str(entry.get("message", ""))
        for entry in driver.get_log("browser")
        if entry.get("level") == "SEVERE" and "favicon.ico" not in str(entry.get("message", ""))
    ]
