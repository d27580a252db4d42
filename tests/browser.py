"""Headless Chromium for tests that drive a page: Debian's chromium through its chromedriver.

The browser gets a fresh profile per test and no network chatter of its own (no sync, no
component updates, no QUIC), so what it fetches is what the page under test asks for.
Without chromium the test skips, unless CONSENTRY_REQUIRE_BROWSER=1 (CI) makes that a failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 15.0

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def require_browser() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if not missing:
        return
    reason = f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver)"
    if os.environ.get("CONSENTRY_REQUIRE_BROWSER") == "1":
        pytest.fail(f"a browser is required (CONSENTRY_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(reason)


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """A headless Chromium WebDriver with its own profile in tmp_path; quit after the test."""
    require_browser()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:  # the test extra not installed: same policy as a missing browser
        if os.environ.get("CONSENTRY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"selenium is required (CONSENTRY_REQUIRE_BROWSER=1): {exc}")
        pytest.skip(f"selenium is not installed: {exc}")

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    options.add_argument(f"--user-data-dir={profile}")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(WAIT_S)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: WebDriver, condition: Callable[[WebDriver], object], what: str) -> object:
    """`condition(driver)` once truthy, within WAIT_S; the failure message says what was awaited."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S, poll_frequency=0.05).until(condition, message=f"waited for {what}")
