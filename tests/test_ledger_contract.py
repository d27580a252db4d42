"""The ledger contract, run against every backend: SQLite always, PostgreSQL when it answers on
127.0.0.1:5432 (required with CONSENTRY_REQUIRE_POSTGRES=1). Plus the shared batching writer's own
guarantees, tested with an in-memory store."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from models.sharing import EntityTally, SharingRecord
from proxy.ledger.base import BatchingLedger
from proxy.metrics import Metrics
from tests.conftest import require_postgres
from tests.ledger_backends import Store, postgres_store, record, sqlite_store

# The writer loop never runs on its own in tests that flush by hand.
MANUAL = 3600.0


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "postgres":
        require_postgres()
        async with postgres_store() as pg:
            yield pg
    else:
        async with sqlite_store(tmp_path) as lite:
            yield lite


async def test_round_trip_with_entity_tallies(store: Store) -> None:
    ledger = store.ledger(flush_interval_s=MANUAL)
    await ledger.start()
    try:
        a1 = record(1)
        a2 = record(
            2, entities={}, upstream_status=None, upstream_latency_ms=None, reason="consent_withdrawn"
        )
        b1 = record(3, customer="cust-b", timestamp="2026-01-02T03:04:05.123456+00:00")
        for r in (a2, b1, a1):
            ledger.submit(r)
        assert store.metric("consentry_ledger_queue_depth") == 3
        assert await ledger.flush()

        assert await ledger.get("req-0001") == a1
        assert await ledger.get("req-0002") == a2
        assert await ledger.get("req-0003") == b1
        assert await ledger.get("req-9999") is None
        assert await ledger.for_customer("cust-a") == [a1, a2]  # oldest first
        assert await ledger.for_customer("cust-b") == [b1]
        assert await ledger.for_customer("nobody") == []
        fetched = await ledger.get("req-0001")
        assert fetched is not None and fetched.entities["PERSON"] == EntityTally(2, "mask")
        assert store.metric("consentry_ledger_records_written_total") == 3
        assert store.metric("consentry_ledger_queue_depth") == 0
    finally:
        await ledger.close()


async def test_resubmitting_a_request_id_keeps_the_first_record(store: Store) -> None:
    ledger = store.ledger(flush_interval_s=MANUAL)
    await ledger.start()
    try:
        first = record(7)
        ledger.submit(first)
        ledger.submit(record(7, decision="blocked"))  # the same id twice in one batch
        assert await ledger.flush()
        ledger.submit(record(7, model="other"))  # and again in a later one
        assert await ledger.flush()
        assert await ledger.for_customer("cust-a") == [first]
    finally:
        await ledger.close()


async def test_writable_only_while_open(store: Store) -> None:
    ledger = store.ledger()
    assert not await ledger.writable()
    await ledger.start()
    assert await ledger.writable()
    await ledger.close()
    assert not await ledger.writable()


async def test_close_flushes_what_is_queued(store: Store) -> None:
    ledger = store.ledger(flush_interval_s=MANUAL)
    await ledger.start()
    records = [record(n) for n in range(5)]
    for r in records:
        ledger.submit(r)
    await ledger.close()

    reopened = store.ledger()
    await reopened.start()
    try:
        assert await reopened.for_customer("cust-a") == records
    finally:
        await reopened.close()


async def test_writer_writes_in_the_background(store: Store) -> None:
    ledger = store.ledger(flush_interval_s=0.01)
    await ledger.start()
    try:
        ledger.submit(record(1))
        await wait_for(lambda: store.metric("consentry_ledger_records_written_total") == 1)
        assert await ledger.get("req-0001") == record(1)
    finally:
        await ledger.close()


async def test_failing_store_keeps_records_within_the_bound(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="consentry.ledger")
    ledger = store.ledger(flush_interval_s=MANUAL, batch_size=2, max_queued=5)
    await ledger.start()
    try:
        await store.break_()
        # The probe writes into the records table: a missing table fails it on every backend.
        assert not await ledger.writable()
        assert not ledger.healthy
        records = [record(n, customer=f"cust-secret-{n}") for n in range(1, 9)]
        for r in records:
            ledger.submit(r)
        # Eight submitted, five kept: the three oldest are dropped and counted.
        assert ledger.queued == 5
        assert store.metric("consentry_ledger_dropped_total") == 3

        assert not await ledger.flush()
        assert store.metric("consentry_ledger_write_errors_total") == 1
        assert store.metric("consentry_ledger_records_written_total") == 0
        assert ledger.queued == 5  # the failed batch went back in
        ledger.submit(record(9, customer="cust-secret-8"))
        assert ledger.queued == 5
        assert store.metric("consentry_ledger_dropped_total") == 4
        assert store.metric("consentry_ledger_queue_depth") == 5

        await store.repair()
        assert await ledger.writable()
        assert await ledger.flush()
        kept = [r.request_id for c in range(1, 9) for r in await ledger.for_customer(f"cust-secret-{c}")]
        assert kept == ["req-0005", "req-0006", "req-0007", "req-0008", "req-0009"]
        assert store.metric("consentry_ledger_queue_depth") == 0
    finally:
        await ledger.close()
    # The first drop is logged at once; more within the next seconds are summed into a later line.
    assert caplog.text.count("ledger queue full (5 records): dropped") == 1
    assert "kept for retry" in caplog.text
    # Logs say how many and why, never what: no customer id, model or request id.
    assert "cust-secret" not in caplog.text
    assert "gpt-4o" not in caplog.text
    assert "req-000" not in caplog.text


async def test_writer_retries_after_the_store_recovers(store: Store) -> None:
    ledger = store.ledger(flush_interval_s=0.01)
    await ledger.start()
    try:
        await store.break_()
        ledger.submit(record(1))
        await wait_for(lambda: store.metric("consentry_ledger_write_errors_total") >= 1)
        await store.repair()
        await wait_for(lambda: store.metric("consentry_ledger_records_written_total") == 1, timeout=10)
        assert await ledger.get("req-0001") == record(1)
    finally:
        await ledger.close()


async def wait_for(condition: object, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


# -- the shared batching writer, independent of storage -------------------------------------------


class MemoryLedger(BatchingLedger):
    """A store whose writes can be held or made to fail, to test the batching in isolation."""

    def __init__(self, **options: object) -> None:
        self.metrics = Metrics()
        super().__init__(self.metrics, **options)  # type: ignore[arg-type]
        self.rows: dict[str, SharingRecord] = {}
        self.gate = asyncio.Event()
        self.gate.set()
        self.writing = asyncio.Event()
        self.closed = False

    async def _open(self) -> None:
        pass

    async def _write(self, records: list[SharingRecord]) -> None:
        self.writing.set()
        await self.gate.wait()
        for r in records:
            self.rows.setdefault(r.request_id, r)

    async def _close(self) -> None:
        self.closed = True

    async def _probe(self) -> None:
        if self.closed:
            raise OSError("closed")

    async def get(self, request_id: str) -> SharingRecord | None:
        return self.rows.get(request_id)

    async def for_customer(self, customer_id: str) -> list[SharingRecord]:
        return [r for r in self.rows.values() if r.customer_id == customer_id]


async def test_cancelled_flush_keeps_the_batch_in_flight() -> None:
    ledger = MemoryLedger(flush_interval_s=MANUAL)
    await ledger.start()
    ledger.gate.clear()
    ledger.submit(record(1))
    flushing = asyncio.create_task(ledger.flush())
    await ledger.writing.wait()
    flushing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await flushing
    assert ledger.queued == 1  # not lost with the cancelled caller
    ledger.gate.set()
    await ledger.close()
    assert ledger.rows == {"req-0001": record(1)}


async def test_close_waits_for_the_batch_in_flight() -> None:
    ledger = MemoryLedger(flush_interval_s=0.0)
    await ledger.start()
    ledger.gate.clear()
    ledger.submit(record(1))
    await ledger.writing.wait()  # the background writer holds the batch
    closing = asyncio.create_task(ledger.close())
    await asyncio.sleep(0.05)
    assert not closing.done()
    ledger.gate.set()
    await closing
    assert ledger.rows == {"req-0001": record(1)}
    assert ledger.metrics.registry.get_sample_value("consentry_ledger_records_written_total") == 1
    assert ledger.closed


async def test_flush_does_not_chase_records_arriving_meanwhile() -> None:
    class Busy(MemoryLedger):
        async def _write(self, records: list[SharingRecord]) -> None:
            await super()._write(records)
            # Requests keep coming while the batch is written.
            self.submit(record(100 + len(self.rows)))

    ledger = Busy(flush_interval_s=MANUAL, batch_size=1)
    await ledger.start()
    for n in range(3):
        ledger.submit(record(n))
    async with asyncio.timeout(5):
        assert await ledger.flush()
    assert len(ledger.rows) == 3
    assert ledger.queued == 3


async def test_records_left_at_close_are_counted_as_dropped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="consentry.ledger")

    class Failing(MemoryLedger):
        async def _write(self, records: list[SharingRecord]) -> None:
            raise OSError("store down")

    ledger = Failing(flush_interval_s=MANUAL)
    await ledger.start()
    ledger.submit(record(1, customer="cust-secret"))
    await ledger.close()
    assert ledger.metrics.registry.get_sample_value("consentry_ledger_dropped_total") == 1
    assert ledger.metrics.registry.get_sample_value("consentry_ledger_queue_depth") == 0
    assert "1 sharing records that could not be written" in caplog.text
    assert "cust-secret" not in caplog.text
