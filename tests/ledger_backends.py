"""Ledger stores for tests: a fresh SQLite file, or a PostgreSQL schema unique to one test and
dropped after it, so parallel runs never see each other's rows."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.sharing import EntityTally, SharingRecord
from proxy.ledger.base import BatchingLedger
from proxy.metrics import Metrics

POSTGRES_DSN = os.environ.get("CONSENTRY_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def unique_schema() -> str:
    """A PostgreSQL schema name no other test (or parallel run) uses."""
    return f"consentry_test_{uuid.uuid4().hex[:16]}"


async def drop_schema(schema: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


def record(n: int, customer: str = "cust-a", **changes: Any) -> SharingRecord:
    fields: dict[str, Any] = {
        "request_id": f"req-{n:04d}",
        "timestamp": f"2026-01-02T03:04:{n % 60:02d}.{n % 1000:03d}+00:00",
        "customer_id": customer,
        "app": "backend",
        "provider": "openai",
        "operation": "chat",
        "model": "gpt-4o-mini",
        "decision": "forwarded",
        "reason": "",
        "entities": {"PERSON": EntityTally(2, "mask"), "EMAIL_ADDRESS": EntityTally(1, "hash")},
        "streamed": n % 2 == 0,
        "request_bytes": 1000 + n,
        "response_bytes": 5_000_000_000 + n,  # past 32 bits: stored as a 64-bit integer
        "upstream_status": 200,
        "upstream_latency_ms": 123.456,
        "total_latency_ms": 130.001,
        "consent_version": "test-1",
    }
    fields.update(changes)
    return SharingRecord(**fields)


@dataclass
class Store:
    """One backend's store: `ledger()` builds a ledger on it, `break_`/`repair` make its writes fail
    and work again (by renaming the table away and back: to the ledger, a store refusing writes)."""

    name: str
    factory: Callable[..., BatchingLedger]
    break_: Callable[[], Awaitable[None]]
    repair: Callable[[], Awaitable[None]]
    schema: str = ""
    metrics: Metrics = field(default_factory=Metrics)

    def ledger(self, **options: Any) -> BatchingLedger:
        return self.factory(self.metrics, **options)

    def metric(self, name: str) -> float:
        return float(self.metrics.registry.get_sample_value(name) or 0.0)


@asynccontextmanager
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    from proxy.ledger.sqlite import SqliteLedger

    path = tmp_path / "ledger.db"

    def rename(old: str, new: str) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute(f"ALTER TABLE {old} RENAME TO {new}")

    async def break_() -> None:
        rename("sharing_records", "sharing_records_away")

    async def repair() -> None:
        rename("sharing_records_away", "sharing_records")

    yield Store("sqlite", lambda metrics, **kw: SqliteLedger(path, metrics, **kw), break_, repair)


@asynccontextmanager
async def postgres_store() -> AsyncIterator[Store]:
    import asyncpg

    from proxy.ledger.postgres import PostgresLedger

    schema = f"consentry_test_{uuid.uuid4().hex[:16]}"

    async def execute(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def break_() -> None:
        await execute(f'ALTER TABLE "{schema}".sharing_records RENAME TO sharing_records_away')

    async def repair() -> None:
        await execute(f'ALTER TABLE "{schema}".sharing_records_away RENAME TO sharing_records')

    try:
        yield Store(
            "postgres",
            lambda metrics, **kw: PostgresLedger(POSTGRES_DSN, metrics, schema=schema, **kw),
            break_,
            repair,
            schema=schema,
        )
    finally:
        await execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


BACKENDS = ("sqlite", "postgres")


@asynccontextmanager
async def backend_store(name: str, tmp_path: Path) -> AsyncIterator[Store]:
    """The store of one backend by name (for a fixture parametrised over BACKENDS); PostgreSQL
    skips the test when it is unreachable."""
    from tests.conftest import require_postgres

    if name == "postgres":
        require_postgres()
        async with postgres_store() as pg:
            yield pg
    else:
        async with sqlite_store(tmp_path) as lite:
            yield lite
