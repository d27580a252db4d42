"""Streaming export (keyset pages) and the SQL summary, run against both ledger backends."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from models.sharing import EntityTally, SharingRecord
from proxy.ledger.base import BatchingLedger
from tests.ledger_backends import BACKENDS, Store, backend_store, record

MANUAL = 3600.0


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with backend_store(request.param, tmp_path) as s:
        yield s


async def fill(ledger: BatchingLedger, records: Iterable[SharingRecord]) -> None:
    for r in records:
        ledger.submit(r)
    assert await ledger.flush()


async def collect(ledger: BatchingLedger, customer_id: str, **options: Any) -> list[SharingRecord]:
    return [r async for r in ledger.iter_for_customer(customer_id, **options)]


async def ids(ledger: BatchingLedger, customer_id: str, **options: Any) -> list[str]:
    return [r.request_id for r in await collect(ledger, customer_id, **options)]


def ordered(records: Iterable[SharingRecord]) -> list[SharingRecord]:
    return sorted(records, key=lambda r: (r.timestamp, r.request_id))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


class PageCounter:
    """Wraps a ledger's `_page` to see how many records each query returned."""

    def __init__(self, ledger: BatchingLedger) -> None:
        self.sizes: list[int] = []
        inner = ledger._page

        async def page(*args: Any) -> Any:
            found, cursor = await inner(*args)
            self.sizes.append(len(found))
            return found, cursor

        ledger._page = page  # type: ignore[method-assign]


async def test_pages_cross_equal_timestamps_without_gaps_or_repeats(store: Store) -> None:
    ledger = store.ledger(flush_interval_s=MANUAL, batch_size=500)
    await ledger.start()
    try:
        # 5 instants x 5 records each: page boundaries fall inside runs of one timestamp.
        same = [
            record(n, timestamp=f"2026-03-01T10:00:0{n % 5}.500+00:00", request_id=f"req-{(n * 7) % 25:04d}")
            for n in range(25)
        ]
        await fill(ledger, [*same, record(100, customer="cust-b")])
        counter = PageCounter(ledger)
        for page_size in (1, 3, 4, 5, 25, 1000):
            assert await collect(ledger, "cust-a", page_size=page_size) == ordered(same), page_size
        # A full last page costs one more (empty) query, never a repeat.
        assert max(counter.sizes) <= 1000
        got = await collect(ledger, "cust-a", page_size=4)
        assert len({r.request_id for r in got}) == 25
        assert await collect(ledger, "nobody") == []
        with pytest.raises(ValueError, match="page_size"):
            await collect(ledger, "cust-a", page_size=0)
    finally:
        await ledger.close()


async def test_filters_since_inclusive_until_exclusive_and_provider(store: Store) -> None:
    ledger = store.ledger(flush_interval_s=MANUAL)
    await ledger.start()
    try:
        # Compared by request id: PostgreSQL reads the first timestamp back spelt ".000".
        r1 = record(1, timestamp="2026-03-01T00:00:00+00:00")  # no fraction at all
        r2 = record(2, timestamp="2026-03-01T00:00:05.120+00:00", provider="azure")
        r3 = record(3, timestamp="2026-03-01T00:00:05.120001+00:00")
        r4 = record(4, timestamp="2026-03-02T00:00:00.000+00:00", provider="azure")
        other = record(5, customer="cust-b", timestamp="2026-03-01T00:00:05.120+00:00")
        await fill(ledger, [r4, r3, r2, r1, other])

        bound = datetime(2026, 3, 1, 0, 0, 5, 120000, tzinfo=UTC)  # r2's instant, spelt ".12"
        assert await ids(ledger, "cust-a", since=bound) == ["req-0002", "req-0003", "req-0004"]
        assert await ids(ledger, "cust-a", until=bound) == ["req-0001"]
        assert await ids(ledger, "cust-a", since=bound, until=at("2026-03-02T00:00:00+00:00")) == [
            "req-0002",
            "req-0003",
        ]
        midnight = at("2026-03-01T00:00:00+00:00")
        assert await ids(ledger, "cust-a", since=midnight, until=midnight) == []
        assert await ids(ledger, "cust-a", until=midnight + timedelta(microseconds=1)) == ["req-0001"]
        # Any zone in, compared as UTC.
        plus2 = timezone(timedelta(hours=2))
        assert await ids(ledger, "cust-a", since=datetime(2026, 3, 2, 2, tzinfo=plus2)) == ["req-0004"]
        assert await ids(ledger, "cust-a", provider="azure") == ["req-0002", "req-0004"]
        assert await ids(ledger, "cust-a", provider="azure", page_size=1, until=bound) == []
        assert await ids(ledger, "cust-a", provider="gemini") == []
        with pytest.raises(ValueError, match="timezone-aware"):
            await ids(ledger, "cust-a", since=datetime(2026, 3, 1))
    finally:
        await ledger.close()


async def test_ten_thousand_records_stream_in_bounded_pages(store: Store) -> None:
    ledger = store.ledger(flush_interval_s=MANUAL, batch_size=2000)
    await ledger.start()
    try:
        many = [record(n, request_id=f"req-{n:06d}") for n in range(10_250)]
        await fill(ledger, [*many, *(record(n, customer="cust-b", request_id=f"b-{n}") for n in range(50))])
        counter = PageCounter(ledger)
        seen = 0
        previous: tuple[str, str] | None = None
        async for r in ledger.iter_for_customer("cust-a", page_size=300):
            key = (r.timestamp, r.request_id)
            assert previous is None or key > previous
            previous = key
            seen += 1
        assert seen == 10_250
        # 35 pages: 34 full ones and the short last one; no page over the size asked for.
        assert counter.sizes == [300] * 34 + [50]
    finally:
        await ledger.close()


async def test_probe_rows_never_show(store: Store) -> None:
    ledger = store.ledger(flush_interval_s=MANUAL)
    await ledger.start()
    try:
        # As if a probe row had been left behind (a probe never commits one).
        probe = record(
            1, customer="cust-a", decision="probe", operation="probe", request_id="consentry-probe-x"
        )
        real = record(2)
        await fill(ledger, [probe, real])
        assert await collect(ledger, "cust-a") == [real]
        summary = await ledger.summary(None)
        assert summary["total"] == 1
    finally:
        await ledger.close()


def tally(**counts: int) -> dict[str, EntityTally]:
    return {etype: EntityTally(n, "mask") for etype, n in counts.items()}


SUMMARY_RECORDS = [
    # cust-a: January (last millisecond of it, UTC) and February
    record(1, timestamp="2026-01-31T23:59:59.999+00:00", entities=tally(PERSON=2, EMAIL_ADDRESS=1)),
    record(2, timestamp="2026-02-01T00:00:00.000+00:00", decision="blocked", entities=tally(PERSON=1)),
    record(3, timestamp="2026-02-10T12:00:00.000+00:00", provider="azure", entities={}),
    record(
        4,
        timestamp="2026-02-11T12:00:00.000+00:00",
        provider="azure",
        decision="failed",
        entities=tally(IBAN_CODE=3, PERSON=4),
    ),
    # cust-b: only in the all-customers summary
    record(5, customer="cust-b", timestamp="2026-03-05T00:00:00.000+00:00", entities=tally(PERSON=10)),
]


async def test_summary_matches_hand_counts(store: Store) -> None:
    ledger = store.ledger(flush_interval_s=MANUAL)
    await ledger.start()
    try:
        await fill(ledger, SUMMARY_RECORDS)
        assert await ledger.summary("cust-a") == {
            "customer_id": "cust-a",
            "since": None,
            "until": None,
            "total": 4,
            "by_provider": {
                "azure": {"records": 2, "forwarded": 1, "blocked": 0, "failed": 1},
                "openai": {"records": 2, "forwarded": 1, "blocked": 1, "failed": 0},
            },
            "by_entity_type": {
                "EMAIL_ADDRESS": {"entities": 1, "records": 1},
                "IBAN_CODE": {"entities": 3, "records": 1},
                "PERSON": {"entities": 7, "records": 3},
            },
            "by_month": {"2026-01": {"openai": 1}, "2026-02": {"openai": 1, "azure": 2}},
        }

        everyone = await ledger.summary(None)
        assert everyone["customer_id"] is None
        assert everyone["total"] == 5
        assert everyone["by_provider"]["openai"] == {"records": 3, "forwarded": 2, "blocked": 1, "failed": 0}
        assert everyone["by_entity_type"]["PERSON"] == {"entities": 17, "records": 4}
        assert everyone["by_month"]["2026-03"] == {"openai": 1}

        windowed = await ledger.summary(
            "cust-a", since=at("2026-02-01T00:00:00+00:00"), until=at("2026-02-11T12:00:00+00:00")
        )
        assert windowed["since"] == "2026-02-01T00:00:00.000+00:00"
        assert windowed["until"] == "2026-02-11T12:00:00.000+00:00"
        assert windowed["total"] == 2
        assert windowed["by_provider"] == {
            "azure": {"records": 1, "forwarded": 1, "blocked": 0, "failed": 0},
            "openai": {"records": 1, "forwarded": 0, "blocked": 1, "failed": 0},
        }
        assert windowed["by_entity_type"] == {"PERSON": {"entities": 1, "records": 1}}
        assert windowed["by_month"] == {"2026-02": {"openai": 1, "azure": 1}}

        empty = await ledger.summary("nobody")
        assert empty["total"] == 0 and empty["by_provider"] == {} and empty["by_month"] == {}
    finally:
        await ledger.close()
