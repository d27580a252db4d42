"""Consent record stores (SQLite and PostgreSQL) and the live view every replica keeps: versions
and history, sealed identifiers, erasure, audit pages, and with PostgreSQL several replicas that
hear each other's changes at once and catch up after losing their database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from models.consent_record import AuditEvent
from proxy.consents.live import LiveConsents
from proxy.consents.postgres import PostgresConsentRecords
from proxy.consents.records import ConsentRecords, VersionConflict
from proxy.consents.sealing import IdentifierSealer, SealError
from proxy.consents.sqlite import SqliteConsentRecords
from proxy.metrics import Metrics
from rules.loader import RulesError
from rules.store import ConsentUnavailable, RulesFileConsentStore
from rules.stored import merge_patch, validate_document
from tests.conftest import require_postgres
from tests.fakes.tcp_relay import CuttableRelay
from tests.ledger_backends import POSTGRES_DSN, drop_schema, unique_schema

SEALER = IdentifierSealer(b"test-hash-key")


def rules_file(tmp_path: Path) -> RulesFileConsentStore:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: r1\n"
        "default: {providers: [openai, azure], default_action: mask}\n"
        "customers:\n  filed: {providers: [azure], actions: {PERSON: redact}}\n"
    )
    return RulesFileConsentStore(path)



@pytest.fixture(params=["sqlite", "postgres"])
async def records(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ConsentRecords]:
    if request.param == "postgres":
        require_postgres()
        schema = unique_schema()
        store: ConsentRecords = PostgresConsentRecords(POSTGRES_DSN, SEALER, schema=schema)
    else:
        store = SqliteConsentRecords(tmp_path / "consent.db", SEALER)
    await store.start()
    yield store
    await store.close()
    if request.param == "postgres":
        await drop_schema(schema)


def setter(document: dict[str, Any]) -> Any:
    return lambda _current: document


async def test_versions_history_and_conflicts(records: ConsentRecords) -> None:
    assert await records.get("c1") is None
    first = await records.update("c1", setter({"state": "withdrawn"}), actor="alice", action="withdraw")
    assert first.stored is not None and first.stored.version == 1
    assert first.change is not None and first.change.changes == {"state": {"from": None, "to": "withdrawn"}}
    # The same document again changes nothing: no new version, no history entry.
    same = await records.update("c1", setter({"state": "withdrawn"}), actor="bob", action="withdraw")
    assert same.change is None and same.stored is not None and same.stored.version == 1
    with pytest.raises(VersionConflict) as conflict:
        await records.update("c1", setter({}), actor="bob", action="set", expected_version=0)
    assert conflict.value.current == 1
    second = await records.update(
        "c1",
        lambda cur: merge_patch(cur or {}, {"state": "active"}),
        actor="bob",
        action="patch",
        expected_version=1,
    )
    assert second.stored is not None and second.stored.version == 2
    history = await records.history("c1")
    assert [(h.version, h.actor, h.action) for h in history] == [
        (2, "bob", "patch"),
        (1, "alice", "withdraw"),
    ]
    moved = await records.generation()
    await records.update("c1", setter({"state": "objected"}), actor="bob", action="objected")
    assert await records.generation() != moved
    assert set(await records.load_all()) == {"c1"}


async def test_concurrent_writers_never_lose_a_change(records: ConsentRecords) -> None:
    async def bump(n: int) -> None:
        def change(current: Any) -> dict[str, Any]:
            thresholds = dict((current or {}).get("thresholds") or {})
            thresholds[f"T{n}"] = 0.5
            return {**(current or {}), "thresholds": thresholds}

        await records.update("busy", change, actor=f"w{n}", action="patch")

    await asyncio.gather(*(bump(n) for n in range(12)))
    stored = await records.get("busy")
    assert stored is not None and stored.version == 12
    assert len(stored.document["thresholds"]) == 12


async def test_identifiers_sealed_and_erasure(records: ConsentRecords) -> None:
    document = {"known_identifiers": {"PERSON": ["Odalys Fenwright"], "ACCOUNT_NAME": ["ofw-22", "ofw-23"]}}
    await records.update("c2", setter(document), actor="alice", action="set")
    stored = await records.get("c2")
    assert stored is not None and stored.document["known_identifiers"]["PERSON"] == ["Odalys Fenwright"]
    history = await records.history("c2")
    assert history[0].changes == {
        "known_identifier_counts": {"from": None, "to": {"ACCOUNT_NAME": 2, "PERSON": 1}}
    }
    erased = await records.erase("c2")
    assert (erased.consent_record, erased.history_entries, erased.known_identifiers) == (True, 1, 3)
    assert await records.get("c2") is None and await records.history("c2") == []
    nothing = await records.erase("c2")
    assert (nothing.consent_record, nothing.history_entries, nothing.known_identifiers) == (False, 0, 0)


async def test_audit_pages(records: ConsentRecords) -> None:
    for n in range(25):
        await records.append_audit(AuditEvent(f"2026-01-01T00:00:{n:02d}.000+00:00", "a", "admin", "x", "ok"))
    events = [e async for e in records.iter_audit(page_size=7)]
    assert len(events) == 25 and events[0].at < events[-1].at


def test_sealed_blob_is_bound_to_customer_version_and_key() -> None:
    sealed = SEALER.seal({"PERSON": ["A B"]}, "c1", 3)
    assert SEALER.open(sealed, "c1", 3) == {"PERSON": ["A B"]}
    with pytest.raises(SealError):
        SEALER.open(sealed, "c2", 3)
    with pytest.raises(SealError):
        SEALER.open(sealed, "c1", 4)
    with pytest.raises(SealError):
        IdentifierSealer(b"another-key").open(sealed, "c1", 3)


def test_documents_are_validated_against_the_rules(tmp_path: Path) -> None:
    rules = rules_file(tmp_path).rules
    assert validate_document({"state": "objected", "providers": None}, rules, "c") == {"state": "objected"}
    for bad in ({"providers": ["nope"]}, {"state": "gone"}, {"default_threshold": -1}, {"x": 1}):
        with pytest.raises(RulesError):
            validate_document(bad, rules, "c")


async def test_stored_consent_layers_over_the_rules_file(tmp_path: Path) -> None:
    rules = rules_file(tmp_path)
    live = LiveConsents(rules, SqliteConsentRecords(tmp_path / "c.db", SEALER), Metrics())
    await live.start()
    try:
        filed = await live.get("filed")
        assert filed.providers == frozenset({"azure"}) and str(filed.actions["PERSON"]) == "redact"
        update = await live.records.update(
            "filed", setter({"actions": {"EMAIL_ADDRESS": "hash"}}), actor="a", action="set"
        )
        live.applied("filed", update.stored)
        layered = await live.get("filed")
        # The file's entry stays in force where the stored consent says nothing.
        assert layered.providers == frozenset({"azure"})
        assert {k: str(v) for k, v in layered.actions.items()} == {
            "PERSON": "redact",
            "EMAIL_ADDRESS": "hash",
        }
        assert layered.version.startswith("r1+c1:") and layered.version != filed.version
    finally:
        await live.close()


async def test_sqlite_sees_another_process_write(tmp_path: Path) -> None:
    """The CLI writes the same file from another process: the proxy sees it within its check."""
    live = LiveConsents(
        rules_file(tmp_path),
        SqliteConsentRecords(tmp_path / "c.db", SEALER),
        Metrics(),
        check_interval_s=0.05,
    )
    await live.start()
    other = SqliteConsentRecords(tmp_path / "c.db", SEALER)
    await other.start()
    try:
        await other.update("cx", setter({"state": "withdrawn"}), actor="cli:root", action="withdraw")
        for _ in range(100):
            if str((await live.get("cx")).state) == "withdrawn":
                break
            await asyncio.sleep(0.02)
        assert str((await live.get("cx")).state) == "withdrawn"
    finally:
        await other.close()
        await live.close()


# -- several replicas on one PostgreSQL -------------------------------------------------------------


@pytest.fixture()
async def schema() -> AsyncIterator[str]:
    require_postgres()
    name = unique_schema()
    yield name
    await drop_schema(name)


async def replica(tmp_path: Path, dsn: str, schema: str, **options: Any) -> LiveConsents:
    live = LiveConsents(
        rules_file(tmp_path),
        PostgresConsentRecords(dsn, SEALER, schema=schema, timeout_s=1.0),
        Metrics(),
        check_interval_s=0.1,
        **options,
    )
    await live.start()
    return live


async def test_a_change_on_one_replica_reaches_the_other_at_once(tmp_path: Path, schema: str) -> None:
    a = await replica(tmp_path, POSTGRES_DSN, schema)
    b = await replica(tmp_path, POSTGRES_DSN, schema)
    try:
        assert str((await b.get("shared")).state) == "active"
        update = await a.records.update(
            "shared", setter({"state": "withdrawn"}), actor="x", action="withdraw"
        )
        a.applied("shared", update.stored)
        # No polling: the NOTIFY arrives within milliseconds of the commit.
        for _ in range(50):
            if "shared" in b.snapshot() or "shared" in b._pending:
                break
            await asyncio.sleep(0.002)
        assert str((await b.get("shared")).state) == "withdrawn"
        erased = await a.records.erase("shared")
        a.applied("shared", None)
        assert erased.consent_record
        for _ in range(50):
            if "shared" not in b.snapshot():
                break
            await asyncio.sleep(0.002)
        assert str((await b.get("shared")).state) == "active"
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize("policy", ["serve", "refuse"])
async def test_a_replica_that_lost_its_database_catches_up_before_serving(
    tmp_path: Path, schema: str, policy: str
) -> None:
    relay = CuttableRelay("127.0.0.1", 5432)
    await relay.start()
    a = await replica(tmp_path, POSTGRES_DSN, schema)
    b = await replica(tmp_path, relay.dsn(), schema, store_outage=policy)
    try:
        assert b.synced
        await a.records.update("kept", setter({"state": "restricted"}), actor="x", action="restrict")
        for _ in range(100):
            if "kept" in b.snapshot():
                break
            await asyncio.sleep(0.01)
        relay.cut()
        for _ in range(100):
            if not b.synced:
                break
            await asyncio.sleep(0.02)
        assert not b.synced
        # Changed while b cannot hear it.
        await a.records.update("missed", setter({"state": "withdrawn"}), actor="x", action="withdraw")
        if policy == "serve":
            assert str((await b.get("kept")).state) == "restricted"  # the consents last read
            assert b.serving
        else:
            with pytest.raises(ConsentUnavailable):
                await b.get("kept")
            assert not b.serving
        relay.restore()
        for _ in range(200):
            if b.synced:
                break
            await asyncio.sleep(0.02)
        assert b.synced
        assert str((await b.get("missed")).state) == "withdrawn"
    finally:
        await a.close()
        await b.close()
        await relay.close()


async def test_serving_stale_consents_ends_after_max_stale(tmp_path: Path, schema: str) -> None:
    relay = CuttableRelay("127.0.0.1", 5432)
    await relay.start()
    b = await replica(tmp_path, relay.dsn(), schema, store_outage="serve", max_stale_s=0.3)
    try:
        relay.cut()
        for _ in range(100):
            if not b.synced:
                break
            await asyncio.sleep(0.02)
        await b.get("anyone")
        await asyncio.sleep(0.35)
        with pytest.raises(ConsentUnavailable):
            await b.get("anyone")
    finally:
        await b.close()
        await relay.close()


async def test_a_replica_that_never_read_the_store_refuses(tmp_path: Path, schema: str) -> None:
    relay = CuttableRelay("127.0.0.1", 5432)
    await relay.start()
    relay.cut()
    b = await replica(tmp_path, relay.dsn(), schema, store_outage="serve")
    try:
        with pytest.raises(ConsentUnavailable):
            await b.get("anyone")
        relay.restore()
        for _ in range(200):
            if b.synced:
                break
            await asyncio.sleep(0.02)
        assert str((await b.get("anyone")).state) == "active"
    finally:
        await b.close()
        await relay.close()
