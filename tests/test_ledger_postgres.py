"""PostgreSQL ledger specifics: the schema it creates, replicas sharing it, a database that is down,
the factory and the `ledger` configuration. The shared contract is in test_ledger_contract.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from proxy.config import ConfigError, LedgerConfig, parse_config
from proxy.ledger import make_ledger
from proxy.ledger.postgres import PostgresLedger
from proxy.ledger.sqlite import SqliteLedger
from proxy.metrics import Metrics
from tests.conftest import free_port, require_postgres
from tests.ledger_backends import POSTGRES_DSN, Store, postgres_store, record

HASH_ENV = {"CONSENTRY_HASH_KEY": "shared-test-hash-key"}


@pytest.fixture
async def pg() -> AsyncIterator[Store]:
    require_postgres()
    async with postgres_store() as store:
        yield store


async def fetch(sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_schema_types_and_index(pg: Store) -> None:
    ledger = pg.ledger()
    await ledger.start()
    await ledger.close()
    types = {
        r["column_name"]: (r["data_type"], r["is_nullable"])
        for r in await fetch(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = 'sharing_records'",
            pg.schema,
        )
    }
    assert types["ts"] == ("timestamp with time zone", "NO")
    assert types["entities"] == ("jsonb", "NO")
    assert types["streamed"] == ("boolean", "NO")
    assert types["upstream_status"][1] == "YES"
    assert len(types) == 17
    indexes = [
        r["indexdef"] for r in await fetch("SELECT indexdef FROM pg_indexes WHERE schemaname = $1", pg.schema)
    ]
    assert any("(customer_id, ts)" in d for d in indexes)
    assert any("UNIQUE" in d and "(request_id)" in d for d in indexes)


async def test_rows_are_typed_for_sql_queries(pg: Store) -> None:
    ledger = pg.ledger(flush_interval_s=3600)
    await ledger.start()
    try:
        ledger.submit(record(1))
        assert await ledger.flush()
    finally:
        await ledger.close()
    table = f'"{pg.schema}".sharing_records'
    [row] = await fetch(
        "SELECT (entities->'PERSON'->>'count')::int AS persons,"
        " entities->'EMAIL_ADDRESS'->>'action' AS email,"
        f" ts AT TIME ZONE 'UTC' AS utc, response_bytes FROM {table}"
    )
    assert (row["persons"], row["email"], row["response_bytes"]) == (2, "hash", 5_000_000_001)
    assert row["utc"].isoformat() == "2026-01-02T03:04:01.001000"


async def test_replicas_share_one_ledger(pg: Store) -> None:
    first, second = pg.ledger(flush_interval_s=3600), pg.ledger(flush_interval_s=3600)
    # Started together on an empty schema: creating the table must not race.
    await asyncio.gather(first.start(), second.start())
    try:
        first.submit(record(1))
        second.submit(record(2))
        second.submit(record(1))  # a retried record another replica already wrote
        assert await first.flush()
        assert await second.flush()
        for ledger in (first, second):
            assert await ledger.for_customer("cust-a") == [record(1), record(2)]
    finally:
        await asyncio.gather(first.close(), second.close())


async def test_unreachable_database_degrades_instead_of_failing(caplog: pytest.LogCaptureFixture) -> None:
    # Runs without PostgreSQL: nothing listens on the port.
    caplog.set_level(logging.INFO, logger="consentry.ledger")
    metrics = Metrics()
    secret_dsn = f"postgresql://consentry:s3cret-pw@127.0.0.1:{free_port()}/ledger"
    ledger = PostgresLedger(secret_dsn, metrics, flush_interval_s=3600, timeout_s=1.0)
    async with asyncio.timeout(10):
        await ledger.start()  # the proxy still starts; /readyz reports the ledger
        assert not ledger.healthy
        assert not await ledger.writable()
        ledger.submit(record(1, customer="cust-secret"))
        assert not await ledger.flush()
        assert ledger.queued == 1
        assert metrics.registry.get_sample_value("consentry_ledger_write_errors_total") == 1
        await ledger.close()
    assert metrics.registry.get_sample_value("consentry_ledger_dropped_total") == 1
    assert "sharing ledger cannot write (probe failed" in caplog.text
    for secret in ("s3cret-pw", "cust-secret", "req-0001"):
        assert secret not in caplog.text


async def test_make_ledger_picks_the_backend(tmp_path: Path) -> None:
    metrics = Metrics()
    lite = make_ledger(LedgerConfig(path=str(tmp_path / "l.db"), max_queued=7), metrics)
    assert isinstance(lite, SqliteLedger)
    assert lite._max_queued == 7
    pg = make_ledger(LedgerConfig(backend="postgres", dsn=POSTGRES_DSN, batch_size=3), metrics)
    assert isinstance(pg, PostgresLedger)
    assert pg._batch_size == 3
    with pytest.raises(ValueError):
        make_ledger(LedgerConfig(backend="mongo"), metrics)


async def test_make_ledger_postgres_round_trip(pg: Store) -> None:
    # A deployment picks the schema through the DSN (libpq-style server settings); here the test's own.
    await fetch(f'CREATE SCHEMA "{pg.schema}"')
    dsn = f"{POSTGRES_DSN}{'&' if '?' in POSTGRES_DSN else '?'}search_path={pg.schema}"
    config = parse_config(
        {"ledger": {"backend": "postgres", "flush_interval_s": 0.01}, "hash_key": "k"},
        {"CONSENTRY_DB_DSN": dsn},
    )
    ledger = make_ledger(config.ledger, Metrics())
    await ledger.start()
    try:
        assert await ledger.writable()
        ledger.submit(record(42))
        assert await ledger.flush()
        assert await ledger.get("req-0042") == record(42)
    finally:
        await ledger.close()
    [row] = await fetch(f'SELECT request_id FROM "{pg.schema}".sharing_records')
    assert row["request_id"] == "req-0042"


def test_config_postgres_backend(tmp_path: Path) -> None:
    raw = {"ledger": {"backend": "postgres", "dsn": "postgresql://db.internal/consentry", "max_queued": 50}}
    config = parse_config(raw, HASH_ENV)
    assert (config.ledger.backend, config.ledger.dsn, config.ledger.max_queued) == (
        "postgres",
        "postgresql://db.internal/consentry",
        50,
    )
    env_dsn = "postgres://u:pw@other/db"
    assert parse_config(raw, {**HASH_ENV, "CONSENTRY_DB_DSN": env_dsn}).ledger.dsn == env_dsn
    defaults = parse_config({"ledger": {"path": str(tmp_path / "l.db")}}, {})
    assert (defaults.ledger.backend, defaults.ledger.dsn, defaults.ledger.max_queued) == (
        "sqlite",
        "",
        100_000,
    )


@pytest.mark.parametrize(
    ("ledger", "env", "message"),
    [
        ({"backend": "postgres"}, HASH_ENV, "needs ledger.dsn"),
        ({"backend": "postgres", "dsn": "mysql://u:hunter2@h/db"}, HASH_ENV, "postgresql:// URL"),
        ({"dsn": "postgresql://u:hunter2@h/db"}, HASH_ENV, "ledger.backend is not 'postgres'"),
        ({}, {**HASH_ENV, "CONSENTRY_DB_DSN": "postgresql://u:hunter2@h/db"}, "ledger.backend is not"),
        ({"backend": "postgres", "dsn": "postgresql://u:hunter2@h/db"}, {}, "hash_key"),
        ({"backend": "sqlite3"}, HASH_ENV, "'sqlite' or 'postgres'"),
        ({"max_queued": 0}, HASH_ENV, "at least 1"),
        ({"batch_size": "many"}, HASH_ENV, "ledger.batch_size must be a number"),
        ({"flush_interval_s": -1}, HASH_ENV, "must not be negative"),
    ],
)
def test_config_refuses_bad_ledger_settings(
    tmp_path: Path, ledger: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        parse_config({"ledger": {"path": str(tmp_path / "l.db"), **ledger}}, env)
    assert "hunter2" not in str(refused.value)


def test_dsn_stays_out_of_the_config_repr() -> None:
    config = parse_config({"ledger": {"backend": "postgres", "dsn": "postgresql://u:hunter2@h/db"}}, HASH_ENV)
    assert "hunter2" not in repr(config)
