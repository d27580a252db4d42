"""Load benchmark: the same requests straight to a fake upstream and through Consentry.

    python -m benchmarks.load [--quick] [--requests N] [--concurrency C] [--json results.json]

Three OS processes on loopback: the fake upstream, the real proxy (`python -m proxy.cli serve`),
and this load generator. For every case it measures both endpoints in the same run, alternating
in rounds, and prints throughput, latency percentiles and the proxy/direct ratios. The exit status
is 1 if any request failed or any answer was wrong. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from benchmarks import proxy_metrics
from benchmarks.cases import (
    CUSTOMER_ID,
    PROXY_APP,
    UPSTREAMS,
    Case,
    Endpoint,
    select_cases,
    variant_sentence,
)
from benchmarks.processes import (
    ChildProcess,
    finish_workdir,
    start_fake_upstream,
    start_proxy,
    tree_cpu_seconds,
)
from benchmarks.runner import PhaseResult, Summary, Variants, run_phase, summarize


@dataclass(frozen=True)
class Settings:
    requests: int
    warmup: int
    concurrency: int
    rounds: int
    chunk_size: int
    detection_workers: str | None  # None: the proxy's own default
    repeat_prompts: bool
    proxy_log_level: str
    phase_timeout_s: float
    request_timeout_s: float
    ready_timeout_s: float
    cases: tuple[str, ...]


@dataclass
class CaseResult:
    case: Case
    direct: Summary
    proxy: Summary
    stages: proxy_metrics.StageMeans | None


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.load",
        description="Compare requests straight to a fake upstream with the same requests through Consentry.",
    )
    parser.add_argument("--quick", action="store_true", help="a ~20 s smoke run: few requests per case")
    parser.add_argument("--requests", type=int, help="measured requests per case and endpoint (default 400)")
    parser.add_argument("--warmup", type=int, help="unmeasured requests per case and side first (default 40)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    parser.add_argument(
        "--rounds", type=int, help="alternate direct/proxy in this many blocks per case (default 2)"
    )
    parser.add_argument(
        "--case", action="append", dest="cases", default=[], help="run only this case (repeatable)"
    )
    parser.add_argument(
        "--cases",
        dest="case_list",
        help="comma-separated cases to run, shell patterns allowed (e.g. 'openai-*,*-stream'); default all",
    )
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument(
        "--chunk-size", type=int, default=4, help="characters per streamed delta from the fake (default 4)"
    )
    parser.add_argument(
        "--detection-workers", help="proxy detection.workers: auto, 0 or N (default: the proxy's default)"
    )
    parser.add_argument(
        "--repeat-prompts",
        action="store_true",
        help="send identical bodies, so the proxy's detection cache answers (default: unique text)",
    )
    parser.add_argument(
        "--proxy-log-level",
        default="INFO",
        help="proxy log_level (default INFO as deployed: one line per request)",
    )
    parser.add_argument(
        "--phase-timeout", type=float, default=300.0, help="max seconds per measured block (default 300)"
    )
    parser.add_argument("--request-timeout", type=float, default=30.0, help="seconds per request (30)")
    parser.add_argument(
        "--ready-timeout", type=float, default=180.0, help="max seconds for the proxy to load its detector"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this path")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the temp dir with configs and logs")
    args = parser.parse_args(argv)
    requests = args.requests or (200 if args.quick else 400)
    warmup = args.warmup if args.warmup is not None else (20 if args.quick else 40)
    rounds = args.rounds or 2
    if requests < 1 or warmup < 0 or args.concurrency < 1 or rounds < 1 or args.chunk_size < 1:
        parser.error("--requests, --concurrency, --rounds and --chunk-size must be positive")
    settings = Settings(
        requests=requests,
        warmup=warmup,
        concurrency=args.concurrency,
        rounds=min(rounds, requests),
        chunk_size=args.chunk_size,
        detection_workers=args.detection_workers,
        repeat_prompts=args.repeat_prompts,
        proxy_log_level=args.proxy_log_level.upper(),
        phase_timeout_s=args.phase_timeout,
        request_timeout_s=args.request_timeout,
        ready_timeout_s=args.ready_timeout,
        cases=tuple([*args.cases, *(n.strip() for n in (args.case_list or "").split(",") if n.strip())]),
    )
    return settings, args


def proxy_config(settings: Settings, fakes: dict[str, ChildProcess], workdir: Path) -> dict[str, Any]:
    """The proxy's YAML: bundled rules (no `rules` key), its own app, a throw-away ledger, and a
    `providers.<name>` section per started fake, pointing at it with the fake's credentials.

    Everything else stays at the proxy's defaults, so the benchmark measures what `consentry serve`
    does out of the box unless a flag says otherwise.
    """
    config: dict[str, Any] = {
        # The proxy key, and the SigV4 credentials Bedrock callers sign with.
        "apps": {"bench": dict(PROXY_APP)},
        "providers": {name: UPSTREAMS[name].proxy_provider(fake.url) for name, fake in fakes.items()},
        "ledger": {"path": str(workdir / "ledger.db")},
        "hash_key": "bench-hash-key",  # fixed, so the proxy writes no key file
        "log_level": settings.proxy_log_level,
    }
    if settings.detection_workers is not None:
        workers = settings.detection_workers
        config["detection"] = {"workers": int(workers) if workers.isdigit() else workers}
    return config


def _block_sizes(total: int, rounds: int) -> list[int]:
    base, extra = divmod(total, rounds)
    return [base + (1 if i < extra else 0) for i in range(rounds)]


async def run_case(
    case: Case,
    settings: Settings,
    sessions: dict[str, aiohttp.ClientSession],
    endpoints: dict[str, Endpoint],
    proxy_url: str,
    proxy_pid: int,
    fake_pid: int,
    variants: Variants,
) -> CaseResult:
    direct, proxy = endpoints["direct"], endpoints["proxy"]
    if settings.warmup:
        # Warm-up: open the pooled connections, fill caches, let spaCy touch its code paths once.
        for endpoint in (direct, proxy):
            await run_phase(
                sessions[endpoint.kind],
                case,
                endpoint,
                settings.warmup,
                settings.concurrency,
                settings.phase_timeout_s,
                variants,
            )
    before = await proxy_metrics.scrape(sessions["proxy"], proxy_url)
    totals = {"direct": PhaseResult(), "proxy": PhaseResult()}
    for index, size in enumerate(_block_sizes(settings.requests, settings.rounds)):
        # Alternate which side goes first (direct, proxy, proxy, direct, ...) so slow drift on the
        # machine (other jobs, thermal throttling, a growing ledger) lands on both sides evenly.
        order = (direct, proxy) if index % 2 == 0 else (proxy, direct)
        for endpoint in order:
            client_before = time.process_time()
            # The whole process tree: detection may run in worker processes of the proxy.
            proxy_before = tree_cpu_seconds(proxy_pid) if endpoint.kind == "proxy" else None
            fake_before = tree_cpu_seconds(fake_pid)
            block = await run_phase(
                sessions[endpoint.kind],
                case,
                endpoint,
                size,
                settings.concurrency,
                settings.phase_timeout_s,
                variants,
            )
            block.client_cpu_s = time.process_time() - client_before
            proxy_after = tree_cpu_seconds(proxy_pid) if proxy_before is not None else None
            if proxy_before is not None and proxy_after is not None:
                block.server_cpu_s = proxy_after - proxy_before
            fake_after = tree_cpu_seconds(fake_pid) if fake_before is not None else None
            if fake_before is not None and fake_after is not None:
                block.upstream_cpu_s = fake_after - fake_before
            totals[endpoint.kind].merge(block)
    after = await proxy_metrics.scrape(sessions["proxy"], proxy_url)
    return CaseResult(
        case, summarize(totals["direct"]), summarize(totals["proxy"]), proxy_metrics.difference(before, after)
    )


# ---- report ---------------------------------------------------------------------------------------


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0 or math.isnan(denominator):
        return None
    if math.isnan(numerator):
        return None
    return numerator / denominator


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _pair(first: float | None, second: float | None, digits: int = 1) -> str:
    return f"{_fmt(first, digits)}/{_fmt(second, digits)}"


def table(results: list[CaseResult]) -> str:
    headers = [
        "case",
        "direct rps",
        "proxy rps",
        "rps ratio d/p",
        "direct p50/p99 ms",
        "proxy p50/p99 ms",
        "p50 ratio p/d",
        "p99 ratio p/d",
        "direct ttfb p50/p99 ms",
        "proxy ttfb p50/p99 ms",
        "ttfb p50 ratio",
        "errors d/p",
    ]
    rows: list[list[str]] = []
    for r in results:
        d, p = r.direct, r.proxy
        rows.append(
            [
                r.case.name,
                _fmt(d.rps),
                _fmt(p.rps),
                _fmt(_ratio(d.rps, p.rps), 2),
                _pair(d.p50_ms, d.p99_ms),
                _pair(p.p50_ms, p.p99_ms),
                _fmt(_ratio(p.p50_ms, d.p50_ms), 2),
                _fmt(_ratio(p.p99_ms, d.p99_ms), 2),
                _pair(d.ttfb_p50_ms, d.ttfb_p99_ms) if r.case.streaming else "-",
                _pair(p.ttfb_p50_ms, p.ttfb_p99_ms) if r.case.streaming else "-",
                _fmt(_ratio(p.ttfb_p50_ms, d.ttfb_p50_ms), 2) if r.case.streaming else "-",
                f"{d.errors}/{p.errors}",
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        # Left-align the case name, right-align numbers so their digits line up.
        return " | ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def stage_table(results: list[CaseResult]) -> str:
    lines = ["proxy-side means per request (from /metrics, measured requests only), ms:"]
    for r in results:
        s = r.stages
        if s is None or not s.mean_ms:
            lines.append(f"  {r.case.name}: no metrics")
            continue
        parts = [f"{name} {_fmt(s.mean_ms.get(name), 2)}" for name in proxy_metrics.HISTOGRAMS.values()]
        lines.append(f"  {r.case.name}: " + ", ".join(parts) + f"  (n={s.requests:.0f})")
        client = _pair(r.direct.client_cpu_util, r.proxy.client_cpu_util, 2)
        fake = _pair(r.direct.upstream_cpu_util, r.proxy.upstream_cpu_util, 2)
        lines.append(
            f"      proxy CPU {_fmt(r.proxy.proxy_cpu_ms_per_request, 2)} ms/request; "
            f"CPU use direct/proxy: load generator {client}, fake upstream {fake}"
        )
        if s.entities_per_request:
            found = ", ".join(f"{k} {v:.1f}" for k, v in s.entities_per_request.items())
            lines.append(f"      entities per request: {found}")
    return "\n".join(lines)


def problems(results: list[CaseResult]) -> list[str]:
    found: list[str] = []
    for r in results:
        for side, summary in (("direct", r.direct), ("proxy", r.proxy)):
            if summary.errors:
                found.append(f"{r.case.name} {side}: {summary.errors} errors {summary.error_kinds}")
            if summary.deadline_hit:
                found.append(
                    f"{r.case.name} {side}: deadline hit, {summary.completed}/{summary.requested} sent"
                )
        if "pii" in r.case.tags and r.stages is not None and not r.stages.entities_per_request:
            # The answer can be right without masking (the fake echoes whatever it got), so this is
            # the check that the proxy really detected and masked something.
            found.append(f"{r.case.name}: the proxy reported no entities for a prompt full of them")
    return found


def _git_commit(root: Path) -> str | None:
    # rev-parse only reads; nothing here may change the repository.
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def load_average() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def to_json(settings: Settings, run: Run, load_at_start: list[float] | None) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    cases = []
    for r in run.results:
        cases.append(
            {
                "name": r.case.name,
                "provider": r.case.upstream,
                "description": r.case.description,
                "streaming": r.case.streaming,
                "request_bytes": len(r.case.body("" if settings.repeat_prompts else variant_sentence(1))),
                "direct": asdict(r.direct),
                "proxy": asdict(r.proxy),
                "ratios": {
                    "rps_direct_over_proxy": _ratio(r.direct.rps, r.proxy.rps),
                    "p50_proxy_over_direct": _ratio(r.proxy.p50_ms, r.direct.p50_ms),
                    "p99_proxy_over_direct": _ratio(r.proxy.p99_ms, r.direct.p99_ms),
                    "ttfb_p50_proxy_over_direct": _ratio(r.proxy.ttfb_p50_ms, r.direct.ttfb_p50_ms),
                    "ttfb_p99_proxy_over_direct": _ratio(r.proxy.ttfb_p99_ms, r.direct.ttfb_p99_ms),
                },
                "proxy_stages_ms": asdict(r.stages) if r.stages is not None else None,
            }
        )
    return {
        "settings": asdict(settings),
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            # Other work on the machine skews every number; recorded so a strange run can be explained.
            "load_average_at_start": load_at_start,
            "commit": _git_commit(root),
            "customer": CUSTOMER_ID,
        },
        "startup_s": run.startup_s,
        "proxy_detector": run.detector,
        "cases": cases,
        "problems": problems(run.results),
    }


# ---- main -----------------------------------------------------------------------------------------


@dataclass
class Run:
    results: list[CaseResult]
    startup_s: dict[str, float]
    detector: str | None  # the proxy's "detector ready: ..." log line


async def benchmark(settings: Settings, workdir: Path) -> Run:
    cases = select_cases(list(settings.cases) or None)
    children: list[ChildProcess] = []
    try:
        fakes: dict[str, ChildProcess] = {}
        for name in dict.fromkeys(case.upstream for case in cases):
            spec = UPSTREAMS[name]
            fakes[name] = start_fake_upstream(name, spec.factory, spec.options(settings.chunk_size), workdir)
            children.append(fakes[name])
        proxy = start_proxy(proxy_config(settings, fakes, workdir), workdir)
        children.append(proxy)
        startup: dict[str, float] = {}
        for name, fake in fakes.items():
            startup[f"fake_{name}"] = await fake.wait_ready(UPSTREAMS[name].probe_path, 30.0, any_status=True)
        # /readyz turns 200 only once the spaCy model is loaded: measuring earlier would time the
        # proxy's fail-closed 503s.
        startup["proxy_ready"] = await proxy.wait_ready("/readyz", settings.ready_timeout_s)
        # The proxy decides some of its own settings (detection workers: "auto"); its log says which.
        detector = proxy.log_line("detector ready")
        print(
            f"proxy pid {proxy.pid} ready after {startup['proxy_ready']:.1f}s "
            f"({detector or 'no detector line in its log'}); "
            + ", ".join(f"fake {n} pid {f.pid}" for n, f in fakes.items()),
            flush=True,
        )

        timeout = aiohttp.ClientTimeout(total=settings.request_timeout_s)
        sessions = {
            # One pool per side, sized to the concurrency, so every request reuses a warm
            # keep-alive connection and neither side pays connection setup the other does not.
            kind: aiohttp.ClientSession(
                timeout=timeout, connector=aiohttp.TCPConnector(limit=settings.concurrency)
            )
            for kind in ("direct", "proxy")
        }
        results: list[CaseResult] = []
        variants = Variants(repeat=settings.repeat_prompts)
        try:
            for case in cases:
                endpoints = {
                    "direct": Endpoint("direct", fakes[case.upstream].url),
                    "proxy": Endpoint("proxy", proxy.url),
                }
                began = time.perf_counter()
                result = await run_case(
                    case,
                    settings,
                    sessions,
                    endpoints,
                    proxy.url,
                    proxy.pid,
                    fakes[case.upstream].pid,
                    variants,
                )
                results.append(result)
                print(
                    f"  {case.name}: {time.perf_counter() - began:.1f}s, errors "
                    f"{result.direct.errors}/{result.proxy.errors}",
                    flush=True,
                )
        finally:
            for session in sessions.values():
                await session.close()
        return Run(results, startup, detector)
    finally:
        # Stop in reverse start order: the proxy first, so it does not log upstream errors
        # while the fake goes away.
        for child in reversed(children):
            child.stop()


def _fmt_load(load: list[float] | None) -> str:
    return "n/a" if load is None else " ".join(f"{x:.2f}" for x in load)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    settings, args = parse_args(argv)
    if args.list:
        for case in select_cases(None, include_slow=True):
            print(f"{case.name:28} {case.upstream:8} {case.description}")
        return 0
    try:
        select_cases(list(settings.cases) or None)
    except ValueError as exc:
        print(f"benchmarks.load: {exc}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="consentry-bench-"))
    load_at_start = load_average()
    print(
        f"consentry load benchmark: {settings.requests} requests/case/side after {settings.warmup} warm-up, "
        f"concurrency {settings.concurrency}, {settings.rounds} rounds, stream chunk {settings.chunk_size} "
        f"chars, {os.cpu_count()} cpus, load average {_fmt_load(load_at_start)}; workdir {workdir}",
        flush=True,
    )
    failed = True
    # Turn SIGTERM into an exception so the `finally` blocks still stop the child processes
    # (they run in their own sessions, so no terminal signal reaches them).
    signal.signal(signal.SIGTERM, _terminate)
    try:
        run = asyncio.run(benchmark(settings, workdir))
        results = run.results
        print()
        print(table(results))
        print()
        print(stage_table(results))
        found = problems(results)
        for problem in found:
            print(f"PROBLEM: {problem}")
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_bytes(
                orjson.dumps(to_json(settings, run, load_at_start), option=orjson.OPT_INDENT_2)
            )
            print(f"results written to {args.json}")
        failed = bool(found)
    finally:
        # Logs are kept when something went wrong, since they are where the reason is.
        finish_workdir(workdir, args.keep_workdir or failed)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
