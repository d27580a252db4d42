"""The detector behind its interface: cache keyed by entity configuration and bounded, known
customer identifiers, NER skipped when the rules need none, worker processes, fail closed."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from models.consent import Action, Consent
from proxy.detection import DetectionError, PresidioDetector
from proxy.known_identifiers import KnownIdentifierMatcher
from proxy.span_cache import SpanCache, cache_key
from rules.loader import parse_rules

TEXT = "Jane Doe lives in Berlin and writes from jane.doe@example.com"


def consent(customer: str = "c1", **entry: object) -> Consent:
    return parse_rules({"version": "t", "default": {}, "customers": {customer: entry}}).consent_for(customer)


def types(spans: list) -> set[str]:
    return {s.entity_type for s in spans}


def test_detects_with_default_policy(detector: PresidioDetector) -> None:
    found = asyncio.run(detector.detect([TEXT], consent()))[0]
    assert {"PERSON", "EMAIL_ADDRESS", "LOCATION"} <= types(found)


def test_cache_is_keyed_by_entity_configuration(detector: PresidioDetector) -> None:
    text = "Maximilian Oberhuber phoned from Salzburg about order 5521."
    everything = consent("all")
    no_person = consent(
        "np", actions={"PERSON": "allow", "LOCATION": "allow", "DATE_TIME": "allow", "NRP": "allow"}
    )
    first = asyncio.run(detector.detect([text], everything))[0]
    assert "PERSON" in types(first)
    second = asyncio.run(detector.detect([text], no_person))[0]
    assert "PERSON" not in types(second) and "LOCATION" not in types(second)
    # and back: the narrower result cached in between must not be served to the wider configuration
    third = asyncio.run(detector.detect([text], everything))[0]
    assert types(third) == types(first)


def test_cache_hits_for_repeated_history(detector: PresidioDetector) -> None:
    history = ["Hello, I am Oskar Lindqvist.", "How can I help?", "My email is oskar@example.se"]
    c = consent()
    asyncio.run(detector.detect(history, c))
    hits = detector.cache.hits
    asyncio.run(detector.detect([*history, "Thanks!"], c))
    assert detector.cache.hits - hits == 3


def test_ner_skipped_when_rules_need_no_ner_entity(detector: PresidioDetector) -> None:
    allow_ner = {e: "allow" for e in ("PERSON", "LOCATION", "NRP", "DATE_TIME", "ORGANIZATION")}
    c = consent("nn", actions=allow_ner)
    needed, use_ner = detector.configuration(c)
    assert not use_ner and "EMAIL_ADDRESS" in needed
    found = asyncio.run(detector.detect([TEXT], c))[0]
    assert types(found) == {"EMAIL_ADDRESS"} or types(found) <= {"EMAIL_ADDRESS", "URL"}


def test_span_cache_memory_is_bounded() -> None:
    cache = SpanCache(max_entries=50, max_spans=120)
    for i in range(1000):
        # one bound over all customers, not one per customer
        key = cache_key(f"text {i}", ("cfg",), customer_id=f"c{i % 7}")
        cache.put(key, tuple((0, 1, "PERSON", 0.9) for _ in range(i % 5)))
        assert len(cache) <= 50 and cache.span_count <= 120
    oversized = tuple((0, 1, "PERSON", 0.9) for _ in range(500))
    cache.put(cache_key("huge", ("cfg",), customer_id="c1"), oversized)
    assert cache.get(cache_key("huge", ("cfg",), customer_id="c1")) is None


def test_span_cache_never_stores_text() -> None:
    cache = SpanCache()
    key = cache_key("Jane Doe secret", ("cfg",), customer_id="c1")
    cache.put(key, ((0, 8, "PERSON", 0.85),))
    assert b"Jane" not in repr(cache._data).encode()
    assert cache.get(cache_key("Jane Doe secret", ("other",), customer_id="c1")) is None


def test_known_identifiers_always_masked(detector: PresidioDetector) -> None:
    c = consent("acme", known_identifiers={"ACCOUNT_NAME": ["zorblax-9"], "PERSON": ["qwyn vortigaunt"]})
    text = "Account ZORBLAX-9 belongs to qwyn vortigaunt; zorblax-99 is someone else."
    found = asyncio.run(detector.detect([text], c))[0]
    known = [(text[s.start : s.end], s.entity_type) for s in found if s.entity_type == "ACCOUNT_NAME"]
    assert known == [("ZORBLAX-9", "ACCOUNT_NAME")]
    assert any(text[s.start : s.end] == "qwyn vortigaunt" for s in found)


def test_known_identifier_matcher_whole_words_and_unicode() -> None:
    matcher = KnownIdentifierMatcher({"PERSON": ["Ann", "Zoë Ørsted"]})
    text = "Annual report by ann; ZOË ØRSTED agrees. İstanbul Ann."
    found = [(text[s.start : s.end]) for s in matcher.find(text)]
    assert found == ["ann", "ZOË ØRSTED", "Ann"]
    assert not KnownIdentifierMatcher({})


def test_worker_processes_match_in_process(detector: PresidioDetector) -> None:
    async def run() -> list[list[tuple[int, int, str]]]:
        pooled = PresidioDetector(workers=2, timeout_s=60)
        await pooled.start()
        try:
            texts = [TEXT, "Call Olga Petrova on +1 415 555 0133", "nothing here"]
            found = await pooled.detect(texts, consent())
            return [sorted((s.start, s.end, s.entity_type) for s in spans) for spans in found]
        finally:
            await pooled.close()

    in_process = asyncio.run(
        detector.detect([TEXT, "Call Olga Petrova on +1 415 555 0133", "nothing here"], consent("x"))
    )
    assert asyncio.run(run()) == [
        sorted((s.start, s.end, s.entity_type) for s in spans) for spans in in_process
    ]


def test_deadline_fails_closed() -> None:
    slow = PresidioDetector(timeout_s=0.001)
    slow.load()
    with pytest.raises(DetectionError):
        asyncio.run(slow.detect(["Jane Doe " * 2000], consent()))


def test_not_loaded_fails_closed() -> None:
    with pytest.raises(DetectionError):
        asyncio.run(PresidioDetector().detect(["Jane Doe"], consent()))


def test_scan_cli_writes_spans_per_line(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "\n".join(orjson.dumps({"text": t}).decode() for t in ["Email jane@example.com now", "no data"])
        + "\n"
    )
    config = tmp_path / "c.yaml"
    config.write_text(f"ledger: {{path: {tmp_path / 'l.db'}}}\nhash_key: k\n")
    done = subprocess.run(
        [sys.executable, "-m", "proxy.cli", "scan", "--jsonl", str(source), "--config", str(config)],
        capture_output=True,
        check=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
    )
    lines = [orjson.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == 2 and lines[1] == {"spans": []}
    email = [s for s in lines[0]["spans"] if s["entity_type"] == "EMAIL_ADDRESS"]
    assert email and email[0]["start"] == 6 and email[0]["end"] == 22 and 0 < email[0]["score"] <= 1


def test_action_allow_is_not_detected(detector: PresidioDetector) -> None:
    c = consent("allow-mail", actions={"EMAIL_ADDRESS": "allow"})
    assert c.action_for("EMAIL_ADDRESS") is Action.ALLOW
    assert "EMAIL_ADDRESS" not in types(asyncio.run(detector.detect([TEXT], c))[0])


def test_long_segment_split_across_workers_finds_entities_at_the_cut() -> None:
    filler = "The quarterly numbers look fine and nothing else is notable here. " * 60
    text = filler + "Please contact Jane Doe at jane.doe@example.com today. " + filler

    async def run() -> list:
        pooled = PresidioDetector(workers=2, timeout_s=60)
        await pooled.start()
        try:
            return (await pooled.detect([text], consent()))[0]
        finally:
            await pooled.close()

    found = asyncio.run(run())
    values = {text[s.start : s.end] for s in found}
    assert "jane.doe@example.com" in values and any("Jane Doe" in v for v in values)
