"""A ledger that cannot write is noticed, said and acted on - never a record lost quietly.

The faults an operator meets: the SQLite directory deleted under a running proxy (an open
connection keeps "writing" into the deleted file), a ledger file that can only be opened read-only,
a PostgreSQL table that refuses inserts while connections and privileges look fine. For each: the
health probe and every batch notice it, nothing is counted as written, the failure is logged (with
no record content), records stay queued; with `ledger.on_failure: refuse` (the default) /readyz is
503 and requests are refused with a retryable 503 in the provider's shape, with `degrade` they go
on and /readyz says degraded; once the store writes again everything recovers by itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from proxy.app import PIPELINE, build_app
from proxy.config import ConfigError, parse_config
from proxy.ledger.base import PROBE_ID_PREFIX
from proxy.ledger.postgres import PostgresLedger
from proxy.ledger.sqlite import SqliteLedger
from proxy.metrics import Metrics
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, require_postgres
from tests.fakes.detectors import NullDetector
from tests.fakes.server import BackgroundServer
from tests.ledger_backends import POSTGRES_DSN, Store, postgres_store, record

PROBE_S = 0.1  # the health probe's interval in these tests
SETTLE_S = 10.0  # the longest any state change may take to show


def wait_until(condition: Callable[[], bool], timeout: float = SETTLE_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


async def async_wait_until(condition: Callable[[], bool], timeout: float = SETTLE_S) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def value(metrics: Metrics, name: str) -> float:
    return float(metrics.registry.get_sample_value(name) or 0.0)


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """`path` cannot be opened for writing while inside - also by root, for whom file modes do not
    count: then the file is made immutable (chattr +i), as a read-only mount would make it."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    chattr = shutil.which("chattr")
    done = subprocess.run([chattr, "+i", str(path)], capture_output=True, text=True) if chattr else None
    if done is None or done.returncode != 0:
        reason = done.stderr.strip() if done is not None else "chattr is not installed"
        pytest.skip(f"running as root and the file cannot be made read-only here ({reason})")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def stored_ids(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT request_id FROM sharing_records")}


# -- the SQLite ledger on its own -------------------------------------------------------------------


async def test_deleted_directory_fails_writes_and_recovers_when_restored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="consentry.ledger")
    folder = tmp_path / "ledger"
    path = folder / "ledger.db"
    metrics = Metrics()
    ledger = SqliteLedger(path, metrics, flush_interval_s=3600, probe_interval_s=3600)
    await ledger.start()
    try:
        assert ledger.healthy
        assert value(metrics, "consentry_ledger_up") == 1
        assert value(metrics, "consentry_ledger_last_write_timestamp_seconds") > time.time() - 60
        ledger.submit(record(1))
        assert await ledger.flush()

        shutil.rmtree(folder)
        for n in range(2, 6):
            ledger.submit(record(n, customer="cust-secret"))
        # The open connection would commit into the deleted file; the batch is refused instead.
        assert not await ledger.flush()
        assert not ledger.healthy
        assert value(metrics, "consentry_ledger_up") == 0
        assert value(metrics, "consentry_ledger_records_written_total") == 1
        assert value(metrics, "consentry_ledger_write_errors_total") == 1
        assert ledger.queued == 4
        # The probe says the same, and reopening does not create the missing directory.
        assert not await ledger.writable()
        assert not folder.exists()
        assert "sharing ledger cannot write (batch write failed: LedgerFileChanged)" in caplog.text

        folder.mkdir()
        assert await ledger.writable()
        assert await ledger.flush()
        assert stored_ids(path) == {f"req-{n:04d}" for n in range(2, 6)}
        assert value(metrics, "consentry_ledger_records_written_total") == 5
        assert "sharing ledger writes again" in caplog.text
    finally:
        await ledger.close()
    assert "cust-secret" not in caplog.text and "req-000" not in caplog.text


async def test_replaced_file_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    metrics = Metrics()
    ledger = SqliteLedger(path, metrics, flush_interval_s=3600, probe_interval_s=3600)
    await ledger.start()
    try:
        ledger.submit(record(1))
        assert await ledger.flush()
        # Restored from a backup under the same name: a new inode.
        shutil.copy(path, tmp_path / "backup.db")
        os.replace(tmp_path / "backup.db", path)
        ledger.submit(record(2))
        assert not await ledger.flush()
        assert await ledger.writable()  # reopened on the file the path names now
        assert await ledger.flush()
        assert stored_ids(path) == {"req-0001", "req-0002"}
    finally:
        await ledger.close()


async def test_read_only_file_at_start_is_not_healthy_and_loses_nothing_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="consentry.ledger")
    path = tmp_path / "ledger.db"
    first = SqliteLedger(path, Metrics())
    await first.start()
    await first.close()

    metrics = Metrics()
    ledger = SqliteLedger(path, metrics, flush_interval_s=3600, probe_interval_s=3600)
    with read_only(path):
        await ledger.start()
        # The old check (BEGIN IMMEDIATE, rolled back) passed here; the probe's insert does not.
        assert not ledger.healthy
        assert "SQLITE_READONLY" in caplog.text
        ledger.submit(record(1))
        assert not await ledger.flush()
        assert value(metrics, "consentry_ledger_records_written_total") == 0
    # Writable again: the connection opened read-only is replaced, and the queue written.
    assert await ledger.writable()
    assert await ledger.flush()
    await ledger.close()
    assert stored_ids(path) == {"req-0001"}


async def test_records_that_cannot_be_written_by_exit_are_counted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="consentry.ledger")
    folder = tmp_path / "ledger"
    metrics = Metrics()
    ledger = SqliteLedger(folder / "ledger.db", metrics, flush_interval_s=3600, probe_interval_s=3600)
    await ledger.start()
    shutil.rmtree(folder)
    ledger.submit(record(1))
    started = time.monotonic()
    await ledger.close(retry_for_s=1.5)  # retried (the store might come back), then given up
    assert 1.5 <= time.monotonic() - started < 5
    assert value(metrics, "consentry_ledger_dropped_total") == 1
    assert value(metrics, "consentry_ledger_records_written_total") == 0
    assert "ledger closed with 1 sharing records that could not be written" in caplog.text


async def test_probe_leaves_no_row(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path, Metrics(), probe_interval_s=3600)
    await ledger.start()
    try:
        for _ in range(3):
            assert await ledger.writable()
    finally:
        await ledger.close()
    assert stored_ids(path) == set()


# -- PostgreSQL: a table that refuses inserts ------------------------------------------------------


@pytest.fixture
async def pg() -> AsyncIterator[Store]:
    require_postgres()
    async with postgres_store() as store:
        yield store


async def pg_execute(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def refusing_trigger(schema: str) -> str:
    return f"""
        CREATE FUNCTION "{schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'ledger frozen for maintenance'; END $$;
        CREATE TRIGGER refuse BEFORE INSERT ON "{schema}".sharing_records
            FOR EACH ROW EXECUTE FUNCTION "{schema}".refuse();
    """


async def test_postgres_table_refusing_inserts_is_noticed_and_recovers(
    pg: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="consentry.ledger")
    ledger = pg.ledger(flush_interval_s=3600, probe_interval_s=3600)
    assert isinstance(ledger, PostgresLedger)
    await ledger.start()
    try:
        assert ledger.healthy
        await pg_execute(refusing_trigger(pg.schema))
        # Connection, privileges and a read-write session all look fine: only a real insert tells.
        assert not await ledger.writable()
        assert "sharing ledger cannot write (probe failed: RaiseError (P0001))" in caplog.text
        ledger.submit(record(1, customer="cust-secret"))
        assert not await ledger.flush()
        assert pg.metric("consentry_ledger_records_written_total") == 0
        assert ledger.queued == 1

        await pg_execute(f'DROP TRIGGER refuse ON "{pg.schema}".sharing_records')
        assert await ledger.writable()
        assert await ledger.flush()
        assert [r.request_id for r in await ledger.for_customer("cust-secret")] == ["req-0001"]
        # The probe's rows were rolled back: only the record is there.
        assert await ledger.for_customer("") == []
    finally:
        await ledger.close()
    assert "cust-secret" not in caplog.text and "frozen" not in caplog.text
    assert PROBE_ID_PREFIX not in caplog.text


# -- the proxy: readiness, refusal and recovery ----------------------------------------------------


class Proxy:
    """A proxy on loopback with a detector that finds nothing, before the fake OpenAI upstream."""

    def __init__(self, upstream_url: str, ledger: dict[str, Any]) -> None:
        raw = {
            "apps": {"backend": {"key": PROXY_KEY}},
            "providers": {"openai": {"base_url": upstream_url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
            "ledger": {"flush_interval_s": 0.01, "probe_interval_s": PROBE_S, **ledger},
            "hash_key": "test-hash-key",
        }
        self.config = parse_config(raw, env={})
        self.server = BackgroundServer(
            lambda: build_app(self.config, detector=NullDetector(), owns_detector=False)
        ).start()
        self.http = httpx.Client(base_url=self.server.url, timeout=30)

    @property
    def metrics(self) -> Metrics:
        assert self.server.app is not None
        return self.server.app[PIPELINE].metrics

    def readyz(self) -> tuple[int, dict[str, Any]]:
        reply = self.http.get("/readyz")
        return reply.status_code, reply.json()

    def chat(self) -> httpx.Response:
        return self.http.post(
            "/c/cust-7/openai/v1/chat/completions",
            headers={"Authorization": f"Bearer {PROXY_KEY}"},
            json={"model": "m", "messages": [{"role": "user", "content": "hello"}]},
        )

    def sdk(self) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.server.url}/c/cust-7/openai/v1", api_key=PROXY_KEY, max_retries=0
        )

    def written(self) -> float:
        return value(self.metrics, "consentry_ledger_records_written_total")

    def stop(self) -> None:
        self.http.close()
        self.server.stop()


@pytest.fixture
def proxies(openai_upstream: BackgroundServer) -> Iterator[Callable[..., Proxy]]:
    started: list[Proxy] = []

    def start(**ledger: Any) -> Proxy:
        proxy = Proxy(openai_upstream.url, ledger)
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


def assert_refused(reply: httpx.Response) -> None:
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == "5"
    assert reply.json()["error"]["code"] == "ledger_unavailable"  # OpenAI's error shape
    assert reply.json()["error"]["type"] == "service_unavailable"


def test_deleted_directory_refuses_until_restored(
    proxies: Callable[..., Proxy], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    folder = tmp_path / "ledger"
    path = folder / "ledger.db"
    proxy = proxies(path=str(path))
    assert proxy.readyz() == (
        200,
        {
            "ready": True,
            "status": "ready",
            "checks": {"detector": True, "ledger": True, "consent_store": True},
        },
    )
    answered = [proxy.chat().headers["X-Consentry-Request-Id"]]
    wait_until(lambda: stored_ids(path) == set(answered), what="the first record")
    written = proxy.written()

    shutil.rmtree(folder)
    # A request racing the deletion may still be answered; its record must not be lost.
    racing = proxy.chat()
    if racing.status_code == 200:
        answered.append(racing.headers["X-Consentry-Request-Id"])
    wait_until(lambda: proxy.readyz()[0] == 503, what="/readyz to fail")
    _, body = proxy.readyz()
    # The consent store shares the ledger's file: it is gone too, and says so.
    wait_until(lambda: proxy.readyz()[1]["checks"]["consent_store"] is False, what="the consent store")
    _, body = proxy.readyz()
    assert body == {
        "ready": False,
        "status": "not_ready",
        "checks": {"detector": True, "ledger": False, "consent_store": False},
    }
    for _ in range(5):
        assert_refused(proxy.chat())
    with pytest.raises(openai.InternalServerError) as refused:
        proxy.sdk().chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert refused.value.status_code == 503 and "ledger" in refused.value.message
    assert proxy.written() == written  # nothing counted as written into the deleted file
    assert value(proxy.metrics, "consentry_ledger_up") == 0
    assert "sharing ledger cannot write" in caplog.text
    assert not folder.exists()

    folder.mkdir()
    wait_until(lambda: proxy.readyz()[0] == 200, what="/readyz to recover")
    reply = proxy.chat()
    assert reply.status_code == 200
    answered.append(reply.headers["X-Consentry-Request-Id"])
    # Every answered request's record is in the file the path names, the first one's excepted:
    # it went down with the deleted file.
    wait_until(lambda: stored_ids(path) == set(answered[1:]), what="the queued records")
    assert "sharing ledger writes again" in caplog.text


def test_read_only_ledger_at_start_refuses_until_writable(
    proxies: Callable[..., Proxy], tmp_path: Path
) -> None:
    path = tmp_path / "ledger.db"
    sqlite3.connect(path).close()  # an empty file: opening it read-only fails at once
    with read_only(path):
        proxy = proxies(path=str(path))
        assert proxy.readyz()[0] == 503
        assert_refused(proxy.chat())
        assert value(proxy.metrics, "consentry_ledger_up") == 0
        assert value(proxy.metrics, "consentry_ledger_probe_failures_total") >= 1
    wait_until(lambda: proxy.readyz()[0] == 200, what="/readyz to recover")
    reply = proxy.chat()
    assert reply.status_code == 200
    wait_until(lambda: stored_ids(path) == {reply.headers["X-Consentry-Request-Id"]}, what="the record")


def test_degrade_policy_serves_and_counts_what_it_drops(
    proxies: Callable[..., Proxy], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    folder = tmp_path / "ledger"
    path = folder / "ledger.db"
    proxy = proxies(path=str(path), on_failure="degrade", max_queued=3)
    shutil.rmtree(folder)
    wait_until(lambda: proxy.readyz()[1]["status"] == "degraded", what="/readyz to say degraded")
    assert proxy.readyz()[0] == 200  # still in the load balancer: the operator chose to go on
    answered = [proxy.chat() for _ in range(5)]
    assert [r.status_code for r in answered] == [200] * 5
    wait_until(lambda: value(proxy.metrics, "consentry_ledger_dropped_total") == 2, what="the drops")
    assert value(proxy.metrics, "consentry_ledger_queue_depth") == 3
    assert "ledger queue full (3 records): dropped the 1 oldest" in caplog.text  # then summed
    folder.mkdir()
    wait_until(lambda: proxy.readyz()[1]["status"] == "ready", what="/readyz to recover")
    kept = {r.headers["X-Consentry-Request-Id"] for r in answered[2:]}
    wait_until(lambda: stored_ids(path) == kept, what="the kept records")


def test_postgres_table_refusing_inserts_refuses_requests_until_repaired(
    proxies: Callable[..., Proxy], pg: Store
) -> None:
    asyncio.run(pg_execute(f'CREATE SCHEMA "{pg.schema}"'))
    dsn = f"{POSTGRES_DSN}{'&' if '?' in POSTGRES_DSN else '?'}search_path={pg.schema}"
    proxy = proxies(backend="postgres", dsn=dsn)
    assert proxy.readyz()[0] == 200
    first = proxy.chat().headers["X-Consentry-Request-Id"]
    wait_until(lambda: proxy.written() == 1, what="the first record")

    asyncio.run(pg_execute(refusing_trigger(pg.schema)))
    wait_until(lambda: proxy.readyz()[0] == 503, what="/readyz to fail")
    assert_refused(proxy.chat())
    assert proxy.written() == 1

    asyncio.run(pg_execute(f'DROP TRIGGER refuse ON "{pg.schema}".sharing_records'))
    wait_until(lambda: proxy.readyz()[0] == 200, what="/readyz to recover")
    second = proxy.chat().headers["X-Consentry-Request-Id"]
    wait_until(lambda: proxy.written() == 2, what="the second record")

    async def stored() -> set[str]:
        import asyncpg

        conn = await asyncpg.connect(POSTGRES_DSN, timeout=5)
        try:
            rows = await conn.fetch(f'SELECT request_id FROM "{pg.schema}".sharing_records')
        finally:
            await conn.close()
        return {r["request_id"] for r in rows}

    assert asyncio.run(stored()) == {first, second}


# -- configuration ---------------------------------------------------------------------------------


def test_config_defaults_fail_closed(tmp_path: Path) -> None:
    ledger = parse_config({"ledger": {"path": str(tmp_path / "l.db")}}, env={}).ledger
    assert (ledger.on_failure, ledger.probe_interval_s) == ("refuse", 2.0)
    chosen = parse_config(
        {"ledger": {"path": str(tmp_path / "l.db"), "on_failure": "degrade", "probe_interval_s": 0.5}}, env={}
    ).ledger
    assert (chosen.on_failure, chosen.probe_interval_s) == ("degrade", 0.5)


@pytest.mark.parametrize(
    ("ledger", "message"),
    [
        ({"on_failure": "ignore"}, "'refuse' or 'degrade'"),
        ({"probe_interval_s": 0}, "probe_interval_s must be more than 0"),
        ({"probe_interval_s": "often"}, "probe_interval_s must be a number"),
    ],
)
def test_config_refuses_bad_failure_settings(tmp_path: Path, ledger: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"ledger": {"path": str(tmp_path / "l.db"), **ledger}}, env={})
