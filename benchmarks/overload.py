"""Open-loop overload: what callers get at 0.5x, 1x, 2x and 4x the proxy's detection capacity.

    python -m benchmarks.overload [--workers 2] [--seconds 10] [--upstream-delay 0.3]
                                  [--max-queue-wait 0.5] [--json out.json]

Three OS processes on loopback: a fake OpenAI upstream that answers after `--upstream-delay`, the
real proxy (`python -m proxy.cli serve`) and this load generator. Every request is a fresh ~1 KB
prompt with personal data (the detection cache never answers). Capacity is measured by a
saturating run (what the proxy serves when offered far more); then requests are sent at fixed
rates regardless of answers (open loop, as independent callers do) and each is counted as served,
shed (429 with Retry-After), failed (any other status) or dropped (no answer at all).

What admission control promises: accepted requests keep their latency near the unloaded one,
shed requests are answered at once, no connection is dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from benchmarks.cases import CUSTOMER_ID, OPENAI_UPSTREAM_KEY, PROXY_APP, PROXY_KEY
from benchmarks.processes import start_fake_upstream, start_proxy

NAMES = ("Jane Doe", "Olga Petrova", "Oskar Lindqvist", "Maria Garcia", "Tom Baker", "Anna Schmidt")


def make_slow_upstream(recorder: Any, delay_s: float = 0.3) -> web.Application:
    """An OpenAI chat endpoint that answers "ok" after `delay_s` (a model's time to first byte)."""

    async def chat(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(delay_s)
        message = {"role": "assistant", "content": "ok"}
        return web.json_response(
            {
                "id": "chatcmpl-bench",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


def prompt(i: int) -> bytes:
    name = NAMES[i % len(NAMES)]
    email = f"{name.split()[0].lower()}.{i}@example.com"
    filler = f"Request {i}: the quarterly report for region {i % 7} needs a summary by Friday. " * 10
    content = f"Please write to {name} at {email} or call +1 415 555 {i % 10000:04d}. {filler}"
    return orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]})


@dataclass
class Phase:
    label: str
    rate: float
    sent: int = 0
    served: list[float] = field(default_factory=list)
    shed: list[float] = field(default_factory=list)
    failed: dict[int, int] = field(default_factory=dict)
    dropped: int = 0
    retry_after: set[str] = field(default_factory=set)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def one(session: aiohttp.ClientSession, url: str, body: bytes, phase: Phase) -> None:
    started = time.monotonic()
    try:
        async with session.post(url, data=body, headers={"Authorization": f"Bearer {PROXY_KEY}"}) as reply:
            await reply.read()
            elapsed = time.monotonic() - started
            if reply.status == 200:
                phase.served.append(elapsed)
            elif reply.status == 429:
                phase.shed.append(elapsed)
                phase.retry_after.add(reply.headers.get("Retry-After", "missing"))
            else:
                phase.failed[reply.status] = phase.failed.get(reply.status, 0) + 1
    except (TimeoutError, aiohttp.ClientError):
        phase.dropped += 1


async def open_loop(
    session: aiohttp.ClientSession, url: str, phase: Phase, seconds: float, first: int
) -> None:
    interval = 1.0 / phase.rate
    started = time.monotonic()
    tasks: list[asyncio.Task[None]] = []
    for n in range(int(seconds * phase.rate)):
        await asyncio.sleep(max(0.0, started + n * interval - time.monotonic()))
        tasks.append(asyncio.create_task(one(session, url, prompt(first + n), phase)))
        phase.sent += 1
    await asyncio.gather(*tasks)


def row(phase: Phase) -> str:
    served, shed = phase.served, phase.shed
    failed = sum(phase.failed.values())
    served_ms = f"{percentile(served, 0.5) * 1000:.0f} / {percentile(served, 0.99) * 1000:.0f}"
    shed_ms = f"{percentile(shed, 0.5) * 1000:.0f} / {percentile(shed, 0.99) * 1000:.0f}"
    return (
        f"| {phase.label} | {phase.rate:.0f} | {phase.sent} | {len(served)} | {served_ms} | "
        f"{len(shed)} | {shed_ms} | {failed} | {phase.dropped} |"
    )


async def run(args: argparse.Namespace, workdir: Path) -> list[Phase]:
    upstream = start_fake_upstream(
        "openai", "benchmarks.overload:make_slow_upstream", {"delay_s": args.upstream_delay}, workdir
    )
    config = {
        "apps": {"bench": PROXY_APP},
        "providers": {"openai": {"base_url": upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        "ledger": {"path": str(workdir / "ledger.db")},
        "hash_key": "bench-hash-key",
        "detection": {"workers": args.workers, "max_queue_wait_s": args.max_queue_wait},
        "log_level": "WARNING",
    }
    proxy = start_proxy(config, workdir)
    try:
        await upstream.wait_ready("/v1/chat/completions", 30, any_status=True)
        await proxy.wait_ready("/readyz", 180)
        url = f"{proxy.url}/c/{CUSTOMER_ID}/openai/v1/chat/completions"
        timeout = aiohttp.ClientTimeout(total=60)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            unloaded = Phase("unloaded", 2.0)
            await open_loop(session, url, unloaded, 10, 0)  # one at a time: nothing queues
            # Capacity: what the proxy serves when offered far more (the rest is shed).
            saturated = Phase("saturation", 100.0 * args.workers)
            await open_loop(session, url, saturated, 5, 1_000_000)
            capacity = len(saturated.served) / 5
            await asyncio.sleep(2)
            phases = [unloaded]
            for multiple in (0.5, 1.0, 2.0, 4.0):
                phase = Phase(f"{multiple}x", capacity * multiple)
                await open_loop(session, url, phase, args.seconds, 100_000 * len(phases))
                phases.append(phase)
                await asyncio.sleep(2)  # the queue drains between phases
        print(f"estimated capacity {capacity:.0f} requests/s ({args.workers} workers)")
        return phases
    finally:
        proxy.stop()
        upstream.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.overload", description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="detection.workers (default 2)")
    parser.add_argument("--seconds", type=float, default=10, help="seconds per load level (default 10)")
    parser.add_argument("--upstream-delay", type=float, default=0.3, help="fake upstream answer time (0.3 s)")
    parser.add_argument("--max-queue-wait", type=float, default=0.5, help="detection.max_queue_wait_s (0.5)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this path")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="consentry-overload-"))
    try:
        phases = asyncio.run(run(args, workdir))
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
    columns = ("load", "offered/s", "sent", "served", "served p50 / p99 ms", "shed", "shed p50 / p99 ms")
    print("| " + " | ".join((*columns, "failed", "dropped")) + " |")
    print("|---|---|---|---|---|---|---|---|---|")
    for phase in phases:
        print(row(phase))
    retry_after = sorted({value for phase in phases for value in phase.retry_after})
    print(f"Retry-After values seen: {', '.join(retry_after) or 'none'}")
    unloaded_p99 = percentile(phases[0].served, 0.99)
    worst = max(percentile(p.served, 0.99) for p in phases if p.served)
    print(
        f"served p99: unloaded {unloaded_p99 * 1000:.0f} ms, worst level {worst * 1000:.0f} ms "
        f"({worst / unloaded_p99:.1f}x)"
    )
    if args.json:
        args.json.write_text(orjson.dumps([asdict(p) for p in phases], option=orjson.OPT_INDENT_2).decode())
    return 1 if any(p.dropped for p in phases) else 0


if __name__ == "__main__":
    raise SystemExit(main())
