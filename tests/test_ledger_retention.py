"""Retention: bounded purges, the background task and its metrics, on both ledger backends; and
the ledger configuration keys behind it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from models.sharing import SharingRecord
from proxy.config import ConfigError, LedgerConfig, parse_config
from proxy.ledger import make_ledger
from proxy.ledger.base import BatchingLedger, format_ts
from proxy.ledger.retention import RetentionPolicy, RetentionTask
from proxy.metrics import Metrics
from tests.ledger_backends import BACKENDS, POSTGRES_DSN, Store, backend_store, record

MANUAL = 3600.0


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with backend_store(request.param, tmp_path) as s:
        yield s


def days_ago(days: float, plus_s: int = 0) -> str:
    return format_ts(datetime.now(UTC) - timedelta(days=days) + timedelta(seconds=plus_s))


def old_and_new(old: int, new: int) -> list[SharingRecord]:
    return [
        record(n, customer=f"cust-secret-{n % 3}", request_id=f"old-{n:04d}", timestamp=days_ago(400, n))
        for n in range(old)
    ] + [record(n, request_id=f"new-{n:04d}", timestamp=days_ago(1, n)) for n in range(new)]


def runs(store: Store, outcome: str) -> float:
    value = store.metrics.registry.get_sample_value(
        "consentry_ledger_retention_runs_total", {"outcome": outcome}
    )
    return float(value or 0.0)


async def wait_for(condition: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)


async def test_purge_before_deletes_one_bounded_batch_oldest_first(store: Store) -> None:
    ledger = store.ledger(flush_interval_s=MANUAL, batch_size=100)
    await ledger.start()
    try:
        # Newest first, so insertion order is not age order.
        for r in reversed(old_and_new(10, 3)):
            ledger.submit(r)
        assert await ledger.flush()
        cutoff = datetime.now(UTC) - timedelta(days=365)
        assert await ledger.purge_before(cutoff, 4) == 4
        left = {r.request_id async for r in _all(ledger)}
        # The four oldest went first.
        assert left == {f"old-{n:04d}" for n in range(4, 10)} | {f"new-{n:04d}" for n in range(3)}
        assert await ledger.purge_before(cutoff, 100) == 6
        assert await ledger.purge_before(cutoff, 100) == 0
        assert len({r.request_id async for r in _all(ledger)}) == 3
    finally:
        await ledger.close()


async def _all(ledger: BatchingLedger) -> AsyncIterator[SharingRecord]:
    for customer in ("cust-a", "cust-secret-0", "cust-secret-1", "cust-secret-2"):
        async for r in ledger.iter_for_customer(customer):
            yield r


async def test_retention_task_purges_in_batches_and_counts(store: Store) -> None:
    policy = RetentionPolicy(retention_days=30, interval_s=MANUAL, batch_size=4, pause_s=0.0)
    ledger = store.ledger(flush_interval_s=MANUAL, batch_size=100)
    await ledger.start()
    calls: list[int] = []
    inner = ledger.purge_before

    async def counted(cutoff: datetime, batch_size: int) -> int:
        n = await inner(cutoff, batch_size)
        calls.append(n)
        return n

    ledger.purge_before = counted  # type: ignore[method-assign]
    try:
        for r in old_and_new(10, 3):
            ledger.submit(r)
        assert await ledger.flush()
        task = RetentionTask(ledger, policy, store.metrics)
        assert await task.run_once() == "ok"
        assert calls == [4, 4, 2]  # batch after batch until one came back short
        assert store.metric("consentry_ledger_purged_records_total") == 10
        assert runs(store, "ok") == 1
        assert [r.request_id for r in await ledger.for_customer("cust-a")] == [
            f"new-{n:04d}" for n in range(3)
        ]
    finally:
        await ledger.close()


async def test_retention_runs_with_the_ledger_and_survives_a_failing_store(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="consentry.ledger")
    # Nothing old yet, so the first run (at start) is ok with nothing to do.
    policy = RetentionPolicy(retention_days=30, interval_s=0.05, batch_size=3, pause_s=0.0)
    ledger = store.ledger(flush_interval_s=MANUAL, retention=policy)
    await ledger.start()
    try:
        await wait_for(lambda: runs(store, "ok") >= 1)
        await store.break_()
        await wait_for(lambda: runs(store, "failed") >= 2)  # failed, and the task went on
        await store.repair()
        for r in old_and_new(7, 2):
            ledger.submit(r)
        assert await ledger.flush()
        await wait_for(lambda: store.metric("consentry_ledger_purged_records_total") == 7)
        assert len(await ledger.for_customer("cust-a")) == 2
    finally:
        await ledger.close()
    ok_after_close = runs(store, "ok")
    await asyncio.sleep(0.15)
    assert runs(store, "ok") == ok_after_close  # stopped with the ledger
    assert "ledger retention run failed" in caplog.text
    assert "cust-secret" not in caplog.text and "old-0" not in caplog.text


async def test_tombstones_older_than_the_cutoff_go_with_the_records(store: Store) -> None:
    ledger = store.ledger(flush_interval_s=MANUAL)
    await ledger.start()
    try:
        await ledger.erase_customer("cust-gone")
        old = record(1, customer="cust-gone", timestamp=days_ago(1))
        ledger.submit(old)
        assert await ledger.flush()
        assert await ledger.for_customer("cust-gone") == []  # covered by the tombstone
        # A cutoff after the erasure removes the tombstone: the record is accepted again.
        await ledger.purge_before(datetime.now(UTC) + timedelta(seconds=1), 10)
        ledger.submit(old)
        assert await ledger.flush()
        assert await ledger.for_customer("cust-gone") == [old]
    finally:
        await ledger.close()


async def test_no_task_when_kept_forever(tmp_path: Path) -> None:
    metrics = Metrics()
    ledger = make_ledger(LedgerConfig(path=str(tmp_path / "l.db"), retention_days=0), metrics)
    await ledger.start()
    try:
        await asyncio.sleep(0.05)
        assert (
            metrics.registry.get_sample_value("consentry_ledger_retention_runs_total", {"outcome": "ok"})
            is None
        )
    finally:
        await ledger.close()


async def test_only_one_postgres_replica_purges_at_a_time(tmp_path: Path) -> None:
    import asyncpg

    from proxy.ledger.postgres import lock_id

    async with backend_store("postgres", tmp_path) as pg:
        ledger = pg.ledger(flush_interval_s=MANUAL)
        await ledger.start()
        task = RetentionTask(ledger, RetentionPolicy(retention_days=1, interval_s=MANUAL), pg.metrics)
        other = await asyncpg.connect(POSTGRES_DSN, timeout=5)
        try:
            # Another replica mid-run holds the retention lock.
            assert await other.fetchval("SELECT pg_try_advisory_lock($1)", lock_id(pg.schema, "retention"))
            assert await task.run_once() == "skipped"
            assert runs(pg, "skipped") == 1
            await other.execute("SELECT pg_advisory_unlock_all()")
            assert await task.run_once() == "ok"
            # The lock was given back after the run.
            assert await other.fetchval("SELECT pg_try_advisory_lock($1)", lock_id(pg.schema, "retention"))
        finally:
            await other.close()
            await ledger.close()


# -- configuration ---------------------------------------------------------------------------------


def ledger_config(**raw: object) -> LedgerConfig:
    return parse_config({"hash_key": "k" * 32, "ledger": raw}, env={}).ledger


def test_retention_defaults() -> None:
    config = ledger_config(path="/tmp/never-created/l.db")
    assert (config.retention_days, config.retention_interval_s, config.purge_batch_size, config.schema) == (
        365,
        3600.0,
        5000,
        None,
    )


def test_retention_keys_parsed() -> None:
    config = ledger_config(
        backend="postgres",
        dsn="postgresql://u@h/db",
        retention_days=0,
        retention_interval_s=60,
        purge_batch_size=100,
        schema="consentry_ledger",
    )
    assert config.retention_days == 0
    assert config.retention_interval_s == 60.0
    assert config.purge_batch_size == 100
    assert config.schema == "consentry_ledger"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"retention_days": -1}, "ledger.retention_days must be between 0 (keep forever) and 36500"),
        ({"retention_days": 1.5}, "ledger.retention_days must be a whole number"),
        ({"retention_days": True}, "ledger.retention_days must be a whole number"),
        ({"retention_interval_s": 0}, "ledger.retention_interval_s must be between 1 and 86400"),
        ({"retention_interval_s": "often"}, "ledger.retention_interval_s must be a number"),
        ({"purge_batch_size": 0}, "ledger.purge_batch_size must be between 1 and 100000"),
        ({"schema": "ledger"}, "ledger.schema is set but ledger.backend is not 'postgres'"),
        (
            {"backend": "postgres", "dsn": "postgresql://u@h/db", "schema": 'x"; DROP'},
            "ledger.schema must be a PostgreSQL name",
        ),
    ],
)
def test_bad_retention_keys_refused(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        ledger_config(path="/tmp/never-created/l.db", **raw)


async def test_make_ledger_uses_the_schema(tmp_path: Path) -> None:
    from proxy.ledger.postgres import PostgresLedger

    config = LedgerConfig(backend="postgres", dsn=POSTGRES_DSN, schema="consentry_x")
    ledger = make_ledger(config, Metrics())
    assert isinstance(ledger, PostgresLedger)
    assert ledger.table == '"consentry_x".sharing_records'
    assert ledger.erasures == '"consentry_x".ledger_erasures'
