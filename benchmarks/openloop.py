"""Open-loop load: requests leave on a fixed schedule, whatever happened to the ones before them.

The closed-loop generator (`benchmarks/runner.py`) sends a request when another completes, so a
slow server slows the load down with it and its queue never shows. Real callers do not wait for
each other. Here every request is its own task, started at its scheduled time (Poisson or uniform
arrivals, bounded by a count and a duration), and ends in exactly one outcome:

- `accepted`: status 200 and the right answer;
- `shed`: 429 or 503, work refused (noted: with or without `Retry-After`);
- `error`: any other status, a wrong answer, or an answer cut after its status line;
- `timeout`: no complete answer within the client's timeout;
- `dropped`: the connection ended (closed, reset, refused) with no HTTP answer at all;
- `aborted`: the client itself left a stream after its first words (`benchmarks.soak`).

Loopback only: the endpoints are the child processes of `benchmarks/processes.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
from yarl import URL

from benchmarks.cases import PROXY_APP, UPSTREAMS, Case, Endpoint, Reply, select_cases
from benchmarks.processes import ChildProcess, start_fake_upstream, start_proxy
from benchmarks.runner import percentile

Arrivals = Literal["poisson", "uniform"]
Outcome = Literal["accepted", "shed", "error", "timeout", "dropped", "aborted"]
OUTCOMES: tuple[Outcome, ...] = ("accepted", "shed", "error", "timeout", "dropped", "aborted")
SHED_STATUSES = frozenset({429, 503})
READ_CHUNK = 64 * 1024
# The OpenAI fake answering like a model (benchmarks/fake_apps.py); the only upstream these use.
PACED_OPENAI_FACTORY = "benchmarks.fake_apps:make_paced_openai_app"


def arrival_schedule(
    rate: float, duration_s: float, max_requests: int, arrivals: Arrivals = "poisson", seed: int = 0
) -> list[float]:
    """Send times in seconds from the start: `rate` per second on average, all before `duration_s`,
    at most `max_requests`. Poisson arrivals have exponential gaps (seeded, so runs repeat);
    uniform ones are evenly spaced. The first request leaves at 0."""
    if rate <= 0 or duration_s <= 0 or max_requests <= 0:
        return []
    if arrivals == "uniform":
        count = min(max_requests, math.ceil(rate * duration_s - 1e-9))
        return [i / rate for i in range(count)]
    if arrivals != "poisson":
        raise ValueError(f"unknown arrivals {arrivals!r}: poisson or uniform")
    rng = random.Random(seed)
    times: list[float] = []
    at = 0.0
    while at < duration_s and len(times) < max_requests:
        times.append(at)
        at += rng.expovariate(rate)
    return times


@dataclass
class Result:
    outcome: Outcome
    latency_s: float  # request sent -> answer read (or the failure noticed)
    status: int | None = None
    detail: str = ""  # what went wrong: an exception type, a status, a validator's message
    retry_after: bool = False  # shed answers: whether they said when to come back
    ttfb_s: float | None = None  # streams: request sent -> first answer text
    lag_s: float = 0.0  # how late the generator sent it, against its schedule


async def send(
    session: aiohttp.ClientSession,
    case: Case,
    endpoint: Endpoint,
    variant: str,
    *,
    abort_stream: bool = False,
) -> Result:
    """One request of `case`, classified (see the module docstring); never raises."""
    url = case.url(endpoint)
    body = case.body(variant)
    headers = case.headers(endpoint, url, body)
    parser = case.stream_parser() if case.streaming and case.stream_parser is not None else None
    started = time.perf_counter()
    status: int | None = None
    ttfb: float | None = None
    try:
        # encoded=True: the URL goes out exactly as built (see benchmarks/runner.py).
        async with session.request(
            case.method, URL(url, encoded=True), data=body, headers=headers
        ) as response:
            status = response.status
            answer = b""
            if parser is not None and status == 200:
                async for data in response.content.iter_chunked(READ_CHUNK):
                    parser.feed(data)
                    if ttfb is None and parser.content_started:
                        ttfb = time.perf_counter() - started
                        if abort_stream:
                            response.close()  # the connection goes, as when a user closes the tab
                            return Result("aborted", ttfb, status, ttfb_s=ttfb)
            else:
                answer = await response.read()
            latency = time.perf_counter() - started
            reply = Reply(status=status, headers=response.headers, body=answer, stream=parser)
    except TimeoutError:
        after = " after the status line" if status is not None else ""
        return Result("timeout", time.perf_counter() - started, status, "timeout" + after)
    except aiohttp.ClientError as exc:
        elapsed = time.perf_counter() - started
        if status is not None:
            return Result("error", elapsed, status, f"answer cut ({type(exc).__name__})")
        if isinstance(exc, aiohttp.ClientConnectionError):
            return Result("dropped", elapsed, None, type(exc).__name__)
        return Result("error", elapsed, None, f"unreadable answer ({type(exc).__name__})")
    if status in SHED_STATUSES:
        return Result("shed", latency, status, f"status {status}", retry_after="Retry-After" in reply.headers)
    if status != 200:
        return Result("error", latency, status, f"status {status}")
    try:
        problem = case.validate(endpoint, reply, variant)
    except Exception as exc:  # a validator bug is this request's error, not the run's end
        problem = f"validator raised {type(exc).__name__}"
    if problem is None and parser is not None and ttfb is None:
        problem = "stream carried no answer text"
    if problem is not None:
        return Result("error", latency, status, problem[:120])
    return Result("accepted", latency, status, ttfb_s=ttfb)


@dataclass
class Tally:
    """Live counters while a schedule runs, for the progress line."""

    planned: int = 0
    sent: int = 0
    done: Counter[str] = field(default_factory=Counter)

    @property
    def in_flight(self) -> int:
        return self.sent - sum(self.done.values())

    def line(self) -> str:
        counts = " ".join(f"{o} {self.done[o]}" for o in OUTCOMES if self.done[o] or o != "aborted")
        return f"sent {self.sent}/{self.planned}, in flight {self.in_flight}: {counts}"


@dataclass
class ScheduleRun:
    results: list[Result]
    span_s: float  # first scheduled send -> last answer
    client_cpu_s: float  # this process's CPU meanwhile


async def run_schedule(
    schedule: Sequence[float],
    request: Callable[[int], Awaitable[Result]],
    *,
    progress: Callable[[float, Tally], None] | None = None,
    progress_every_s: float = 2.0,
) -> ScheduleRun:
    """Start `request(i)` at `schedule[i]` seconds from now, each in its own task; wait for all.

    Sending never waits for an answer. If this process falls behind (its own CPU), a request
    leaves late rather than being skipped, and its `lag_s` says by how much.
    """
    loop = asyncio.get_running_loop()
    tally = Tally(planned=len(schedule))
    results: list[Result | None] = [None] * len(schedule)
    cpu_before = time.process_time()
    begin = loop.time() + 0.05

    async def one(index: int, at: float) -> None:
        lag = loop.time() - (begin + at)
        tally.sent += 1
        result = await request(index)
        result.lag_s = max(0.0, lag)
        results[index] = result
        tally.done[result.outcome] += 1

    async def report() -> None:
        while True:
            await asyncio.sleep(progress_every_s)
            assert progress is not None
            progress(loop.time() - begin, tally)

    reporter = asyncio.create_task(report()) if progress is not None else None
    tasks: list[asyncio.Task[None]] = []
    try:
        for index, at in enumerate(schedule):
            delay = begin + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, at)))
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        if reporter is not None:
            reporter.cancel()
    span = loop.time() - begin
    if progress is not None:
        progress(span, tally)
    return ScheduleRun([r for r in results if r is not None], span, time.process_time() - cpu_before)


@dataclass
class Summary:
    """One schedule's results, as the tables show them. Latencies in milliseconds."""

    offered_rps: float
    planned: int
    sent: int
    span_s: float
    counts: dict[str, int]
    achieved_rps: float  # accepted answers per second of span
    accepted_p50_ms: float
    accepted_p99_ms: float
    shed_429: int
    shed_503: int
    shed_without_retry_after: int
    shed_p50_ms: float
    shed_p99_ms: float
    lag_p99_ms: float
    client_cpu_util: float
    details: dict[str, int]  # what the errors, timeouts and drops were, most common first
    accepted_p95_ms: float = math.nan
    # Streams: request sent -> first answer text, accepted answers only (nan for other cases).
    ttfb_p50_ms: float = math.nan
    ttfb_p99_ms: float = math.nan

    @property
    def shed(self) -> int:
        return self.counts.get("shed", 0)


def summarize(offered_rps: float, planned: int, run: ScheduleRun) -> Summary:
    def ms(outcome: str, pct: float) -> float:
        return percentile([r.latency_s * 1000 for r in run.results if r.outcome == outcome], pct)

    def ttfb_ms(pct: float) -> float:
        return percentile(
            [r.ttfb_s * 1000 for r in run.results if r.outcome == "accepted" and r.ttfb_s is not None], pct
        )

    counts = Counter(r.outcome for r in run.results)
    shed = [r for r in run.results if r.outcome == "shed"]
    details = Counter(
        f"{r.outcome}: {r.detail}" for r in run.results if r.outcome in ("error", "timeout", "dropped")
    )
    return Summary(
        offered_rps=offered_rps,
        planned=planned,
        sent=len(run.results),
        span_s=run.span_s,
        counts={o: counts.get(o, 0) for o in OUTCOMES},
        achieved_rps=counts.get("accepted", 0) / run.span_s if run.span_s > 0 else math.nan,
        accepted_p50_ms=ms("accepted", 50),
        accepted_p99_ms=ms("accepted", 99),
        shed_429=sum(1 for r in shed if r.status == 429),
        shed_503=sum(1 for r in shed if r.status == 503),
        shed_without_retry_after=sum(1 for r in shed if not r.retry_after),
        shed_p50_ms=ms("shed", 50),
        shed_p99_ms=ms("shed", 99),
        lag_p99_ms=percentile([r.lag_s * 1000 for r in run.results], 99),
        client_cpu_util=run.client_cpu_s / run.span_s if run.span_s > 0 else math.nan,
        details=dict(details.most_common(6)),
        accepted_p95_ms=ms("accepted", 95),
        ttfb_p50_ms=ttfb_ms(50),
        ttfb_p99_ms=ttfb_ms(99),
    )


# ---- processes ------------------------------------------------------------------------------------


def openai_case(name: str) -> Case:
    """A case the paced OpenAI fake can answer (any `openai-*` case of benchmarks/cases.py)."""
    (case,) = select_cases([name])
    if case.upstream != "openai":
        raise ValueError(f"{name} goes to {case.upstream}; these benchmarks serve only the OpenAI fake")
    return case


def paced_openai_options(chunk_size: int, delay_s: float, stream_gap_s: float = 0.0) -> dict[str, Any]:
    return {**UPSTREAMS["openai"].options(chunk_size), "delay_s": delay_s, "stream_gap_s": stream_gap_s}


def proxy_config(
    fake_url: str,
    workdir: Path,
    *,
    detection_workers: str | None,
    log_level: str,
    cache_entries: int | None = None,
    max_queue_wait_s: float | None = None,
    server_workers: int | None = None,
) -> dict[str, Any]:
    """The proxy as `consentry serve` runs it out of the box, in front of the OpenAI fake (see
    `benchmarks.load.proxy_config`); `server_workers` sets `server.workers`, its event-loop
    processes."""
    config: dict[str, Any] = {
        "apps": {"bench": dict(PROXY_APP)},
        "providers": {"openai": UPSTREAMS["openai"].proxy_provider(fake_url)},
        "ledger": {"path": str(workdir / "ledger.db")},
        "hash_key": "bench-hash-key",
        "log_level": log_level,
    }
    detection: dict[str, Any] = {}
    if detection_workers is not None:
        workers = detection_workers
        detection["workers"] = int(workers) if workers.isdigit() else workers
    if cache_entries is not None:
        detection["cache_entries"] = cache_entries
    if max_queue_wait_s is not None:
        detection["max_queue_wait_s"] = max_queue_wait_s
    if detection:
        config["detection"] = detection
    if server_workers is not None:
        config["server"] = {"workers": server_workers}
    return config


async def detector_ready(proxy: ChildProcess, timeout_s: float, serving_processes: int = 1) -> str | None:
    """The proxy's "detector ready" log line, once every detector worker of every serving process
    (`server.workers`, each logging its own line) has loaded its model.

    `/readyz` answers 200 as soon as one worker of one process can serve; a capacity measured
    before the others are up would be too low.
    """
    deadline = time.monotonic() + timeout_s
    while proxy.log_count("detector ready") < serving_processes and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return proxy.log_line("detector ready")


async def start_paced_stack(
    workdir: Path,
    options: dict[str, Any],
    make_config: Callable[[str], dict[str, Any]],
    ready_timeout_s: float,
    children: list[ChildProcess],
    serving_processes: int = 1,
) -> tuple[ChildProcess, ChildProcess, str | None]:
    """The paced OpenAI fake and the proxy in front of it (`make_config(fake_url)`), both ready
    with every detector worker loaded, and the proxy's "detector ready" line; each process is
    appended to `children` as soon as it runs, so the caller can stop them whatever happens next."""
    fake = start_fake_upstream("openai", PACED_OPENAI_FACTORY, options, workdir)
    children.append(fake)
    proxy = start_proxy(make_config(fake.url), workdir)
    children.append(proxy)
    await fake.wait_ready("/v1/models", 30.0, any_status=True)
    ready_s = await proxy.wait_ready("/readyz", ready_timeout_s)
    detector = await detector_ready(proxy, ready_timeout_s, serving_processes)
    print(f"proxy pid {proxy.pid} ready after {ready_s:.1f}s ({detector}); fake pid {fake.pid}", flush=True)
    return fake, proxy, detector


def client_session(timeout_s: float) -> aiohttp.ClientSession:
    """Keep-alive connections as an SDK keeps them, with no cap: an open-loop caller needs one
    connection per request in flight, and a pool limit would turn it back into a closed loop."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        connector=aiohttp.TCPConnector(limit=0, limit_per_host=0),
    )


@contextlib.asynccontextmanager
async def side_sessions(timeout_s: float) -> AsyncIterator[dict[str, aiohttp.ClientSession]]:
    """One uncapped client session per side ("direct", "proxy"): neither side's connections wait
    behind the other's."""
    async with client_session(timeout_s) as direct, client_session(timeout_s) as through:
        yield {"direct": direct, "proxy": through}


def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])
