"""Overload benchmark: open-loop load at multiples of the proxy's measured capacity.

    python -m benchmarks.overload [--quick] [--levels 0.5,1,2,4] [--duration 15] [--json out.json]

Fresh ~1 KB prompts with personal data (never repeated, so the detection cache cannot help) go to
the OpenAI fake, which answers after `--upstream-delay` (300 ms, like a model), once directly and
once through the proxy. First the proxy's capacity is measured with a closed-loop ramp; then each
level sends at a fixed offered rate whatever the answers do, and the table reports per level and
side what a caller saw: accepted answers and their latency, shed answers (429/503) and theirs,
errors, timeouts and dropped connections (no HTTP answer at all), each in its own column.

The targets (issue 8) are checked on the proxy rows: accepted p99 within 2x the unloaded p99,
shed answers within 50 ms (p99) and with Retry-After, no dropped connection. The exit status is 1
if a target is missed. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from benchmarks.cases import Case, Endpoint
from benchmarks.load import load_average
from benchmarks.openloop import (
    Arrivals,
    ScheduleRun,
    Summary,
    Tally,
    arrival_schedule,
    fmt,
    markdown_table,
    openai_case,
    paced_openai_options,
    proxy_config,
    run_schedule,
    send,
    side_sessions,
    start_paced_stack,
    summarize,
)
from benchmarks.processes import ChildProcess, finish_workdir, tree_cpu_seconds
from benchmarks.runner import Variants

# The targets for the proxy under overload.
P99_VS_UNLOADED = 2.0
SHED_P99_MS = 50.0


@dataclass(frozen=True)
class Settings:
    case: str
    levels: tuple[float, ...]
    duration_s: float
    max_requests: int
    arrivals: Arrivals
    seed: int
    upstream_delay_s: float
    capacity_rps: float | None  # None: measure it
    ramp_step_s: float
    unloaded_requests: int
    request_timeout_s: float
    detection_workers: str | None
    max_queue_wait_s: float | None
    proxy_log_level: str
    ready_timeout_s: float
    progress_s: float
    settle_s: float


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.overload",
        description="Open-loop overload run, direct and through Consentry, at multiples of its capacity.",
    )
    parser.add_argument("--quick", action="store_true", help="5 s per level and a shorter ramp (~2 min)")
    parser.add_argument(
        "--case", default="openai-chat-pii", help="an openai-* case (default openai-chat-pii)"
    )
    parser.add_argument("--levels", default="0.5,1,2,4", help="multiples of capacity (default 0.5,1,2,4)")
    parser.add_argument("--duration", type=float, help="seconds of sending per level and side (default 15)")
    parser.add_argument(
        "--max-requests", type=int, default=5000, help="at most this many per level and side (5000)"
    )
    parser.add_argument("--arrivals", choices=("poisson", "uniform"), default="poisson")
    parser.add_argument("--seed", type=int, default=1, help="seed of the Poisson arrivals")
    parser.add_argument(
        "--upstream-delay", type=float, default=0.3, help="seconds the fake waits before answering (0.3)"
    )
    parser.add_argument("--capacity", type=float, help="requests/s to take as capacity instead of measuring")
    parser.add_argument("--ramp-step", type=float, help="seconds per closed-loop ramp step (default 6)")
    parser.add_argument(
        "--unloaded-requests", type=int, default=40, help="requests of the unloaded reference (40)"
    )
    parser.add_argument("--request-timeout", type=float, default=30.0, help="client timeout, seconds (30)")
    parser.add_argument(
        "--detection-workers", "--workers", help="proxy detection.workers (default: the proxy's)"
    )
    parser.add_argument(
        "--max-queue-wait", type=float, help="proxy detection.max_queue_wait_s (default: the proxy's)"
    )
    parser.add_argument("--proxy-log-level", default="INFO", help="proxy log_level (INFO)")
    parser.add_argument("--ready-timeout", type=float, default=180.0, help="seconds to wait for /readyz")
    parser.add_argument("--progress", type=float, default=2.0, help="seconds between progress lines (2)")
    parser.add_argument(
        "--settle", type=float, default=2.0, help="quiet seconds before each level and side (2)"
    )
    parser.add_argument("--json", type=Path, help="also write every number as JSON here")
    parser.add_argument("--keep-workdir", action="store_true", help="keep configs and logs")
    args = parser.parse_args(argv)
    try:
        levels = tuple(float(x) for x in args.levels.split(",") if x.strip())
    except ValueError:
        parser.error("--levels must be numbers separated by commas")
    duration = args.duration if args.duration is not None else (5.0 if args.quick else 15.0)
    ramp_step = args.ramp_step if args.ramp_step is not None else (4.0 if args.quick else 6.0)
    if not levels or min(levels) <= 0 or duration <= 0 or args.max_requests < 1 or ramp_step <= 0:
        parser.error("--levels, --duration, --max-requests and --ramp-step must be positive")
    settings = Settings(
        case=args.case,
        levels=levels,
        duration_s=duration,
        max_requests=args.max_requests,
        arrivals=args.arrivals,
        seed=args.seed,
        upstream_delay_s=args.upstream_delay,
        capacity_rps=args.capacity,
        ramp_step_s=ramp_step,
        unloaded_requests=args.unloaded_requests if not args.quick else min(args.unloaded_requests, 20),
        request_timeout_s=args.request_timeout,
        detection_workers=args.detection_workers,
        max_queue_wait_s=args.max_queue_wait,
        proxy_log_level=args.proxy_log_level.upper(),
        ready_timeout_s=args.ready_timeout,
        progress_s=args.progress,
        settle_s=args.settle,
    )
    return settings, args


# ---- capacity -------------------------------------------------------------------------------------


@dataclass
class RampStep:
    concurrency: int
    accepted_rps: float
    other: int  # answers that were not accepted (shed, errors, ...)
    p50_ms: float


async def closed_loop(
    session: aiohttp.ClientSession,
    case: Case,
    endpoint: Endpoint,
    concurrency: int,
    seconds: float,
    v: Variants,
) -> RampStep:
    """`concurrency` callers each sending the next request when the last one is answered."""
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    other = 0

    async def caller() -> None:
        nonlocal other
        while time.perf_counter() < deadline:
            result = await send(session, case, endpoint, v.next())
            if result.outcome == "accepted":
                latencies.append(result.latency_s)
            else:
                other += 1

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
    return RampStep(concurrency, len(latencies) / wall, other, p50)


async def measure_capacity(
    session: aiohttp.ClientSession, case: Case, endpoint: Endpoint, settings: Settings, v: Variants
) -> tuple[float, list[RampStep]]:
    """The best accepted rate of a closed-loop ramp: concurrency doubles from 4 until the rate
    stops growing by 10 %, or more than 5 % of answers are not accepted."""
    steps: list[RampStep] = []
    best = 0.0
    concurrency = 4
    while concurrency <= 512:
        step = await closed_loop(session, case, endpoint, concurrency, settings.ramp_step_s, v)
        steps.append(step)
        answered = step.accepted_rps * settings.ramp_step_s + step.other
        print(
            f"  ramp: {concurrency:3d} in flight -> {step.accepted_rps:6.1f} accepted/s, "
            f"p50 {fmt(step.p50_ms)} ms, {step.other} not accepted",
            flush=True,
        )
        if step.other > 0.05 * max(answered, 1):
            best = max(best, step.accepted_rps)
            break
        if step.accepted_rps < 1.1 * best:
            best = max(best, step.accepted_rps)
            break
        best = step.accepted_rps
        concurrency *= 2
    return best, steps


# ---- levels ---------------------------------------------------------------------------------------


@dataclass
class Level:
    side: str  # direct | proxy
    label: str  # "unloaded", "0.5x", ...
    factor: float | None
    summary: Summary
    proxy_cpu_s: float | None = None
    proxy_outcomes: dict[str, float] | None = None  # the proxy's own counts, "decision/status"
    proxy_log: dict[str, int] | None = None  # its WARNING+ log lines meanwhile, normalised


async def run_level(
    session: aiohttp.ClientSession,
    case: Case,
    endpoint: Endpoint,
    label: str,
    rate: float,
    schedule: list[float],
    settings: Settings,
    v: Variants,
) -> ScheduleRun:
    variants = [v.next() for _ in schedule]  # fixed before sending: no work between sends

    def progress(elapsed: float, tally: Tally) -> None:
        print(
            f"    {endpoint.kind:6} {label:>8} {rate:6.1f}/s  t={elapsed:5.1f}s  {tally.line()}", flush=True
        )

    return await run_schedule(
        schedule,
        lambda i: send(session, case, endpoint, variants[i]),
        progress=progress,
        progress_every_s=settings.progress_s,
    )


async def proxy_counts(session: aiohttp.ClientSession, proxy_url: str) -> tuple[dict[str, float], float]:
    """consentry_requests_total by "decision/status", and requests in flight, from /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    async with session.get(proxy_url + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as response:
        text = await response.text()
    counts: dict[str, float] = {}
    in_flight = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "consentry_requests_total":
                key = f"{sample.labels.get('decision')}/{sample.labels.get('status')}"
                counts[key] = counts.get(key, 0.0) + sample.value
            elif sample.name == "consentry_requests_in_flight":
                in_flight = sample.value
    return counts, in_flight


async def wait_idle(session: aiohttp.ClientSession, proxy_url: str, limit_s: float = 60.0) -> None:
    """Until the proxy has no request in flight (a level's stragglers must not meet the next)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            _, in_flight = await proxy_counts(session, proxy_url)
            if in_flight == 0:
                return
        await asyncio.sleep(0.5)


_VARIABLE = re.compile(r"\b[0-9a-f]{32}\b|\d+(\.\d+)?")


def log_lines_since(proxy: ChildProcess, offset: int) -> tuple[dict[str, int], int]:
    """WARNING, ERROR and CRITICAL lines the proxy wrote after byte `offset`, with ids and numbers
    collapsed so that repeats count together; and the new offset."""
    try:
        with proxy.log_path.open("rb") as log:
            log.seek(offset)
            data = log.read()
    except OSError:
        return {}, offset
    found: Counter[str] = Counter()
    for line in data.decode(errors="replace").splitlines():
        parts = line.split(" ", 3)  # date time LEVEL rest
        if len(parts) == 4 and parts[2] in ("WARNING", "ERROR", "CRITICAL"):
            found[_VARIABLE.sub("#", f"{parts[2]} {parts[3]}")[:140]] += 1
    return dict(found.most_common(5)), offset + len(data)


def _difference(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in sorted(after.items()) if v - before.get(k, 0.0) > 0}


async def benchmark(settings: Settings, workdir: Path) -> dict[str, Any]:
    case = openai_case(settings.case)
    children: list[ChildProcess] = []
    try:
        fake, proxy, detector = await start_paced_stack(
            workdir,
            paced_openai_options(4, settings.upstream_delay_s),
            lambda fake_url: proxy_config(
                fake_url,
                workdir,
                detection_workers=settings.detection_workers,
                max_queue_wait_s=settings.max_queue_wait_s,
                log_level=settings.proxy_log_level,
            ),
            settings.ready_timeout_s,
            children,
        )
        endpoints = {"direct": Endpoint("direct", fake.url), "proxy": Endpoint("proxy", proxy.url)}
        variants = Variants(repeat=False)
        levels: list[Level] = []
        async with side_sessions(settings.request_timeout_s) as sessions:
            through = sessions["proxy"]
            # Warm-up: spaCy's first calls, the connection pools.
            for kind in ("direct", "proxy"):
                await asyncio.gather(
                    *(send(sessions[kind], case, endpoints[kind], variants.next()) for _ in range(8))
                )
            ramp: list[RampStep] = []
            if settings.capacity_rps is not None:
                capacity = settings.capacity_rps
                print(f"capacity taken as {capacity:.1f}/s (--capacity)", flush=True)
            else:
                print(f"measuring the proxy's capacity (closed loop, {settings.ramp_step_s:.0f} s per step):")
                capacity, ramp = await measure_capacity(through, case, endpoints["proxy"], settings, variants)
                print(f"capacity: {capacity:.1f} accepted requests/s through the proxy", flush=True)
            if capacity <= 0:
                raise RuntimeError("the proxy accepted nothing while its capacity was measured")

            plan: list[tuple[str, float | None, float, int]] = []
            unloaded_rate = min(5.0, capacity / 10)
            plan.append(("unloaded", None, unloaded_rate, settings.unloaded_requests))
            for factor in settings.levels:
                plan.append((f"{factor:g}x", factor, factor * capacity, settings.max_requests))
            log_offset = 0
            for index, (label, factor, rate, cap) in enumerate(plan):
                duration = settings.duration_s if factor is not None else cap / rate
                schedule = arrival_schedule(rate, duration, cap, settings.arrivals, settings.seed + index)
                print(f"level {label}: {rate:.1f} requests/s offered for {duration:.0f} s ({len(schedule)})")
                for kind in ("direct", "proxy"):
                    await wait_idle(through, proxy.url)
                    await asyncio.sleep(settings.settle_s)
                    _, log_offset = log_lines_since(proxy, log_offset)
                    counts_before, _ = await proxy_counts(through, proxy.url)
                    cpu_before = tree_cpu_seconds(proxy.pid)
                    run = await run_level(
                        sessions[kind], case, endpoints[kind], label, rate, schedule, settings, variants
                    )
                    cpu_after = tree_cpu_seconds(proxy.pid)
                    # What was really offered: a Poisson schedule's count varies around rate x duration.
                    offered = len(schedule) / duration
                    level = Level(kind, label, factor, summarize(offered, len(schedule), run))
                    if kind == "proxy":
                        await wait_idle(through, proxy.url)
                        counts_after, _ = await proxy_counts(through, proxy.url)
                        level.proxy_outcomes = _difference(counts_before, counts_after)
                        level.proxy_log, log_offset = log_lines_since(proxy, log_offset)
                        # Worker processes killed meanwhile take their CPU time with them.
                        if cpu_before is not None and cpu_after is not None and cpu_after >= cpu_before:
                            level.proxy_cpu_s = cpu_after - cpu_before
                    levels.append(level)
        return {
            "capacity_rps": capacity,
            "ramp": [asdict(s) for s in ramp],
            "detector": detector,
            "levels": levels,
        }
    finally:
        for child in reversed(children):
            child.stop()


# ---- report ---------------------------------------------------------------------------------------


def misses(level: Level, unloaded_p99: float | None) -> list[str]:
    """Which of the issue's targets this proxy level misses."""
    s = level.summary
    found: list[str] = []
    if unloaded_p99 and s.counts["accepted"] and s.accepted_p99_ms > P99_VS_UNLOADED * unloaded_p99:
        found.append(f"p99 > {P99_VS_UNLOADED:g}x unloaded")
    if s.shed and s.shed_p99_ms > SHED_P99_MS:
        found.append(f"shed p99 > {SHED_P99_MS:g} ms")
    if s.shed_without_retry_after:
        found.append("shed without Retry-After")
    if s.counts["dropped"]:
        found.append("dropped connections")
    return found


def report(result: dict[str, Any]) -> tuple[str, list[str]]:
    levels: list[Level] = result["levels"]
    unloaded = {lv.side: lv.summary.accepted_p99_ms for lv in levels if lv.factor is None}
    headers = [
        "side",
        "load",
        "offered/s",
        "sent",
        "achieved/s",
        "accepted",
        "accepted p50/p99 ms",
        "p99 vs unloaded",
        "shed (429/503)",
        "shed p50/p99 ms",
        "errors",
        "timeouts",
        "dropped",
        "send lag p99 ms",
        "targets",
    ]
    rows: list[list[str]] = []
    problems: list[str] = []
    for lv in sorted(levels, key=lambda x: (x.side != "direct", x.factor or 0.0)):
        s = lv.summary
        reference = unloaded.get(lv.side)
        ratio = s.accepted_p99_ms / reference if reference and lv.factor is not None else None
        target = ""
        if lv.side == "proxy" and lv.factor is not None:
            missed = misses(lv, reference)
            target = "; ".join(missed) if missed else "met"
            problems.extend(f"proxy {lv.label}: {m}" for m in missed)
        rows.append(
            [
                lv.side,
                lv.label,
                fmt(s.offered_rps, 1),
                str(s.sent),
                fmt(s.achieved_rps, 1),
                str(s.counts["accepted"]),
                f"{fmt(s.accepted_p50_ms)} / {fmt(s.accepted_p99_ms)}",
                fmt(ratio, 2) if ratio is not None else "-",
                f"{s.shed} ({s.shed_429}/{s.shed_503})",
                f"{fmt(s.shed_p50_ms)} / {fmt(s.shed_p99_ms)}" if s.shed else "-",
                str(s.counts["error"]),
                str(s.counts["timeout"]),
                str(s.counts["dropped"]),
                fmt(s.lag_p99_ms, 1),
                target,
            ]
        )
    lines = [markdown_table(headers, rows), ""]
    for lv in levels:
        s = lv.summary
        notes: list[str] = []
        if s.details:
            notes.append("failures: " + ", ".join(f"{k} x{n}" for k, n in s.details.items()))
        if lv.proxy_outcomes:
            notes.append("proxy counted: " + ", ".join(f"{k} {v:.0f}" for k, v in lv.proxy_outcomes.items()))
        if lv.proxy_cpu_s is not None and s.span_s > 0:
            notes.append(f"proxy CPU {lv.proxy_cpu_s / s.span_s:.2f} cores")
        if s.client_cpu_util > 0.8:
            notes.append(f"load generator CPU {s.client_cpu_util:.2f}: it may have been the bottleneck")
        if lv.proxy_log:
            notes.append("proxy log: " + "; ".join(f"{n} x {line}" for line, n in lv.proxy_log.items()))
        if notes:
            lines.append(f"- {lv.side} {lv.label}: " + " | ".join(notes))
    return "\n".join(lines), problems


def to_json(settings: Settings, result: dict[str, Any], problems: list[str], load: Any) -> bytes:
    levels = [asdict(lv) for lv in result["levels"]]
    document = {
        "settings": asdict(settings),
        "environment": {
            "cpus": os.cpu_count(),
            "load_average_at_start": load,
            "python": sys.version.split()[0],
        },
        "capacity_rps": result["capacity_rps"],
        "ramp": result["ramp"],
        "detector": result["detector"],
        "levels": levels,
        "problems": problems,
    }
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    settings, args = parse_args(argv)
    try:
        openai_case(settings.case)
    except ValueError as exc:
        print(f"benchmarks.overload: {exc}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="consentry-overload-"))
    load = load_average()
    levels = ", ".join(f"{x:g}x" for x in settings.levels)
    print(
        f"consentry overload benchmark: {settings.case}, upstream delay "
        f"{settings.upstream_delay_s * 1000:.0f} ms, levels {levels} of capacity, "
        f"{settings.duration_s:g} s each, {settings.arrivals} arrivals; {os.cpu_count()} cpus, "
        f"load average {load}; workdir {workdir}",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _terminate)
    failed = True
    try:
        result = asyncio.run(benchmark(settings, workdir))
        text, problems = report(result)
        print()
        print(f"capacity {result['capacity_rps']:.1f}/s; {result['detector']}")
        print()
        print(text)
        for problem in problems:
            print(f"TARGET MISSED: {problem}")
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_bytes(to_json(settings, result, problems, load))
            print(f"results written to {args.json}")
        failed = bool(problems)
    finally:
        finish_workdir(workdir, args.keep_workdir or failed)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
