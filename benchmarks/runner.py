"""The load generator: a fixed number of concurrent workers sending one case to one endpoint.

Every phase is bounded twice, by a request count and by a deadline, so a stuck proxy can slow a
run down but never hang it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
from yarl import URL

from benchmarks.cases import Case, Endpoint, Reply, variant_sentence

READ_CHUNK = 64 * 1024


@dataclass
class Sample:
    ok: bool
    latency_s: float  # request sent -> last byte of the answer read
    ttfb_s: float | None = None  # streams only: request sent -> first event carrying answer text
    error: str | None = None


@dataclass
class PhaseResult:
    """All samples of one endpoint for one case, possibly gathered over several rounds."""

    requested: int = 0
    wall_s: float = 0.0  # summed over rounds: time with requests in flight
    samples: list[Sample] = field(default_factory=list)
    deadline_hit: bool = False
    client_cpu_s: float = 0.0  # this load generator's CPU while the phase ran
    server_cpu_s: float | None = None  # the proxy's CPU while the phase ran (proxy side only)
    upstream_cpu_s: float | None = None  # the fake upstream's CPU while the phase ran (both sides)

    def merge(self, other: PhaseResult) -> None:
        self.requested += other.requested
        self.wall_s += other.wall_s
        self.client_cpu_s += other.client_cpu_s
        if other.server_cpu_s is not None:
            self.server_cpu_s = (self.server_cpu_s or 0.0) + other.server_cpu_s
        if other.upstream_cpu_s is not None:
            self.upstream_cpu_s = (self.upstream_cpu_s or 0.0) + other.upstream_cpu_s
        self.samples.extend(other.samples)
        self.deadline_hit = self.deadline_hit or other.deadline_hit

    @property
    def errors(self) -> int:
        return sum(1 for s in self.samples if not s.ok)

    def error_kinds(self, limit: int = 5) -> dict[str, int]:
        kinds = Counter(s.error or "?" for s in self.samples if not s.ok)
        return dict(kinds.most_common(limit))


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), without numpy."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class Variants:
    """Hands out the variant sentence of each request, unique across the whole run."""

    def __init__(self, repeat: bool) -> None:
        self.repeat = repeat
        self.issued = 0

    def next(self) -> str:
        if self.repeat:
            return ""
        self.issued += 1
        return variant_sentence(self.issued)


async def send_one(session: aiohttp.ClientSession, case: Case, endpoint: Endpoint, variant: str) -> Sample:
    url = case.url(endpoint)
    body = case.body(variant)
    headers = case.headers(endpoint, url, body)
    parser = case.stream_parser() if case.streaming and case.stream_parser is not None else None
    started = time.perf_counter()
    ttfb: float | None = None
    try:
        # encoded=True: the URL goes out exactly as the case built it. yarl would otherwise decode
        # e.g. Bedrock's `%3A` in model ids, and the path on the wire would not be the signed one.
        async with session.request(
            case.method, URL(url, encoded=True), data=body, headers=headers
        ) as response:
            body = b""
            if parser is not None and response.status == 200:
                # Feed the parser as bytes arrive, so the first-content time is when the client
                # could have shown the first words, not when the whole stream was buffered.
                async for data in response.content.iter_chunked(READ_CHUNK):
                    parser.feed(data)
                    if ttfb is None and parser.content_started:
                        ttfb = time.perf_counter() - started
            else:
                body = await response.read()
            latency = time.perf_counter() - started
            reply = Reply(status=response.status, headers=response.headers, body=body, stream=parser)
    except (TimeoutError, aiohttp.ClientError) as exc:
        return Sample(False, time.perf_counter() - started, error=type(exc).__name__)
    # Validation runs after the clock stopped: it is the benchmark's cost, not the proxy's.
    try:
        problem = case.validate(endpoint, reply, variant)
    except Exception as exc:  # a validator bug must count as an error, not abort the run
        problem = f"validator raised {exc!r}"
    if problem is None and parser is not None and ttfb is None:
        problem = "stream carried no answer text"
    return Sample(problem is None, latency, ttfb, problem)


async def run_phase(
    session: aiohttp.ClientSession,
    case: Case,
    endpoint: Endpoint,
    count: int,
    concurrency: int,
    deadline_s: float,
    variants: Variants,
) -> PhaseResult:
    """Send `count` requests with `concurrency` in flight, stopping early at `deadline_s`."""
    result = PhaseResult(requested=count)
    issued = 0
    started = time.perf_counter()
    deadline = started + deadline_s

    async def worker() -> None:
        nonlocal issued
        # `issued` is checked and bumped with no await in between, so workers never overshoot.
        while issued < count:
            if time.perf_counter() > deadline:
                result.deadline_hit = True
                return
            issued += 1
            result.samples.append(await send_one(session, case, endpoint, variants.next()))

    await asyncio.gather(*(worker() for _ in range(min(concurrency, count))))
    result.wall_s = time.perf_counter() - started
    return result


@dataclass
class Summary:
    requested: int
    completed: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    ttfb_p50_ms: float | None
    ttfb_p99_ms: float | None
    deadline_hit: bool
    error_kinds: dict[str, int]
    # Near 1.0 means the load generator itself was the bottleneck (it is one Python process):
    # typical of the direct side, whose rps is then a floor for what the fake can do.
    client_cpu_util: float
    proxy_cpu_ms_per_request: float | None
    # The same for the fake upstream: near 1.0 on the direct side means the fake was the bottleneck.
    upstream_cpu_util: float | None


def summarize(result: PhaseResult) -> Summary:
    # Latencies only of correct answers: a fast refusal must not make the proxy look quick. Errors
    # are reported next to them, and any error fails the run.
    good = [s for s in result.samples if s.ok]
    latencies = [s.latency_s * 1000 for s in good]
    ttfbs = [s.ttfb_s * 1000 for s in good if s.ttfb_s is not None]
    return Summary(
        requested=result.requested,
        completed=len(result.samples),
        errors=result.errors,
        rps=len(good) / result.wall_s if result.wall_s > 0 else math.nan,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        mean_ms=sum(latencies) / len(latencies) if latencies else math.nan,
        ttfb_p50_ms=percentile(ttfbs, 50) if ttfbs else None,
        ttfb_p99_ms=percentile(ttfbs, 99) if ttfbs else None,
        deadline_hit=result.deadline_hit,
        error_kinds=result.error_kinds(),
        client_cpu_util=result.client_cpu_s / result.wall_s if result.wall_s > 0 else math.nan,
        proxy_cpu_ms_per_request=(
            1000.0 * result.server_cpu_s / len(result.samples)
            if result.server_cpu_s is not None and result.samples
            else None
        ),
        upstream_cpu_util=(
            result.upstream_cpu_s / result.wall_s
            if result.upstream_cpu_s is not None and result.wall_s > 0
            else None
        ),
    )
