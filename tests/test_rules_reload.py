"""Consent changes apply without a restart: the rules file is watched and reloaded; a bad new file
is reported and the rules in force stay. Consents are built once per load, not per request."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from models.consent import ProcessingState
from rules import loader
from rules.loader import DEFAULT_CUSTOMER, parse_rules
from rules.store import RulesFileConsentStore

RULES: dict[str, Any] = {
    "version": "v1",
    "default": {"providers": ["openai"]},
    "customers": {"acme": {"known_identifiers": {"PERSON": ["Qwyn Vortigaunt"]}}},
}


def write(path: Path, document: Any) -> None:
    path.write_text(yaml.safe_dump(document) if not isinstance(document, str) else document)


def withdrawn(version: str = "v2") -> dict[str, Any]:
    return {**RULES, "version": version, "customers": {"acme": {"state": "withdrawn"}}}


@pytest.fixture()
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    write(path, RULES)
    return path


async def until(predicate: Any, timeout_s: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"not within {timeout_s}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - started


def test_a_withdrawal_applies_within_two_seconds(rules_file: Path) -> None:
    store = RulesFileConsentStore(rules_file)

    async def scenario() -> float:
        assert (await store.get("acme")).state is ProcessingState.ACTIVE
        watcher = asyncio.create_task(store.watch())  # the default one-second poll
        try:
            await asyncio.sleep(0.1)
            write(rules_file, withdrawn())
            return await until(lambda: store.rules.version == "v2", 2.5)
        finally:
            watcher.cancel()

    took = asyncio.run(scenario())
    assert took < 2.0
    assert asyncio.run(store.get("acme")).state is ProcessingState.WITHDRAWN


def test_a_replaced_file_is_picked_up(rules_file: Path) -> None:
    store = RulesFileConsentStore(rules_file)
    replacement = rules_file.with_name("rules.yaml.new")
    write(replacement, withdrawn())
    os.replace(replacement, rules_file)  # how editors and config-map updates swap files

    async def scenario() -> None:
        watcher = asyncio.create_task(store.watch(0.05))
        try:
            await until(lambda: store.rules.version == "v2", 2)
        finally:
            watcher.cancel()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "bad",
    ["version: [unclosed\n", {"customers": {"acme": {"state": "deleted"}}}, "- a list\n", ""],
    ids=["not-yaml", "invalid-rule", "not-a-mapping", "empty"],
)
def test_a_bad_file_is_reported_once_and_the_old_rules_stay(
    rules_file: Path, bad: Any, caplog: pytest.LogCaptureFixture
) -> None:
    store = RulesFileConsentStore(rules_file)

    async def scenario() -> None:
        watcher = asyncio.create_task(store.watch(0.05))
        try:
            await asyncio.sleep(0.1)
            write(rules_file, bad)
            await asyncio.sleep(0.5)
            assert not watcher.done(), "the watcher must survive a bad file"
            assert store.rules.version == "v1"
            assert (await store.get("acme")).known_identifiers  # not the bundled default either
            # Fixed again: applied.
            write(rules_file, withdrawn("v3"))
            await until(lambda: store.rules.version == "v3", 2)
        finally:
            watcher.cancel()

    with caplog.at_level(logging.ERROR, logger="consentry.rules"):
        asyncio.run(scenario())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, "a bad file is reported once, not on every poll"
    assert "Qwyn" not in caplog.text


def test_a_missing_file_keeps_the_rules(rules_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = RulesFileConsentStore(rules_file)

    async def scenario() -> None:
        watcher = asyncio.create_task(store.watch(0.05))
        try:
            rules_file.unlink()
            await asyncio.sleep(0.3)
            assert not watcher.done()
            assert store.rules.version == "v1"
        finally:
            watcher.cancel()

    with caplog.at_level(logging.ERROR, logger="consentry.rules"):
        asyncio.run(scenario())
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1
    assert store.reload() is False
    assert store.rules.version == "v1"


def test_reload_for_a_signal_handler(rules_file: Path) -> None:
    store = RulesFileConsentStore(rules_file)
    write(rules_file, withdrawn())
    assert store.reload() is True
    assert asyncio.run(store.get("acme")).state is ProcessingState.WITHDRAWN
    write(rules_file, "version: [unclosed\n")
    assert store.reload() is False  # logged, never raised
    assert store.rules.version == "v2"


def test_a_file_that_changes_while_it_is_read_is_read_again(
    rules_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from rules import store as store_module

    store = RulesFileConsentStore(rules_file)
    write(rules_file, withdrawn())
    real = store_module.load_rules

    def load_while_written(path: Any, *args: Any) -> Any:
        loaded = real(path, *args)
        with rules_file.open("a") as fh:  # the writer is not done yet
            fh.write("# more to come\n")
        return loaded

    monkeypatch.setattr(store_module, "load_rules", load_while_written)
    with caplog.at_level(logging.ERROR, logger="consentry.rules"):
        assert store.reload() is False
    assert store.rules.version == "v1" and not caplog.records  # not an error: just not yet
    monkeypatch.setattr(store_module, "load_rules", real)
    assert store.reload() is True
    assert store.rules.version == "v2"


def test_a_bad_file_at_start_up_still_refuses_to_start(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    write(path, {"customers": {"acme": {"state": "deleted"}}})
    with pytest.raises(loader.RulesError):
        RulesFileConsentStore(path)


def test_consents_are_built_once_per_load(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    real = loader._build_consent

    def counting(customer_id: str, *args: Any) -> Any:
        built.append(customer_id)
        return real(customer_id, *args)

    monkeypatch.setattr(loader, "_build_consent", counting)
    rules = parse_rules(RULES)
    assert sorted(built) == [DEFAULT_CUSTOMER, "acme"]
    for _ in range(3):
        assert rules.consent_for("acme") is rules.consent_for("acme")
        unknown, another = rules.consent_for("someone-else"), rules.consent_for("another")
        # One default policy for every unknown customer, under each customer's own id.
        assert unknown.version == another.version and unknown.providers == another.providers
        assert (unknown.customer_id, another.customer_id) == ("someone-else", "another")
        assert not unknown.known_customer
    assert len(built) == 2
