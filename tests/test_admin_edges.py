"""The admin listener in process (SQLite stores): answers the end-to-end tests do not reach -
refused and failing calls in the audit trail, exports cut mid-way."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from proxy.admin.app import build_admin_app
from proxy.admin.auth import AdminTokens
from proxy.admin.service import PrivacyService
from proxy.config import AdminConfig, AdminToken
from proxy.consents.live import LiveConsents
from proxy.consents.sealing import IdentifierSealer
from proxy.consents.sqlite import SqliteConsentRecords
from proxy.ledger.sqlite import SqliteLedger
from proxy.metrics import Metrics
from proxy.transform import Hasher
from rules.store import RulesFileConsentStore
from tests.ledger_backends import record

ADMIN_TOKEN = "admin-token-0123456789abcdefghij"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CONSENT = "/admin/v1/customers/{}/consent"


@dataclass
class Admin:
    client: TestClient
    service: PrivacyService
    ledger: SqliteLedger
    metrics: Metrics

    async def audit(self) -> list[dict[str, object]]:
        reply = await self.client.get("/admin/v1/audit", headers=ADMIN)
        return [orjson.loads(line) for line in (await reply.read()).splitlines()]


@pytest.fixture()
async def admin(tmp_path: Path) -> AsyncIterator[Admin]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: r1\n"
        "default: {providers: [openai], default_action: mask}\n"
        "customers:\n"
        "  filed:\n"
        "    models: {openai: [gpt-4o-mini]}\n"
        "    known_identifiers: {PERSON: [Ines Example]}\n"
    )
    metrics = Metrics()
    live = LiveConsents(
        RulesFileConsentStore(rules, frozenset({"openai"})),
        SqliteConsentRecords(tmp_path / "consentry.db", IdentifierSealer(b"k")),
        metrics,
    )
    ledger = SqliteLedger(tmp_path / "consentry.db", metrics)
    await ledger.start()
    await live.start()
    digest = hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest()
    tokens = AdminTokens(AdminConfig(tokens=(AdminToken("officer", "admin", digest),)))
    service = PrivacyService(live, ledger, Hasher(b"k"))
    client = TestClient(TestServer(build_admin_app(service, tokens, metrics, frozenset({"openai"}))))
    await client.start_server()
    yield Admin(client, service, ledger, metrics)
    await client.close()
    await live.close()
    await ledger.close()


async def test_refused_and_failed_changes_are_audit_events(admin: Admin) -> None:
    bad = await admin.client.put(CONSENT.format("c-9"), json={"state": "sleeping"}, headers=ADMIN)
    assert bad.status == 400
    conflict = await admin.client.put(
        CONSENT.format("c-9"), json={"state": "withdrawn"}, headers={**ADMIN, "If-Match": '"7"'}
    )
    assert conflict.status == 412
    unconfirmed = await admin.client.post("/admin/v1/customers/c-9/erase", json={}, headers=ADMIN)
    assert unconfirmed.status == 400
    outcomes = [(e["action"], e["outcome"]) for e in await admin.audit()]
    assert ("consent.replace", "invalid") in outcomes
    assert ("consent.replace", "conflict") in outcomes
    assert ("customer.erase", "invalid") in outcomes
    counted = admin.metrics.admin_requests.labels("consent.replace", "conflict")._value.get()
    assert counted == 1


async def test_removing_the_last_key_of_a_map_override_gives_the_file_back(admin: Admin) -> None:
    path = CONSENT.format("filed")
    for field, value in (
        ("models", {"openai": ["gpt-4o"]}),
        ("known_identifiers", {"EMAIL_ADDRESS": ["i@x.example"]}),
    ):
        added = await admin.client.patch(path, json={field: value}, headers=ADMIN)
        assert added.status == 200
        removed = await admin.client.patch(path, json={field: {k: None for k in value}}, headers=ADMIN)
        assert removed.status == 200
    view = await (await admin.client.get(path, headers=ADMIN)).json()
    # No override is left: the rules file's model restriction and identifiers apply again.
    assert view["stored"]["document"] == {}
    assert view["effective"]["models"] == {"openai": ["gpt-4o-mini"]}
    assert view["effective"]["known_identifier_counts"] == {"PERSON": 1}


async def test_an_erased_customer_is_not_left_in_the_database_files(admin: Admin, tmp_path: Path) -> None:
    customer = "gone-customer-4711"
    for n in range(30):
        admin.ledger.submit(record(n, customer=customer))
    assert await admin.ledger.flush()
    stored = await admin.client.put(
        CONSENT.format(customer), json={"state": "restricted", "providers": ["openai"]}, headers=ADMIN
    )
    assert stored.status == 200
    erased = await admin.client.post(
        f"/admin/v1/customers/{customer}/erase", json={"confirm": customer}, headers=ADMIN
    )
    assert erased.status == 200 and (await erased.json())["erased"]["sharing_records"] == 30
    # Read while the proxy runs, as a backup or a copied volume would be: neither the database
    # nor its write-ahead log still holds the deleted rows.
    leftovers = [p.name for p in tmp_path.glob("consentry.db*") if customer.encode() in p.read_bytes()]
    assert leftovers == []


async def test_no_summary_or_export_while_records_wait_unwritten(admin: Admin, tmp_path: Path) -> None:
    import sqlite3

    def rename(old: str, new: str) -> None:
        with sqlite3.connect(tmp_path / "consentry.db") as conn:
            conn.execute(f"ALTER TABLE {old} RENAME TO {new}")

    rename("sharing_records", "sharing_records_away")
    admin.ledger.submit(record(1, customer="c-behind"))
    summary = await admin.client.get("/admin/v1/customers/c-behind/records/summary", headers=ADMIN)
    assert summary.status == 503 and (await summary.json())["error"]["code"] == "store_unavailable"
    export = await admin.client.get("/admin/v1/customers/c-behind/records", headers=ADMIN)
    assert export.status == 503
    rename("sharing_records_away", "sharing_records")
    summary = await admin.client.get("/admin/v1/customers/c-behind/records/summary", headers=ADMIN)
    assert summary.status == 200 and (await summary.json())["total"] == 1
