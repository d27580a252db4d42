"""The live consent view under races a replica meets in production: a change announced while a
full reload is reading, and a re-read that fails once while the listener stays healthy."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from models.consent_record import StoredConsent
from proxy.consents.live import LiveConsents
from proxy.consents.postgres import PostgresConsentRecords
from proxy.metrics import Metrics
from rules.store import ConsentUnavailable
from tests.conftest import require_postgres
from tests.ledger_backends import POSTGRES_DSN
from tests.test_consent_store import SEALER, drop_schema, rules_file, setter


class ControlledRecords(PostgresConsentRecords):
    """A PostgreSQL store whose full reads can be held back after reading, and whose next
    single-customer read can be made to fail."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hold: asyncio.Event | None = None
        self.held = asyncio.Event()
        self.fail_next_get = False

    async def load_all(self) -> dict[str, StoredConsent]:
        rows = await super().load_all()
        if self.hold is not None:
            self.held.set()
            await self.hold.wait()
        return rows

    async def get(self, customer_id: str) -> StoredConsent | None:
        if self.fail_next_get:
            self.fail_next_get = False
            raise ConnectionResetError("connection reset while reading")
        return await super().get(customer_id)


@pytest.fixture()
async def schema() -> AsyncIterator[str]:
    require_postgres()
    name = f"consentry_test_{uuid.uuid4().hex[:16]}"
    yield name
    await drop_schema(name)


async def replica(tmp_path: Path, schema: str) -> LiveConsents:
    live = LiveConsents(
        rules_file(tmp_path),
        ControlledRecords(POSTGRES_DSN, SEALER, schema=schema, timeout_s=1.0),
        Metrics(),
        check_interval_s=0.1,
    )
    await live.start()
    return live


async def _until(condition: Any, timeout_s: float = 3.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.005)


async def test_a_change_heard_during_a_full_reload_is_not_undone_by_it(tmp_path: Path, schema: str) -> None:
    a = await replica(tmp_path, schema)
    b = await replica(tmp_path, schema)
    records_b: ControlledRecords = b.records  # type: ignore[assignment]
    try:
        assert str((await b.get("racer")).state) == "active"
        # b reloads everything (as after a reconnect); its read of the rows is taken, then held.
        records_b.hold = asyncio.Event()
        reload = asyncio.create_task(b._reload(force=True))
        await asyncio.wait_for(records_b.held.wait(), 3)
        # Meanwhile another replica withdraws consent; b hears it and re-reads the customer.
        update = await a.records.update("racer", setter({"state": "withdrawn"}), actor="x", action="withdraw")
        a.applied("racer", update.stored)
        await _until(lambda: "racer" in b.snapshot() and "racer" not in b._pending)
        # The reload now ends with rows read before the withdrawal.
        records_b.hold.set()
        await reload
        assert str((await b.get("racer")).state) == "withdrawn"
    finally:
        await a.close()
        await b.close()


async def test_a_failed_re_read_is_retried_while_the_listener_is_healthy(tmp_path: Path, schema: str) -> None:
    a = await replica(tmp_path, schema)
    b = await replica(tmp_path, schema)
    records_b: ControlledRecords = b.records  # type: ignore[assignment]
    try:
        records_b.fail_next_get = True
        update = await a.records.update("flaky", setter({"state": "withdrawn"}), actor="x", action="withdraw")
        a.applied("flaky", update.stored)
        await _until(lambda: "flaky" in b._dirty)
        with pytest.raises(ConsentUnavailable):
            await b.get("flaky")
        # The store answers again and the listener never failed: the customer is read again
        # within a few checks instead of being refused until the next reconnect.
        await asyncio.sleep(0.5)
        assert str((await b.get("flaky")).state) == "withdrawn"
    finally:
        await a.close()
        await b.close()
