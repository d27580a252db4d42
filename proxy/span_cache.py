"""Detection results per text segment, so conversation history is not analysed again.

Keys are a SHA-256 of the customer id and the text, plus the entity configuration; values are
spans (offsets, types, scores). The customer is part of the digest so the cache is per customer:
one customer cannot learn from response timing whether another customer sent the same text.
Neither the text nor the customer id is stored, and memory is bounded by entries and by spans.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable

from proxy.analysis import RawSpan

CacheKey = tuple[bytes, Hashable]


def cache_key(text: str, configuration: Hashable, *, customer_id: str) -> CacheKey:
    """The key for `text` detected under `configuration` on behalf of `customer_id`.

    The customer id is length-prefixed into the digest, so no (customer, text) pair can collide
    with another by moving characters across the boundary.
    """
    customer = customer_id.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(len(customer).to_bytes(8, "big"))
    digest.update(customer)
    digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.digest(), configuration


class SpanCache:
    def __init__(self, max_entries: int = 20_000, max_spans: int = 200_000) -> None:
        self.max_entries = max_entries
        self.max_spans = max_spans
        self._data: OrderedDict[CacheKey, tuple[RawSpan, ...]] = OrderedDict()
        self._spans = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    @property
    def span_count(self) -> int:
        return self._spans

    def get(self, key: CacheKey) -> tuple[RawSpan, ...] | None:
        found = self._data.get(key)
        if found is None:
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return found

    def put(self, key: CacheKey, spans: tuple[RawSpan, ...]) -> None:
        if self.max_entries <= 0 or len(spans) > self.max_spans:
            return
        previous = self._data.pop(key, None)
        if previous is not None:
            self._spans -= len(previous)
        self._data[key] = spans
        self._spans += len(spans)
        while len(self._data) > self.max_entries or self._spans > self.max_spans:
            _, evicted = self._data.popitem(last=False)
            self._spans -= len(evicted)
