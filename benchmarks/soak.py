"""Soak run: minutes of streaming, masked traffic at a moderate rate, watching the proxy's footprint.

    python -m benchmarks.soak [--duration 300] [--rate 5] [--sample-every 5] [--json out.json]

Fresh ~1 KB prompts with personal data stream through the proxy from the OpenAI fake, which waits
`--upstream-delay` before answering and `--stream-gap` between stream events (a model's pace), so
streams stay open for seconds; every `--abort-every`-th stream is left by the client after its
first words. Requests leave on an open-loop schedule (`benchmarks/openloop.py`). Every
`--sample-every` seconds the proxy's resident memory, open file descriptors and threads, and those
of its detector worker processes, are read from /proc (Linux). The report gives, per measure, the
value idle before the load, the range under load, the value idle after it, and the slope over the
second half of the run, when caches have filled and only a leak still grows. See
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from benchmarks.cases import Endpoint
from benchmarks.load import load_average
from benchmarks.openloop import (
    Result,
    Tally,
    arrival_schedule,
    client_session,
    fmt,
    markdown_table,
    openai_case,
    paced_openai_options,
    proxy_config,
    run_schedule,
    send,
    start_paced_stack,
)
from benchmarks.overload import proxy_counts, wait_idle
from benchmarks.processes import ChildProcess, finish_workdir, process_tree
from benchmarks.runner import Variants, percentile

MEASURES = {
    "proxy_rss_mb": "proxy RSS MB",
    "workers_rss_mb": "children RSS MB (sum)",
    "proxy_fds": "proxy open fds",
    "workers_fds": "children open fds (sum)",
    "proxy_threads": "proxy threads",
    "workers": "child processes",
    "in_flight": "requests in flight",
}


@dataclass(frozen=True)
class Settings:
    duration_s: float
    rate: float
    sample_every_s: float
    cases: tuple[str, ...]
    abort_every: int
    upstream_delay_s: float
    stream_gap_s: float
    chunk_size: int
    request_timeout_s: float
    detection_workers: str | None
    cache_entries: int | None
    proxy_log_level: str
    ready_timeout_s: float
    idle_wait_s: float


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.soak",
        description="Minutes of streaming masked traffic through Consentry; memory and descriptors sampled.",
    )
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load (300)")
    parser.add_argument("--rate", type=float, default=5.0, help="requests per second, uniform (5)")
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between samples (5)")
    parser.add_argument(
        "--case",
        action="append",
        dest="cases",
        default=[],
        help="openai-* case, repeatable, sent in turn (default openai-chat-pii-stream)",
    )
    parser.add_argument(
        "--abort-every", type=int, default=10, help="the client leaves every Nth stream early (10; 0: never)"
    )
    parser.add_argument(
        "--upstream-delay", type=float, default=0.3, help="fake's wait before answering (0.3)"
    )
    parser.add_argument("--stream-gap", type=float, default=0.01, help="fake's wait between events (0.01)")
    parser.add_argument("--chunk-size", type=int, default=4, help="characters per streamed delta (4)")
    parser.add_argument("--request-timeout", type=float, default=60.0, help="client timeout, seconds (60)")
    parser.add_argument("--detection-workers", help="proxy detection.workers (default: the proxy's)")
    parser.add_argument(
        "--cache-entries",
        type=int,
        help="proxy detection.cache_entries (default: the proxy's, 20000): small, the cache fills early",
    )
    parser.add_argument("--proxy-log-level", default="INFO", help="proxy log_level (INFO)")
    parser.add_argument("--ready-timeout", type=float, default=180.0, help="seconds to wait for /readyz")
    parser.add_argument(
        "--idle-wait", type=float, default=35.0, help="quiet seconds before each idle sample (35)"
    )
    parser.add_argument("--json", type=Path, help="also write every sample and number as JSON here")
    parser.add_argument("--keep-workdir", action="store_true", help="keep configs and logs")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.rate <= 0 or args.sample_every <= 0 or args.abort_every < 0:
        parser.error("--duration, --rate and --sample-every must be positive, --abort-every not negative")
    settings = Settings(
        duration_s=args.duration,
        rate=args.rate,
        sample_every_s=args.sample_every,
        cases=tuple(args.cases or ["openai-chat-pii-stream"]),
        abort_every=args.abort_every,
        upstream_delay_s=args.upstream_delay,
        stream_gap_s=args.stream_gap,
        chunk_size=args.chunk_size,
        request_timeout_s=args.request_timeout,
        detection_workers=args.detection_workers,
        cache_entries=args.cache_entries,
        proxy_log_level=args.proxy_log_level.upper(),
        ready_timeout_s=args.ready_timeout,
        idle_wait_s=args.idle_wait,
    )
    return settings, args


# ---- sampling -------------------------------------------------------------------------------------


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _rss_mb(status: dict[str, str]) -> float:
    value = status.get("VmRSS", "0 kB").split()
    return int(value[0]) / 1024 if value else 0.0


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


_TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
    "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}  # fmt: skip


def fd_kinds(pid: int, own_port: int) -> dict[str, int]:
    """What `pid`'s descriptors are: files, pipes, epoll..., and its TCP sockets by state and side
    (`in`: a caller's connection to `own_port`, `out`: one the proxy opened), to tell a leak apart."""
    sockets: dict[str, str] = {}
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            state = _TCP_STATES.get(fields[3], fields[3])
            side = "listen" if state == "LISTEN" else ("in" if local_port == own_port else "out")
            sockets[fields[9]] = f"tcp {side} {state}"
    kinds: dict[str, int] = {}
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return kinds
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            kind = sockets.get(target[8:-1], "socket (not tcp)")
        elif target.startswith(("pipe:", "anon_inode:")):
            kind = target.split("[")[0].rstrip(":") if target.startswith("pipe") else target
        else:
            kind = "file"
        kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items()))


@dataclass
class Sample:
    t_s: float  # seconds since the load started (negative: before it)
    phase: str  # idle-before | load | idle-after
    values: dict[str, float]
    sent: int = 0
    done: dict[str, int] = field(default_factory=dict)
    fd_kinds: dict[str, int] = field(default_factory=dict)  # idle samples only


def footprint(pid: int) -> dict[str, float]:
    """The proxy's memory, descriptors and threads, and the sums over its child processes: the
    detector workers and multiprocessing's resource tracker."""
    main = _status(pid)
    workers = process_tree(pid)[1:]
    statuses = [_status(w) for w in workers]
    return {
        "proxy_rss_mb": _rss_mb(main),
        "workers_rss_mb": sum(_rss_mb(s) for s in statuses),
        "proxy_fds": float(_fds(pid)),
        "workers_fds": float(sum(_fds(w) for w in workers)),
        "proxy_threads": float(main.get("Threads", "0").strip() or 0),
        "workers": float(sum(1 for s in statuses if s)),
    }


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute; 0 for fewer than two."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return 60.0 * cov / var


def progress_line(taken: Sample, tally: Tally | None) -> str:
    v = taken.values
    return (
        f"  t={taken.t_s:6.0f}s  proxy RSS {v['proxy_rss_mb']:6.1f} MB, fds {v['proxy_fds']:4.0f}, "
        f"threads {v['proxy_threads']:3.0f} | {v['workers']:.0f} children RSS {v['workers_rss_mb']:6.1f} MB, "
        f"fds {v['workers_fds']:3.0f} | in flight {fmt(v.get('in_flight'))} | {tally.line() if tally else ''}"
    )


async def sample(session: aiohttp.ClientSession, proxy: ChildProcess, t_s: float, phase: str) -> Sample:
    values = footprint(proxy.pid)
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        _, values["in_flight"] = await proxy_counts(session, proxy.url)
    return Sample(t_s, phase, values)


async def idle_sample(
    probe: aiohttp.ClientSession, proxy: ChildProcess, settings: Settings, t_s: float, phase: str
) -> Sample:
    """A sample once nothing is in flight and pooled connections have timed out: the proxy keeps
    idle upstream connections for aiohttp's keep-alive of 15 s, closed by a sweep that runs every
    15 s (so up to 30 s). Those are a pool, not a leak."""
    await wait_idle(probe, proxy.url)
    await asyncio.sleep(settings.idle_wait_s)
    taken = await sample(probe, proxy, t_s, phase)
    taken.fd_kinds = fd_kinds(proxy.pid, int(proxy.url.rsplit(":", 1)[1]))
    return taken


# ---- run ------------------------------------------------------------------------------------------


async def benchmark(settings: Settings, workdir: Path) -> dict[str, Any]:
    cases = [openai_case(name) for name in settings.cases]
    children: list[ChildProcess] = []
    try:
        _, proxy, detector = await start_paced_stack(
            workdir,
            paced_openai_options(settings.chunk_size, settings.upstream_delay_s, settings.stream_gap_s),
            lambda fake_url: proxy_config(
                fake_url,
                workdir,
                detection_workers=settings.detection_workers,
                log_level=settings.proxy_log_level,
                cache_entries=settings.cache_entries,
            ),
            settings.ready_timeout_s,
            children,
        )
        endpoint = Endpoint("proxy", proxy.url)
        variants = Variants(repeat=False)
        samples: list[Sample] = []
        # /metrics is read on a connection of its own, open throughout, so the idle samples before
        # and after the load see the same one; the load's connections are all closed by then.
        async with client_session(10.0) as probe:
            async with client_session(settings.request_timeout_s) as warm:
                for case in cases:  # spaCy's first calls
                    await asyncio.gather(*(send(warm, case, endpoint, variants.next()) for _ in range(4)))
            samples.append(await idle_sample(probe, proxy, settings, -1.0, "idle-before"))
            schedule = arrival_schedule(settings.rate, settings.duration_s, 10**9, "uniform")
            streams = 0
            started = time.monotonic()
            tally_seen: list[Tally] = []  # the live counters, once the schedule has started

            def progress(elapsed: float, tally: Tally) -> None:
                tally_seen[:] = [tally]

            async def sampler() -> None:
                while True:
                    await asyncio.sleep(settings.sample_every_s)
                    taken = await sample(probe, proxy, time.monotonic() - started, "load")
                    if tally_seen:
                        taken.sent, taken.done = tally_seen[-1].sent, dict(tally_seen[-1].done)
                    samples.append(taken)
                    print(progress_line(taken, tally_seen[-1] if tally_seen else None), flush=True)

            async with client_session(settings.request_timeout_s) as session:

                async def request(index: int) -> Result:
                    nonlocal streams
                    case = cases[index % len(cases)]
                    abort = False
                    if case.streaming:
                        streams += 1
                        abort = settings.abort_every > 0 and streams % settings.abort_every == 0
                    return await send(session, case, endpoint, variants.next(), abort_stream=abort)

                watcher = asyncio.create_task(sampler())
                try:
                    run = await run_schedule(schedule, request, progress=progress, progress_every_s=1.0)
                finally:
                    watcher.cancel()
            ended = time.monotonic() - started
            samples.append(await idle_sample(probe, proxy, settings, ended, "idle-after"))
        return {"detector": detector, "samples": samples, "run": run}
    finally:
        for child in reversed(children):
            child.stop()


# ---- report ---------------------------------------------------------------------------------------


def footprint_table(samples: list[Sample], duration_s: float) -> tuple[str, list[dict[str, Any]]]:
    before = next((s for s in samples if s.phase == "idle-before"), None)
    after = next((s for s in reversed(samples) if s.phase == "idle-after"), None)
    loaded = [s for s in samples if s.phase == "load"]
    second_half = [s for s in loaded if s.t_s >= duration_s / 2]
    headers = ["measure", "idle before", "min under load", "max under load", "end of load", "idle after"]
    headers += ["slope/min (all)", "slope/min (2nd half)"]
    rows: list[list[str]] = []
    numbers: list[dict[str, Any]] = []
    for key, name in MEASURES.items():
        series = [(s.t_s, s.values[key]) for s in loaded if key in s.values]
        values = [v for _, v in series]
        row = {
            "measure": key,
            "idle_before": before.values.get(key) if before else None,
            "min": min(values) if values else None,
            "max": max(values) if values else None,
            "end": values[-1] if values else None,
            "idle_after": after.values.get(key) if after else None,
            "slope_per_min": slope_per_minute(series),
            "slope_per_min_second_half": slope_per_minute(
                [(s.t_s, s.values[key]) for s in second_half if key in s.values]
            ),
        }
        numbers.append(row)
        digits = 1 if key.endswith("_mb") else 0
        rows.append(
            [
                name,
                *(fmt(row[k], digits) for k in ("idle_before", "min", "max", "end", "idle_after")),
                fmt(row["slope_per_min"], 2),
                fmt(row["slope_per_min_second_half"], 2),
            ]
        )
    return markdown_table(headers, rows), numbers


def requests_table(run: Any, duration_s: float) -> str:
    results: list[Result] = run.results
    headers = ["window", "sent", "accepted", "aborted", "shed", "errors", "timeouts", "dropped"]
    headers += ["accepted p50/p99 ms", "ttfb p50/p99 ms"]
    rows: list[list[str]] = []
    minute = min(60.0, duration_s / 2)
    per_request = duration_s / max(len(results), 1)
    windows = [("all", 0, len(results))]
    first = int(minute / per_request)
    windows += [
        (f"first {minute:.0f} s", 0, first),
        (f"last {minute:.0f} s", len(results) - first, len(results)),
    ]
    for label, lo, hi in windows:
        chunk = results[lo:hi]
        count = {o: sum(1 for r in chunk if r.outcome == o) for o in ("accepted", "aborted", "shed")}
        count |= {o: sum(1 for r in chunk if r.outcome == o) for o in ("error", "timeout", "dropped")}
        accepted = [r.latency_s * 1000 for r in chunk if r.outcome == "accepted"]
        ttfb = [r.ttfb_s * 1000 for r in chunk if r.ttfb_s is not None]
        rows.append(
            [
                label,
                str(len(chunk)),
                *(str(count[o]) for o in ("accepted", "aborted", "shed", "error", "timeout", "dropped")),
                f"{fmt(percentile(accepted, 50))} / {fmt(percentile(accepted, 99))}",
                f"{fmt(percentile(ttfb, 50))} / {fmt(percentile(ttfb, 99))}" if ttfb else "-",
            ]
        )
    return markdown_table(headers, rows)


def verdicts(numbers: list[dict[str, Any]], samples: list[Sample]) -> list[str]:
    """Plain-language reading of the footprint; a judgement aid, not a pass/fail."""
    by_key = {row["measure"]: row for row in numbers}
    idle = {s.phase: s.fd_kinds for s in samples if s.fd_kinds}
    before, after = idle.get("idle-before", {}), idle.get("idle-after", {})
    kinds = ", ".join(
        f"{kind} {after.get(kind, 0) - before.get(kind, 0):+d}"
        for kind in sorted(set(before) | set(after))
        if after.get(kind, 0) != before.get(kind, 0)
    )
    lines: list[str] = []
    for key in ("proxy_fds", "workers_fds", "proxy_threads"):
        row = by_key[key]
        if row["idle_before"] is not None and row["idle_after"] is not None:
            grew = row["idle_after"] - row["idle_before"]
            state = "back to its idle value" if grew <= 2 else f"{grew:+.0f} after the load: check for a leak"
            if key == "proxy_fds" and grew > 2 and kinds:
                state += f" ({kinds}; pooled upstream connections are 'tcp out ESTABLISHED' until"
                state += " their keep-alive ends, see --idle-wait)"
            lines.append(f"{MEASURES[key]}: {state}")
    for key in ("proxy_rss_mb", "workers_rss_mb"):
        row = by_key[key]
        slope = row["slope_per_min_second_half"]
        if row["end"]:
            limit = max(1.0, 0.005 * row["end"])
            state = "flat" if slope <= limit else "still growing"
            if key == "proxy_rss_mb" and slope > limit:
                state += " (the detection cache fills up to detection.cache_entries;"
                state += " --cache-entries 100 rules it out)"
            lines.append(f"{MEASURES[key]}: {state} in the second half ({slope:+.2f} MB/min)")
    return lines


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    settings, args = parse_args(argv)
    if not Path("/proc/self/status").exists():
        print("benchmarks.soak: needs Linux /proc to read memory and descriptors", file=sys.stderr)
        return 2
    try:
        for name in settings.cases:
            openai_case(name)
    except ValueError as exc:
        print(f"benchmarks.soak: {exc}", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="consentry-soak-"))
    load = load_average()
    print(
        f"consentry soak: {', '.join(settings.cases)} at {settings.rate:g}/s for {settings.duration_s:g} s, "
        f"every {settings.abort_every}th stream left early, upstream delay "
        f"{settings.upstream_delay_s * 1000:.0f} ms + {settings.stream_gap_s * 1000:.0f} ms per event; "
        f"{os.cpu_count()} cpus, load average {load}; workdir {workdir}",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _terminate)
    failed = True
    try:
        result = asyncio.run(benchmark(settings, workdir))
        samples: list[Sample] = result["samples"]
        table, numbers = footprint_table(samples, settings.duration_s)
        print()
        print(result["detector"])
        print()
        print(table)
        for taken in samples:
            if taken.fd_kinds:
                kinds = ", ".join(f"{k} {n}" for k, n in taken.fd_kinds.items())
                print(f"proxy descriptors {taken.phase}: {kinds}")
        print()
        print(requests_table(result["run"], settings.duration_s))
        print()
        for line in verdicts(numbers, samples):
            print(f"- {line}")
        results: list[Result] = result["run"].results
        failures = sum(1 for r in results if r.outcome in ("error", "timeout", "dropped"))
        if args.json is not None:
            document = {
                "settings": asdict(settings),
                "environment": {"cpus": os.cpu_count(), "load_average_at_start": load},
                "detector": result["detector"],
                "footprint": numbers,
                "samples": [asdict(s) for s in samples],
                "outcomes": {
                    o: sum(1 for r in results if r.outcome == o) for o in {r.outcome for r in results}
                },
            }
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
            print(f"results written to {args.json}")
        failed = failures > 0
        if failed:
            print(f"{failures} requests failed (errors, timeouts or dropped connections)")
    finally:
        finish_workdir(workdir, args.keep_workdir or failed)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
