"""Without chromium the browser tests skip, unless CI demands the browser (then they fail)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import browser


def test_missing_browser_skips_with_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CONSENTRY_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-chromium not installed"):
        browser.require_browser()


def test_missing_browser_fails_when_required(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(browser, "CHROMEDRIVER", tmp_path / "no-chromedriver")
    monkeypatch.setenv("CONSENTRY_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="CONSENTRY_REQUIRE_BROWSER=1"):
        browser.require_browser()


def test_present_browser_neither_skips_nor_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("chromium", "chromedriver"):
        (tmp_path / name).touch()
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.setattr(browser, "CHROMEDRIVER", tmp_path / "chromedriver")
    monkeypatch.setenv("CONSENTRY_REQUIRE_BROWSER", "1")
    browser.require_browser()
