"""Load report: open-loop rate ladders, direct vs through the proxy, written as Markdown and PNGs.

    python -m benchmarks.report [--quick] [--proxy-workers 1,2] [--out DIR]

For each case, on loopback against the paced OpenAI fake (`benchmarks/fake_apps.py`, answering
after `--upstream-delay`), it offers fixed request rates (a ladder per case), each for a fixed
time, to the fake directly and through the proxy, alternating at every rate. A side stops climbing
after the first rate it does not sustain (p99 > 1 s or > 5 % not accepted). Then it writes
`report.md` (a table per case, the issue's targets with PASS/FAIL), `results.json` and a plot per
case into `--out` (default `benchmarks/reports/<date>/`). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

from benchmarks.cases import Case, Endpoint
from benchmarks.load import _git_commit, load_average
from benchmarks.openloop import (
    Arrivals,
    Tally,
    arrival_schedule,
    openai_case,
    paced_openai_options,
    proxy_config,
    run_schedule,
    send,
    side_sessions,
    start_paced_stack,
    summarize,
)
from benchmarks.overload import wait_idle
from benchmarks.processes import ChildProcess, finish_workdir, tree_cpu_seconds
from benchmarks.report_plots import plot_all
from benchmarks.report_render import (
    PASSTHROUGH_CACHED_CASE,
    PASSTHROUGH_CASE,
    SCALING_CASE,
    SIDES,
    STREAM_CASE,
    CaseRun,
    Side,
    Step,
    keeps_climbing,
    render,
    runs_from_json,
)
from benchmarks.runner import Variants
from proxy.config import parse_config

ROOT = Path(__file__).resolve().parent.parent
STREAM_CASE_PROMPT_CHARS = 1100  # the ~1 KB ticket plus its variant sentence, echoed with "Echo: "

# Offered requests/s per case. The full ladders reach past what this 2-core machine's proxy
# takes in each case, so every case shows where it stops; 500/s is the passthrough target's rate.
LADDERS: dict[str, tuple[float, ...]] = {
    PASSTHROUGH_CASE: (25, 50, 100, 200, 300, 400, 500, 800),
    PASSTHROUGH_CACHED_CASE: (100, 200, 400, 500, 800),
    "openai-chat-pii": (10, 20, 30, 40, 50, 75, 100, 200),
    STREAM_CASE: (10, 20, 30, 40, 50, 75, 100, 200),
    "openai-chat-pii-16k": (1, 2, 3, 5, 10, 25),
}
QUICK_LADDERS: dict[str, tuple[float, ...]] = {
    PASSTHROUGH_CASE: (50, 200, 500),
    PASSTHROUGH_CACHED_CASE: (100, 500),
    "openai-chat-pii": (10, 50, 200),
    STREAM_CASE: (10, 50),
    "openai-chat-pii-16k": (1, 5),
}
CACHED_SUFFIX = "-cached"
DETECTION_NOTE = (
    "the proxy's default: per serving process, the cores divided by server.workers, so 2 detection "
    "processes at workers=1 and 1 per process at workers=2 on this 2-core machine; the same "
    "detection capacity in both, which is what a deployment gets out of the box"
)


@dataclass(frozen=True)
class Settings:
    cases: tuple[str, ...]
    ladders: dict[str, tuple[float, ...]]
    proxy_workers: tuple[int, ...]
    scaling_cases: tuple[str, ...]  # run at every --proxy-workers count; the others at the first only
    step_s: float
    min_requests: int
    max_step_s: float
    max_requests: int
    arrivals: Arrivals
    seed: int
    upstream_delay_s: float
    stream_chunks: int
    chunk_size: int
    stream_gap_s: float
    detection_workers: str
    request_timeout_s: float
    proxy_log_level: str
    ready_timeout_s: float
    progress_s: float
    settle_s: float
    warmup: int


def _numbers(text: str, kind: type = float) -> tuple[Any, ...]:
    return tuple(kind(x) for x in text.split(",") if x.strip())


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.report",
        description="Open-loop rate ladders, direct vs through Consentry; writes report.md and plots.",
    )
    parser.add_argument("--quick", action="store_true", help="short ladders, 3 s per step (~3 min)")
    parser.add_argument("--out", type=Path, help="report directory (default benchmarks/reports/<date>)")
    parser.add_argument(
        "--case",
        action="append",
        dest="cases",
        default=[],
        help=f"only this case (repeatable): {', '.join(LADDERS)}",
    )
    parser.add_argument(
        "--rates", action="append", default=[], metavar="CASE=R1,R2,..", help="replace a case's ladder"
    )
    parser.add_argument(
        "--proxy-workers",
        default=None,
        help="proxy server.workers counts, e.g. 1,2: the scaling case runs at each, the others at the "
        "first (default 1,2; --quick: 1)",
    )
    parser.add_argument(
        "--scaling-case",
        action="append",
        default=[],
        help=f"run at every worker count (default {SCALING_CASE}, {PASSTHROUGH_CACHED_CASE})",
    )
    parser.add_argument("--step", type=float, help="seconds of sending per rate and side (10; --quick 3)")
    parser.add_argument(
        "--min-requests",
        type=int,
        help="a low rate's step lasts until this many are sent, up to --max-step (300; --quick 0)",
    )
    parser.add_argument("--max-step", type=float, default=30.0, help="longest step, seconds (30)")
    parser.add_argument("--max-requests", type=int, default=8000, help="at most this many per step (8000)")
    parser.add_argument("--arrivals", choices=("poisson", "uniform"), default="poisson")
    parser.add_argument("--seed", type=int, default=1, help="seed of the Poisson arrivals (1)")
    parser.add_argument(
        "--upstream-delay", type=float, default=0.3, help="fake's wait before answering (0.3 s)"
    )
    parser.add_argument(
        "--stream-chunks", type=int, default=64, help="events a ~1 KB streamed answer is cut into (64)"
    )
    parser.add_argument(
        "--chunk-size", type=int, help="characters per streamed delta (overrides --stream-chunks)"
    )
    parser.add_argument(
        "--stream-gap", type=float, default=0.0, help="fake's wait between stream events (0 s)"
    )
    parser.add_argument(
        "--detection-workers",
        default="auto",
        help="proxy detection.workers per serving process (default auto: the cores divided among them)",
    )
    parser.add_argument("--request-timeout", type=float, default=15.0, help="client timeout, seconds (15)")
    parser.add_argument("--proxy-log-level", default="INFO", help="proxy log_level (INFO, as deployed)")
    parser.add_argument("--ready-timeout", type=float, default=180.0, help="seconds to wait for /readyz")
    parser.add_argument("--progress", type=float, default=3.0, help="seconds between progress lines (3)")
    parser.add_argument("--settle", type=float, default=1.0, help="quiet seconds before each step (1)")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the proxy's config and logs")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="DIR",
        help="only write DIR's report.md and plots again from its results.json",
    )
    args = parser.parse_args(argv)
    ladders = dict(QUICK_LADDERS if args.quick else LADDERS)
    try:
        for item in args.rates:
            name, _, rates = item.partition("=")
            ladders[name] = tuple(sorted(_numbers(rates)))
        workers = _numbers(args.proxy_workers or ("1" if args.quick else "1,2"), int)
    except ValueError:
        parser.error("--rates and --proxy-workers take numbers separated by commas")
    cases = tuple(args.cases) or tuple(LADDERS)
    unknown = [c for c in cases if c not in ladders]
    if unknown:
        parser.error(f"no ladder for {unknown}: give one with --rates CASE=R1,R2")
    for case in cases:
        try:
            resolve_case(case)
        except ValueError as exc:
            parser.error(str(exc))
    step = args.step if args.step is not None else (3.0 if args.quick else 10.0)
    chunk_size = args.chunk_size or max(1, math.ceil(STREAM_CASE_PROMPT_CHARS / max(1, args.stream_chunks)))
    if not workers or min(workers) < 1 or step <= 0 or args.max_requests < 1:
        parser.error("--proxy-workers, --step and --max-requests must be positive")
    settings = Settings(
        cases=cases,
        ladders={c: ladders[c] for c in cases},
        proxy_workers=workers,
        scaling_cases=tuple(args.scaling_case) or (SCALING_CASE, PASSTHROUGH_CACHED_CASE),
        step_s=step,
        min_requests=args.min_requests if args.min_requests is not None else (0 if args.quick else 300),
        max_step_s=max(step, args.max_step),
        max_requests=args.max_requests,
        arrivals=args.arrivals,
        seed=args.seed,
        upstream_delay_s=args.upstream_delay,
        stream_chunks=math.ceil(STREAM_CASE_PROMPT_CHARS / chunk_size),
        chunk_size=chunk_size,
        stream_gap_s=args.stream_gap,
        detection_workers=args.detection_workers,
        request_timeout_s=args.request_timeout,
        proxy_log_level=args.proxy_log_level.upper(),
        ready_timeout_s=args.ready_timeout,
        progress_s=args.progress,
        settle_s=args.settle,
        warmup=4 if args.quick else 10,
    )
    return settings, args


def plan(settings: Settings) -> list[tuple[int, list[str]]]:
    """(proxy workers, cases) per proxy start: every case at the first count, the scaling cases
    at the others too."""
    first, *others = settings.proxy_workers
    runs = [(first, list(settings.cases))]
    for workers in others:
        cases = [c for c in settings.cases if c in settings.scaling_cases]
        if cases:
            runs.append((workers, cases))
    return runs


def step_seconds(settings: Settings, rate: float) -> float:
    """`--step`, longer at low rates so that a p99 rests on enough answers."""
    return min(settings.max_step_s, max(settings.step_s, settings.min_requests / rate))


async def run_step(
    session: aiohttp.ClientSession,
    case: Case,
    endpoint: Endpoint,
    rate: float,
    index: int,
    settings: Settings,
    variants: Variants,
    proxy_pid: int,
) -> Step:
    seconds = step_seconds(settings, rate)
    schedule = arrival_schedule(
        rate, seconds, settings.max_requests, settings.arrivals, settings.seed + index
    )
    chosen = [variants.next() for _ in schedule]  # fixed before sending: no work between sends
    side: Side = endpoint.kind

    def progress(elapsed: float, tally: Tally) -> None:
        print(f"  {case.name} {side:6} {rate:6g}/s t={elapsed:5.1f}s  {tally.line()}", flush=True)

    cpu_before = tree_cpu_seconds(proxy_pid) if side == "proxy" else None
    run = await run_schedule(
        schedule,
        lambda i: send(session, case, endpoint, chosen[i]),
        progress=progress,
        progress_every_s=settings.progress_s,
    )
    cpu_after = tree_cpu_seconds(proxy_pid) if cpu_before is not None else None
    # What was really offered: a Poisson schedule's count varies around rate x duration.
    step = Step(side, rate, summarize(len(schedule) / seconds, len(schedule), run))
    if cpu_before is not None and cpu_after is not None and cpu_after >= cpu_before and run.span_s > 0:
        step.proxy_cpu_cores = (cpu_after - cpu_before) / run.span_s
    load = load_average()
    step.load_1m = load[0] if load else None
    return step


def resolve_case(name: str) -> tuple[Case, bool]:
    """The case to send and whether its prompt repeats: `<case>-cached` is `<case>` with the
    identical prompt every time, so the proxy's detection cache answers after the first (the
    path of a request whose text was seen before, and the relay's own cost)."""
    if name.endswith(CACHED_SUFFIX):
        case = openai_case(name.removesuffix(CACHED_SUFFIX))
        description = f"{case.description}; the identical prompt every time: detection cache hits"
        return replace(case, name=name, description=description), True
    return openai_case(name), False


async def run_case(
    case: Case,
    workers: int,
    settings: Settings,
    sessions: dict[str, aiohttp.ClientSession],
    endpoints: dict[str, Endpoint],
    proxy: ChildProcess,
    variants: Variants,
) -> CaseRun:
    result = CaseRun(case.name, case.description, case.streaming, workers)
    print(f"case {case.name}, proxy workers={workers}: warming up", flush=True)
    for side in SIDES:  # spaCy's first calls, the connection pools
        await asyncio.gather(
            *(send(sessions[side], case, endpoints[side], variants.next()) for _ in range(settings.warmup))
        )
    climbing = {side: True for side in SIDES}
    for index, rate in enumerate(settings.ladders[case.name]):
        if not any(climbing.values()):
            break
        # Alternate which side goes first, so drift on the machine lands on both evenly.
        order = SIDES if index % 2 == 0 else tuple(reversed(SIDES))
        for side in order:
            if not climbing[side]:
                continue
            await wait_idle(sessions["proxy"], proxy.url, limit_s=settings.request_timeout_s + 5)
            await asyncio.sleep(settings.settle_s)
            step = await run_step(
                sessions[side], case, endpoints[side], rate, index, settings, variants, proxy.pid
            )
            s = step.summary
            print(
                f"  -> {case.name} {side} {rate:g}/s: achieved {s.achieved_rps:.1f}/s, "
                f"p50 {s.accepted_p50_ms:.1f} p99 {s.accepted_p99_ms:.1f} ms, "
                f"not accepted {step.not_accepted}/{s.sent}"
                + ("" if keeps_climbing(step) else "  (stops climbing)"),
                flush=True,
            )
            result.steps.append(step)
            climbing[side] = keeps_climbing(step)
    return result


def resolved_settings(config_path: Path, workers: int) -> str:
    """What the proxy made of its configuration ("auto" values resolved), read as it reads it."""
    config = parse_config(yaml.safe_load(config_path.read_text()), env={})  # no CONSENTRY_* reach it
    return (
        f"proxy workers={workers}: event loop {config.event_loop}, server.workers {config.workers}, "
        f"detection.workers {config.detection.workers} per serving process"
    )


async def run_proxy(
    settings: Settings, workers: int, names: list[str], workdir: Path, meta: dict[str, Any]
) -> list[CaseRun]:
    children: list[ChildProcess] = []
    here = workdir / f"workers-{workers}"
    here.mkdir(parents=True, exist_ok=True)
    try:
        fake, proxy, detector = await start_paced_stack(
            here,
            paced_openai_options(settings.chunk_size, settings.upstream_delay_s, settings.stream_gap_s),
            lambda fake_url: proxy_config(
                fake_url,
                here,
                detection_workers=settings.detection_workers,
                log_level=settings.proxy_log_level,
                server_workers=workers,
            ),
            settings.ready_timeout_s,
            children,
            serving_processes=workers,
        )
        line = (detector or "no detector line").rstrip('}"')  # without a JSON log line's end
        meta.setdefault("detector_lines", []).append(f"proxy workers={workers}: {line}")
        meta.setdefault("proxy_resolved", []).append(resolved_settings(here / "consentry.yaml", workers))
        endpoints = {"direct": Endpoint("direct", fake.url), "proxy": Endpoint("proxy", proxy.url)}
        variants = Variants(repeat=False)
        runs: list[CaseRun] = []
        async with side_sessions(settings.request_timeout_s) as sessions:
            for name in names:
                case, repeat = resolve_case(name)
                chosen = Variants(repeat=True) if repeat else variants
                runs.append(await run_case(case, workers, settings, sessions, endpoints, proxy, chosen))
        return runs
    finally:
        for child in reversed(children):
            child.stop()


def default_out() -> Path:
    return ROOT / "benchmarks" / "reports" / datetime.now(UTC).strftime("%Y-%m-%d")


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def write_report(out: Path, meta: dict[str, Any], runs: list[CaseRun]) -> None:
    plots = plot_all(runs, out)
    text = render(meta, runs, plots)
    (out / "report.md").write_text(text)
    print()
    print(text)
    print(f"report written to {out / 'report.md'}")


def render_again(directory: Path) -> int:
    """report.md and the plots once more from `directory`/results.json, without any load."""
    document = orjson.loads((directory / "results.json").read_bytes())
    write_report(directory, document["meta"], runs_from_json(document["runs"]))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    settings, args = parse_args(argv)
    if args.render is not None:
        return render_again(args.render)
    out: Path = args.out or default_out()
    workdir = Path(tempfile.mkdtemp(prefix="consentry-report-"))
    started = time.monotonic()
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "argv": " ".join(sys.argv[1:] if argv is None else argv),
        "commit": _git_commit(ROOT),
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "load_start": load_average(),
        "upstream_delay_s": settings.upstream_delay_s,
        "stream_chunks": settings.stream_chunks,
        "chunk_size": settings.chunk_size,
        "stream_gap_s": settings.stream_gap_s,
        "arrivals": settings.arrivals,
        "step_s": settings.step_s,
        "proxy_workers": ",".join(map(str, settings.proxy_workers)),
        "detection_workers": settings.detection_workers,
        "detection_note": DETECTION_NOTE if settings.detection_workers == "auto" else "as given",
        "log_level": settings.proxy_log_level,
    }
    print(
        f"consentry load report: cases {', '.join(settings.cases)}; proxy workers {meta['proxy_workers']}; "
        f"{settings.step_s:g} s per step; {os.cpu_count()} cpus, load average {meta['load_start']}; "
        f"workdir {workdir}; report to {out}",
        flush=True,
    )
    signal.signal(signal.SIGTERM, _terminate)
    failed = True
    try:
        runs: list[CaseRun] = []
        for workers, names in plan(settings):
            runs.extend(asyncio.run(run_proxy(settings, workers, names, workdir, meta)))
        meta["load_end"] = load_average()
        meta["elapsed_s"] = time.monotonic() - started
        document = {"meta": meta, "settings": asdict(settings), "runs": [asdict(r) for r in runs]}
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        write_report(out, meta, runs)
        failed = False
    finally:
        finish_workdir(workdir, args.keep_workdir or failed)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
