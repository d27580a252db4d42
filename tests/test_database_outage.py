"""A proxy on PostgreSQL whose database goes away and comes back (the network cut by a relay):
with `consent.store_outage: serve` and `ledger.on_failure: degrade` it keeps serving with the
consents it has, buffers sharing records in bounded memory, says so in /readyz and metrics, and
writes the buffer and catches up on consent changes when the database returns; with
`consent.store_outage: refuse` it refuses in the provider's shape meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import httpx
import openai
import pytest

from proxy.consents.postgres import PostgresConsentRecords
from proxy.consents.sealing import IdentifierSealer
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness, require_postgres
from tests.fakes.server import BackgroundServer
from tests.fakes.tcp_relay import RelayThread
from tests.ledger_backends import POSTGRES_DSN, drop_schema, unique_schema

HASH_KEY = "test-hash-key"  # the test proxies' (tests/conftest.py)


def wait_until(check: Callable[[], bool], what: str, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture()
def schema() -> Iterator[str]:
    require_postgres()
    name = unique_schema()
    yield name
    asyncio.run(drop_schema(name))


@pytest.fixture()
def relay() -> Iterator[RelayThread]:
    require_postgres()
    running = RelayThread("127.0.0.1", 5432)
    yield running
    running.close()


def start(
    make_proxy: ProxyFactory, upstream: BackgroundServer, relay: RelayThread, schema: str, outage: str
) -> ProxyHarness:
    return make_proxy(
        {"openai": {"base_url": upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        extra={
            "ledger": {
                "backend": "postgres",
                "dsn": relay.dsn(),
                "schema": schema,
                "on_failure": "degrade",
                "flush_interval_s": 0.01,
                "probe_interval_s": 0.2,
            },
            "consent": {"store_outage": outage, "check_interval_s": 0.1},
        },
    )


def withdraw_directly(schema: str, customer: str) -> None:
    """Another replica's change, made while this one cannot reach the database."""

    async def write() -> None:
        records = PostgresConsentRecords(POSTGRES_DSN, IdentifierSealer(HASH_KEY.encode()), schema=schema)
        await records.start()
        try:
            await records.update(
                customer, lambda _c: {"state": "withdrawn"}, actor="replica-b", action="withdraw"
            )
        finally:
            await records.close()

    asyncio.run(write())


def chat(proxy: ProxyHarness, customer: str) -> openai.types.chat.ChatCompletion:
    client = openai.OpenAI(base_url=f"{proxy.url}/c/{customer}/openai/v1", api_key=PROXY_KEY, max_retries=0)
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


def readyz(proxy: ProxyHarness) -> dict:
    return httpx.get(proxy.url + "/readyz", timeout=5).json()


def test_serves_and_buffers_through_an_outage_then_catches_up(
    make_proxy: ProxyFactory, openai_upstream: BackgroundServer, relay: RelayThread, schema: str
) -> None:
    proxy = start(make_proxy, openai_upstream, relay, schema, "serve")
    wait_until(lambda: readyz(proxy)["status"] == "ready", "ready")
    chat(proxy, "outage-a")
    relay.cut()
    wait_until(lambda: readyz(proxy)["checks"]["consent_store"] is False, "the consent store to be lost")
    wait_until(lambda: readyz(proxy)["checks"]["ledger"] is False, "the ledger to fail")
    body = readyz(proxy)
    assert body["status"] == "degraded" and body["ready"] is True
    withdraw_directly(schema, "outage-b")
    for _ in range(4):
        chat(proxy, "outage-a")
    chat(proxy, "outage-b")  # the withdrawal is not known here yet: the consent last read applies
    assert proxy.scrape("consentry_ledger_queue_depth") >= 5
    assert proxy.scrape("consentry_consent_store_up") == 0
    relay.restore()
    wait_until(lambda: readyz(proxy)["status"] == "ready", "recovery")
    with pytest.raises(openai.PermissionDeniedError) as refused:
        chat(proxy, "outage-b")
    assert "consent_withdrawn" in str(refused.value.body)
    wait_until(lambda: proxy.scrape("consentry_ledger_queue_depth") == 0, "the buffer to be written")
    assert len(proxy.records("outage-a")) == 5


def test_refuse_policy_refuses_in_the_provider_shape(
    make_proxy: ProxyFactory, openai_upstream: BackgroundServer, relay: RelayThread, schema: str
) -> None:
    proxy = start(make_proxy, openai_upstream, relay, schema, "refuse")
    wait_until(lambda: readyz(proxy)["status"] == "ready", "ready")
    relay.cut()
    wait_until(lambda: readyz(proxy)["checks"]["consent_store"] is False, "the consent store to be lost")
    assert readyz(proxy)["status"] == "not_ready"
    with pytest.raises(openai.InternalServerError) as refused:
        chat(proxy, "outage-c")
    assert refused.value.status_code == 503
    assert "consent_unavailable" in str(refused.value.body)
    assert refused.value.response.headers["Retry-After"] == "2"
    relay.restore()
    wait_until(lambda: readyz(proxy)["status"] == "ready", "recovery")
    assert chat(proxy, "outage-c").choices
