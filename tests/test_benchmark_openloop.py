"""The open-loop generator's own logic (benchmarks/openloop.py): its schedules, and how it tells an
accepted answer, a shed one and a dropped connection apart. No timing is asserted: the benchmarks
themselves run on demand, never here."""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections.abc import AsyncIterator

import pytest

from benchmarks.cases import Case, Endpoint, Reply
from benchmarks.openloop import arrival_schedule, client_session, run_schedule, send, summarize
from benchmarks.soak import slope_per_minute


def test_uniform_arrivals_are_evenly_spaced_and_bounded() -> None:
    assert arrival_schedule(10, 2.0, 1000, "uniform") == [i / 10 for i in range(20)]
    assert len(arrival_schedule(10, 2.0, 7, "uniform")) == 7
    assert arrival_schedule(3, 1.0, 100, "uniform") == [0.0, 1 / 3, 2 / 3]


def test_poisson_arrivals_repeat_with_their_seed_and_keep_the_rate() -> None:
    times = arrival_schedule(50, 200.0, 100_000, "poisson", seed=7)
    assert times == arrival_schedule(50, 200.0, 100_000, "poisson", seed=7)
    assert times != arrival_schedule(50, 200.0, 100_000, "poisson", seed=8)
    assert times[0] == 0.0 and times == sorted(times) and times[-1] < 200.0
    assert len(times) == pytest.approx(50 * 200, rel=0.05)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # exponential gaps: mean and standard deviation both 1/rate
    assert statistics.mean(gaps) == pytest.approx(1 / 50, rel=0.05)
    assert statistics.stdev(gaps) == pytest.approx(1 / 50, rel=0.1)
    assert len(arrival_schedule(50, 200.0, 123, "poisson")) == 123


@pytest.mark.parametrize("rate, duration, cap", [(0, 1, 1), (1, 0, 1), (1, 1, 0), (-1, 5, 5)])
def test_empty_schedules(rate: float, duration: float, cap: int) -> None:
    assert arrival_schedule(rate, duration, cap) == []


def test_slope_per_minute() -> None:
    assert slope_per_minute([(0, 10), (30, 11), (60, 12)]) == pytest.approx(2.0)
    assert slope_per_minute([(5, 3)]) == 0.0


# ---- outcomes, against a server that answers, sheds or hangs up depending on the path

ANSWERS = {
    b"/ok": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"/shed": b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n",
    b"/busy": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
    b"/wrong": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno",
    b"/cut": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok",
    b"/drop": b"",
}


@pytest.fixture()
async def server() -> AsyncIterator[str]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        path = head.split(b" ", 2)[1]
        writer.write(ANSWERS[path])
        await writer.drain()
        writer.close()  # after the answer, or instead of one

    listener = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    listener.close()
    await listener.wait_closed()


def case_for(path: str) -> Case:
    def validate(endpoint: Endpoint, reply: Reply, variant: str) -> str | None:
        return None if reply.body == b"ok" else "not ok"

    return Case(
        name=path,
        upstream="openai",
        description="",
        method="GET",
        url=lambda endpoint: endpoint.base_url + path,
        headers=lambda endpoint, url, body: {},
        body=lambda variant: b"",
        validate=validate,
    )


async def test_each_request_ends_in_one_outcome(server: str) -> None:
    expected = {
        "/ok": ("accepted", 200),
        "/shed": ("shed", 429),
        "/busy": ("shed", 503),
        "/wrong": ("error", 200),
        "/cut": ("error", 200),
        "/drop": ("dropped", None),
    }
    endpoint = Endpoint("proxy", server)
    async with client_session(5.0) as session:
        for path, (outcome, status) in expected.items():
            result = await send(session, case_for(path), endpoint, "")
            assert (result.outcome, result.status) == (outcome, status), (path, result)
        shed = await send(session, case_for("/shed"), endpoint, "")
        busy = await send(session, case_for("/busy"), endpoint, "")
    assert shed.retry_after and not busy.retry_after


async def test_a_schedule_runs_every_request_and_summarizes(server: str) -> None:
    paths = ["/ok", "/shed", "/drop", "/ok"]
    endpoint = Endpoint("proxy", server)
    async with client_session(5.0) as session:
        run = await run_schedule(
            arrival_schedule(200, 1.0, len(paths), "uniform"),
            lambda i: send(session, case_for(paths[i]), endpoint, ""),
        )
    summary = summarize(200, len(paths), run)
    assert summary.sent == 4
    assert summary.counts == {
        "accepted": 2,
        "shed": 1,
        "error": 0,
        "timeout": 0,
        "dropped": 1,
        "aborted": 0,
    }
    assert summary.shed_429 == 1 and summary.shed_without_retry_after == 0
