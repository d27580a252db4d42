"""Customer erasure, run against both ledger backends: a tombstone first, so records still queued
in another replica (or in flight) never land afterwards; then bounded delete batches."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from proxy.ledger import base
from proxy.ledger.base import format_ts, keyed_customer_key
from tests.ledger_backends import BACKENDS, POSTGRES_DSN, Store, backend_store, record

MANUAL = 3600.0
KEY = keyed_customer_key(b"test-hash-key")


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with backend_store(request.param, tmp_path) as s:
        yield s


def now_ts(offset_s: float = 0.0) -> str:
    return format_ts(datetime.now(UTC) + timedelta(seconds=offset_s))


async def tombstone_keys(store: Store, tmp_path: Path) -> list[str]:
    if store.name == "postgres":
        import asyncpg

        conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
        try:
            rows = await conn.fetch(f'SELECT customer_key FROM "{store.schema}".ledger_erasures')
        finally:
            await conn.close()
        return [r["customer_key"] for r in rows]
    with sqlite3.connect(tmp_path / "ledger.db") as conn:
        return [r[0] for r in conn.execute("SELECT customer_key FROM ledger_erasures")]


async def test_erasure_deletes_the_customer_only_and_counts(store: Store, tmp_path: Path) -> None:
    ledger = store.ledger(flush_interval_s=MANUAL, customer_key=KEY)
    await ledger.start()
    try:
        for n in range(12):
            ledger.submit(record(n, customer="cust-gone", request_id=f"gone-{n:03d}"))
        keep = [record(100 + n, customer="cust-stays") for n in range(3)]
        for r in keep:
            ledger.submit(r)
        assert await ledger.flush()

        assert await ledger.erase_customer("cust-gone") == 12
        assert await ledger.for_customer("cust-gone") == []
        assert await ledger.for_customer("cust-stays") == keep
        assert (await ledger.summary(None))["total"] == 3
        assert store.metric("consentry_ledger_erased_records_total") == 12
        # Erasing again finds nothing and moves the tombstone forward.
        assert await ledger.erase_customer("cust-gone") == 0
        # The tombstone names the customer by keyed hash only.
        assert await tombstone_keys(store, tmp_path) == [KEY("cust-gone")]
    finally:
        await ledger.close()


async def test_records_queued_in_another_replica_never_land_after_erasure(store: Store) -> None:
    erasing = store.ledger(flush_interval_s=MANUAL, customer_key=KEY)
    replica = store.ledger(flush_interval_s=MANUAL, customer_key=KEY)
    await erasing.start()
    await replica.start()
    try:
        stored = record(1, customer="cust-gone", timestamp=now_ts(-5))
        erasing.submit(stored)
        assert await erasing.flush()
        # Requests handled before the erasure whose records are not written yet: in the other
        # replica's queue, and in this one's.
        held = record(2, customer="cust-gone", timestamp=now_ts(-1))
        own = record(3, customer="cust-gone", timestamp=now_ts(-1))
        bystander = record(4, customer="cust-other", timestamp=now_ts(-1))
        replica.submit(held)
        replica.submit(bystander)
        erasing.submit(own)
        assert erasing.queued == 1

        assert await erasing.erase_customer("cust-gone") == 1
        assert erasing.queued == 0  # this replica's own queued record is dropped

        # A request after the erasure is recorded as usual.
        later = record(5, customer="cust-gone", timestamp=now_ts(+1))
        replica.submit(later)
        assert await replica.flush()  # the batch itself succeeds: only the erased row is skipped
        assert await erasing.for_customer("cust-gone") == [later]
        assert await erasing.get(held.request_id) is None
        assert await erasing.for_customer("cust-other") == [bystander]
    finally:
        await replica.close()
        await erasing.close()


async def test_erasure_deletes_in_bounded_batches(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "ERASE_BATCH_SIZE", 7)
    ledger = store.ledger(flush_interval_s=MANUAL, batch_size=100, customer_key=KEY)
    await ledger.start()
    calls: list[int] = []
    inner = ledger._delete_erased

    async def counted(customer_id: str, erased_at: datetime, limit: int) -> int:
        n = await inner(customer_id, erased_at, limit)
        calls.append(n)
        return n

    ledger._delete_erased = counted  # type: ignore[method-assign]
    try:
        for n in range(30):
            ledger.submit(record(n, customer="cust-gone", request_id=f"gone-{n:03d}"))
        ledger.submit(record(99, customer="cust-stays"))
        assert await ledger.flush()
        assert await ledger.erase_customer("cust-gone") == 30
        assert calls == [7, 7, 7, 7, 2]
        assert len(await ledger.for_customer("cust-stays")) == 1
    finally:
        await ledger.close()


async def test_unconfigured_key_still_keeps_the_id_out_of_the_tombstone(store: Store, tmp_path: Path) -> None:
    ledger = store.ledger(flush_interval_s=MANUAL)
    await ledger.start()
    try:
        await ledger.erase_customer("cust-plain")
        (key,) = await tombstone_keys(store, tmp_path)
        assert "cust-plain" not in key and len(key) == 64
    finally:
        await ledger.close()


async def test_postgres_erasure_waits_for_a_batch_in_flight(tmp_path: Path) -> None:
    """The race itself: a batch holding the customer's shared lock (in flight, not committed)
    delays the tombstone until it commits, so its rows are found by the deletes."""
    import asyncpg

    from proxy.ledger.postgres import PostgresLedger

    async with backend_store("postgres", tmp_path) as pg:
        ledger = pg.ledger(flush_interval_s=MANUAL, customer_key=KEY)
        assert isinstance(ledger, PostgresLedger)
        await ledger.start()
        conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
        try:
            in_flight = conn.transaction()
            await in_flight.start()
            await conn.execute(
                "SELECT pg_advisory_xact_lock_shared($1)", ledger._customer_lock(KEY("cust-gone"))
            )
            row = record(1, customer="cust-gone", timestamp=now_ts(-1))
            await conn.execute(ledger._insert, *ledger._columns([row], ledger.customer_keys(["cust-gone"])))
            erasing = asyncio.create_task(ledger.erase_customer("cust-gone"))
            await asyncio.sleep(0.3)
            assert not erasing.done()  # held back by the uncommitted batch
            await in_flight.commit()
            assert await asyncio.wait_for(erasing, 5) == 1
            assert await ledger.for_customer("cust-gone") == []
        finally:
            await conn.close()
            await ledger.close()
