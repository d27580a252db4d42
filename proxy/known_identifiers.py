"""A customer's own account data (names, emails, account numbers from their consent record),
found wherever it appears with one multi-pattern automaton, so it never leaves even when NER
misses it. Its spans are `forced`: masked even where the rules allow their type.

Values and text are compared on their normalised views (`proxy.normalise`): a known name written
with a non-breaking space, full-width letters or a zero-width space inside is still that name,
and its span covers the original characters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import ahocorasick_rs

from models.spans import Span
from proxy.normalise import normalise


def _is_word_char(char: str) -> bool:
    return char.isalnum() or char == "_"


class KnownIdentifierMatcher:
    def __init__(self, values_by_type: Mapping[str, Sequence[str]]) -> None:
        pairs = sorted(
            {
                (normalise(value)[0].strip().lower(), etype)
                for etype, values in values_by_type.items()
                for value in values
                if value and normalise(value)[0].strip()
            }
        )
        self._types = [etype for _, etype in pairs]
        self._patterns = [value for value, _ in pairs]
        self._automaton = (
            ahocorasick_rs.AhoCorasick(self._patterns, matchkind=ahocorasick_rs.MatchKind.LeftmostLongest)
            if pairs
            else None
        )

    def __bool__(self) -> bool:
        return self._automaton is not None

    def find(self, text: str) -> list[Span]:
        if self._automaton is None:
            return []
        original = text
        text, offsets = normalise(original)
        lowered = text.lower()
        if len(lowered) != len(text):  # a few characters change length when lower-cased
            lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
        spans: list[Span] = []
        for index, start, end in self._automaton.find_matches_as_indexes(lowered):
            pattern = self._patterns[index]
            # Whole words only: a known "Ann" must not mask the start of "Annual".
            if _is_word_char(pattern[0]) and start > 0 and _is_word_char(text[start - 1]):
                continue
            if _is_word_char(pattern[-1]) and end < len(text) and _is_word_char(text[end]):
                continue
            if not offsets.is_identity:
                start, end = offsets.to_original(start, end)
            spans.append(Span(start, end, self._types[index], 1.0, forced=True))
        return spans
