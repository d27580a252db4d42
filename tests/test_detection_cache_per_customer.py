"""The detection cache is per customer: the same text sent by another customer is analysed again,
so no customer can tell from response timing whether someone else already sent that text."""

from __future__ import annotations

import asyncio

from models.consent import Consent
from proxy.detection import PresidioDetector
from proxy.span_cache import SpanCache, cache_key
from rules.loader import parse_rules

# Unique to this file: the session-wide detector's cache is shared with other tests.
TEXT = "Per-customer cache probe: Theodora Quillfeather wrote from theodora.q@example.org"


def consent_for(customer: str) -> Consent:
    rules = parse_rules({"version": "t", "default": {}, "customers": {"cust-a": {}, "cust-b": {}}})
    return rules.consent_for(customer)


def test_same_text_is_a_miss_for_another_customer_and_a_hit_for_the_same(
    detector: PresidioDetector,
) -> None:
    a, b = consent_for("cust-a"), consent_for("cust-b")
    # Same policy, so the entity configuration is identical: only the customer differs.
    assert detector.configuration(a) == detector.configuration(b)
    cache = detector.cache

    hits, misses = cache.hits, cache.misses
    first_a = asyncio.run(detector.detect([TEXT], a))[0]
    assert (cache.hits - hits, cache.misses - misses) == (0, 1)

    hits, misses = cache.hits, cache.misses
    for_b = asyncio.run(detector.detect([TEXT], b))[0]
    assert (cache.hits - hits, cache.misses - misses) == (0, 1), "customer B was served A's cache entry"

    hits, misses = cache.hits, cache.misses
    again_a = asyncio.run(detector.detect([TEXT], a))[0]
    assert (cache.hits - hits, cache.misses - misses) == (1, 0)

    assert first_a == again_a == for_b  # isolation changes timing only, never the result


def test_cache_key_separates_customers_unambiguously() -> None:
    cfg = (("PERSON",), True)
    assert cache_key("hello", cfg, customer_id="a") == cache_key("hello", cfg, customer_id="a")
    assert cache_key("hello", cfg, customer_id="a") != cache_key("hello", cfg, customer_id="b")
    # moving characters between customer id and text must not produce the same key
    assert cache_key("bc", cfg, customer_id="a") != cache_key("c", cfg, customer_id="ab")
    assert cache_key("", cfg, customer_id="ab") != cache_key("ab", cfg, customer_id="")


def test_cache_stores_neither_text_nor_customer_id() -> None:
    cache = SpanCache()
    cache.put(cache_key("Jane Doe secret", ("cfg",), customer_id="acme-corp"), ((0, 8, "PERSON", 0.85),))
    stored = repr(cache._data)
    assert "Jane" not in stored and "acme-corp" not in stored
    assert cache.get(cache_key("Jane Doe secret", ("cfg",), customer_id="other-corp")) is None


def test_customers_without_a_rules_entry_do_not_share_a_cache_scope() -> None:
    rules = parse_rules({"version": "t", "default": {}, "customers": {}})
    first, second = rules.consent_for("unlisted-1"), rules.consent_for("unlisted-2")
    cfg = ("cfg",)
    assert cache_key(TEXT, cfg, customer_id=first.customer_id) != cache_key(
        TEXT, cfg, customer_id=second.customer_id
    )
