"""The privacy console in a real headless Chromium, against a real proxy and its admin listener.

Staff sign in with a bearer token, look a customer up and withdraw consent; the official openai
SDK is then refused for that customer and the fake upstream sees nothing. Readers get the actions
disabled, a wrong token gets a visible error, the chart draws one group of bars per month.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai
import pytest

from models.sharing import EntityTally, SharingRecord
from tests.admin_client import ADMIN_SETTINGS, ADMIN_TOKEN, READER_TOKEN, AdminClient
from tests.browser import WAIT_S, browser, wait_until
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness, free_port
from tests.fakes.server import BackgroundServer, Recorder

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

__all__ = ["browser"]  # the fixture, imported so pytest finds it here

PROMPT = "Please write to Jane Doe at jane.doe@example.com about the invoice."


@dataclass
class ConsoleProxy:
    proxy: ProxyHarness
    admin: AdminClient  # the API itself, answers checked against its OpenAPI document

    @property
    def console_url(self) -> str:
        return self.proxy.admin_url + "/admin/"

    def api(self, path: str) -> Any:
        """GET an admin API path directly, for what the page shows to be checked against."""
        reply = self.admin.get("/admin/v1/" + path)
        assert reply.status_code == 200, reply.text
        return reply.json()


@pytest.fixture(scope="module")
def console(make_proxy: ProxyFactory, openai_upstream: BackgroundServer) -> Iterator[ConsoleProxy]:
    proxy = make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        extra={"admin": {**ADMIN_SETTINGS, "port": free_port()}},
    )
    admin = AdminClient(proxy.admin_url)
    yield ConsoleProxy(proxy, admin)
    admin.close()


@pytest.fixture()
def upstream(openai_recorder: Recorder) -> Iterator[Recorder]:
    openai_recorder.clear()
    yield openai_recorder


def sdk(console: ConsoleProxy, customer: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{console.proxy.url}/c/{customer}/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=30
    )


def chat(console: ConsoleProxy, customer: str) -> Any:
    return sdk(console, customer).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}]
    )


def chats(console: ConsoleProxy, customer: str, count: int) -> None:
    """`count` forwarded requests, their records written before the page asks the API about them
    (the ledger writes in batches; flushing here keeps the page from racing the writer)."""
    for _ in range(count):
        chat(console, customer)
    assert len(console.proxy.records(customer)) == count


# ---- driving the page ------------------------------------------------------------------------


def by_id(driver: WebDriver, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def all_css(driver: WebDriver, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def settled(driver: WebDriver) -> None:
    """Wait until the page has no user action running (body[data-busy] is "0")."""
    wait_until(
        driver,
        lambda d: d.execute_script(
            "return document.body.dataset.ready === 'true' && document.body.dataset.busy === '0'"
        ),
        "the console to finish what it was doing",
    )


def open_console(driver: WebDriver, console: ConsoleProxy) -> None:
    driver.get(console.console_url)
    settled(driver)


def page_errors(driver: WebDriver) -> list[str]:
    """Script errors and Content-Security-Policy violations the page caused; refused API calls
    (a 401 the page then shows) are the API's answer, not a page error."""
    return [
        str(entry["message"])
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and entry.get("source") != "network"
    ]


def sign_in(driver: WebDriver, token: str) -> None:
    field = by_id(driver, "token-input")
    field.clear()
    field.send_keys(token)
    by_id(driver, "login-button").click()
    settled(driver)


def look_up(driver: WebDriver, customer: str) -> None:
    field = by_id(driver, "customer-input")
    field.clear()
    field.send_keys(customer)
    by_id(driver, "lookup-button").click()
    settled(driver)
    assert by_id(driver, "customer-id").text == customer


def message(driver: WebDriver) -> str:
    box = by_id(driver, "message")
    return str(box.text) if box.is_displayed() else ""


def history_rows(driver: WebDriver) -> list[Any]:
    return all_css(driver, "#history-body [data-testid=history-row]")


def consent_action(driver: WebDriver, action: str, *, confirm: bool) -> None:
    by_id(driver, f"action-{action}").click()
    wait_until(driver, lambda d: by_id(d, "confirm-dialog").is_displayed(), "the confirmation dialog")
    assert by_id(driver, "customer-id").text in by_id(driver, "confirm-text").text
    by_id(driver, "confirm-yes" if confirm else "confirm-no").click()
    settled(driver)
    assert not by_id(driver, "confirm-dialog").is_displayed()


def downloaded(folder: Path, suffix: str) -> Path:
    """The one file ending in `suffix` that Chromium finished saving into `folder`.

    Chromium may reserve the final name (an empty file) while the data still goes to a
    .crdownload file, so a file is done only when it has bytes and no .crdownload is left."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        files = list(folder.glob("*" + suffix))
        if len(files) == 1 and files[0].stat().st_size > 0 and not list(folder.glob("*.crdownload")):
            return files[0]
        time.sleep(0.05)
    present = sorted(path.name for path in folder.iterdir())
    raise AssertionError(f"no finished {suffix} download in {folder}: {present}")


# ---- tests -----------------------------------------------------------------------------------


def test_withdraw_in_console_then_proxy_refuses_customer(
    browser: WebDriver, console: ConsoleProxy, upstream: Recorder
) -> None:
    customer = "cust-console-withdraw"
    chat(console, customer)  # active by default: forwarded
    assert len(upstream.requests) == 1
    upstream.clear()

    open_console(browser, console)
    sign_in(browser, ADMIN_TOKEN)
    assert "admin" in by_id(browser, "whoami").text
    look_up(browser, customer)
    assert by_id(browser, "consent-state").text.lower() == "active"
    assert history_rows(browser) == []

    # cancelling the confirmation changes nothing, in the page or in the store
    consent_action(browser, "withdraw", confirm=False)
    assert by_id(browser, "consent-state").text.lower() == "active"
    assert console.api(f"customers/{customer}/consent")["effective"]["state"] == "active"

    consent_action(browser, "withdraw", confirm=True)
    assert message(browser) and "error" not in message(browser).lower()
    state = by_id(browser, "consent-state")
    assert state.text.lower() == "withdrawn" and state.get_attribute("data-state") == "withdrawn"
    assert by_id(browser, "consent-source").get_attribute("data-source") == "store"
    rows = history_rows(browser)
    assert len(rows) == 1 and rows[0].get_attribute("data-action") == "withdraw"
    assert "withdrawn" in rows[0].text
    assert console.api(f"customers/{customer}/consent")["effective"]["state"] == "withdrawn"

    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(console, customer)
    assert caught.value.status_code == 403
    error = caught.value.response.json()["error"]
    assert error["code"] == "consent_withdrawn"
    assert upstream.requests == [], "a withdrawn customer's request must not reach the provider"
    assert page_errors(browser) == []


def test_reader_sees_actions_disabled(browser: WebDriver, console: ConsoleProxy, upstream: Recorder) -> None:
    customer = "cust-console-reader"
    chats(console, customer, 1)
    open_console(browser, console)
    sign_in(browser, READER_TOKEN)
    assert "reader" in by_id(browser, "whoami").text
    look_up(browser, customer)
    assert by_id(browser, "consent-state").text.lower() == "active"
    actions = all_css(browser, "button[data-action], #erase-start")
    assert len(actions) == 5
    assert [b.get_attribute("id") for b in actions if b.is_enabled()] == []
    # reading stays possible: exports are GETs
    assert by_id(browser, "export-jsonl").is_enabled() and by_id(browser, "export-csv").is_enabled()
    assert by_id(browser, "summary-total").text == "1"


def test_wrong_token_shows_error_and_stays_signed_out(browser: WebDriver, console: ConsoleProxy) -> None:
    open_console(browser, console)
    sign_in(browser, "not-a-token-anyone-issued")
    shown = message(browser)
    assert "401" in shown, shown
    assert by_id(browser, "login-section").is_displayed()
    assert not by_id(browser, "app-section").is_displayed()
    assert browser.execute_script("return window.sessionStorage.length") == 0


def test_chart_draws_one_group_per_month(
    browser: WebDriver, console: ConsoleProxy, upstream: Recorder
) -> None:
    customer = "cust-console-chart"
    chats(console, customer, 3)
    # two earlier months, written to the ledger the way the pipeline writes records
    ledger = console.proxy.pipeline.ledger
    for index, stamp in enumerate(("2026-01-15T10:00:00Z", "2026-03-02T08:30:00Z", "2026-03-20T17:45:00Z")):
        ledger.submit(
            SharingRecord(
                request_id=f"console-chart-{index}",
                timestamp=stamp,
                customer_id=customer,
                app="backend",
                provider="openai",
                operation="chat",
                model="gpt-4o-mini",
                decision="forwarded",
                reason="",
                entities={"PERSON": EntityTally(1, "mask")},
                consent_version="test-1",
            )
        )
    assert console.proxy.server.call(ledger.flush())
    by_month = console.api(f"customers/{customer}/records/summary")["by_month"]
    this_month = datetime.now(UTC).strftime("%Y-%m")
    assert set(by_month) == {"2026-01", "2026-03", this_month}

    open_console(browser, console)
    sign_in(browser, ADMIN_TOKEN)
    look_up(browser, customer)
    groups = all_css(browser, "#chart svg g.bar-group")
    assert [g.get_attribute("data-month") for g in groups] == sorted(by_month)
    for group in groups:
        month = group.get_attribute("data-month")
        bars = {
            b.get_attribute("data-provider"): int(b.get_attribute("data-count"))
            for b in group.find_elements("css selector", "rect.bar")
        }
        assert bars == {p: n for p, n in by_month[month].items()}, month
        assert month in group.text  # the x-axis label
    assert by_id(browser, "summary-total").text == "6"

    # the "since" date narrows the summary and the chart (set as a value: typing into a date
    # input depends on the browser's locale)
    browser.execute_script("document.getElementById('since-input').value = '2026-02-01'")
    look_up(browser, customer)
    groups = all_css(browser, "#chart svg g.bar-group")
    assert [g.get_attribute("data-month") for g in groups] == sorted({"2026-03", this_month})
    assert by_id(browser, "summary-total").text == "5"
    assert page_errors(browser) == []


def test_export_and_erase_with_confirmation(
    browser: WebDriver, console: ConsoleProxy, upstream: Recorder, tmp_path: Path
) -> None:
    customer = "cust-console-erase"
    chats(console, customer, 2)
    open_console(browser, console)
    sign_in(browser, ADMIN_TOKEN)
    look_up(browser, customer)

    by_id(browser, "export-jsonl").click()
    settled(browser)
    exported = downloaded(tmp_path / "downloads", ".jsonl")
    lines = [json.loads(line) for line in exported.read_text().splitlines() if line]
    assert len(lines) == 2 and {line["customer_id"] for line in lines} == {customer}

    by_id(browser, "erase-start").click()
    by_id(browser, "erase-confirm-input").send_keys(customer[:-1])
    assert not by_id(browser, "erase-confirm").is_enabled(), "a mistyped id must not arm the erase button"
    by_id(browser, "erase-confirm-input").send_keys(customer[-1])
    by_id(browser, "erase-confirm").click()
    settled(browser)
    result = by_id(browser, "erase-result")
    assert result.is_displayed()
    assert result.find_element("css selector", '[data-field="Sharing records"]').text == "2"
    assert by_id(browser, "summary-total").text == "0"
    assert console.proxy.records(customer) == []
    # erased means forgotten: the next request is decided by the default policy again
    upstream.clear()
    chat(console, customer)
    assert len(upstream.requests) == 1
