"""A customer's known identifiers are matched on the normalised view: look-alike spaces, full-width
letters and invisible characters do not hide them, and the span covers the original characters."""

from __future__ import annotations

import pytest

from proxy.known_identifiers import KnownIdentifierMatcher

MATCHER = KnownIdentifierMatcher({"PERSON": ["Jane Doe"], "ACCOUNT_NAME": ["acme-prod-7"]})


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("write to Jane\u00a0Doe now", "Jane\u00a0Doe"),
        ("write to \uff2a\uff41\uff4e\uff45 Doe now", "\uff2a\uff41\uff4e\uff45 Doe"),
        ("write to jane\u200b doe now", "jane\u200b doe"),
        ("write to Ja\u00adne Doe now", "Ja\u00adne Doe"),
        ("deploy ACME-PROD-7.", "ACME-PROD-7"),
    ],
)
def test_look_alike_characters_do_not_hide_a_known_identifier(text: str, found: str) -> None:
    assert [text[s.start : s.end] for s in MATCHER.find(text)] == [found]


def test_whole_words_only_still() -> None:
    assert MATCHER.find("deploy acme-prod-7x and Jane Doeson") == []


def test_a_known_value_written_with_odd_characters_matches_plain_text() -> None:
    matcher = KnownIdentifierMatcher({"PERSON": ["Jane\u00a0Doe"]})
    assert [(s.start, s.end) for s in matcher.find("ask Jane Doe")] == [(4, 12)]
