"""Transforms: overlap resolution, placeholders, hashing and the per-action rewrite of texts."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.consent import Action
from models.spans import Span
from proxy.restore import Restorer
from proxy.transform import Hasher, PlaceholderVault, apply_actions, resolve_overlaps

HASHER = Hasher(b"k" * 32)


# --- resolve_overlaps ------------------------------------------------------------------------


def test_no_spans() -> None:
    assert resolve_overlaps([]) == []


def test_disjoint_spans_are_sorted_and_kept() -> None:
    spans = [Span(10, 12, "B"), Span(0, 3, "A")]
    assert resolve_overlaps(spans) == [Span(0, 3, "A"), Span(10, 12, "B")]


def test_adjacent_spans_are_not_merged() -> None:
    spans = [Span(0, 5, "PERSON"), Span(5, 8, "LOCATION")]
    assert resolve_overlaps(spans) == spans


def test_nested_span_is_absorbed() -> None:
    merged = resolve_overlaps([Span(2, 5, "PERSON", 0.9), Span(0, 10, "LOCATION", 0.5)])
    assert merged == [Span(0, 10, "PERSON", 0.9)]


def test_overlap_takes_union_and_highest_score_type() -> None:
    merged = resolve_overlaps([Span(0, 6, "PERSON", 0.6), Span(4, 12, "EMAIL_ADDRESS", 0.95)])
    assert merged == [Span(0, 12, "EMAIL_ADDRESS", 0.95)]


def test_equal_scores_prefer_the_longer_span() -> None:
    merged = resolve_overlaps([Span(3, 5, "A", 0.8), Span(0, 9, "B", 0.8)])
    assert [(s.start, s.end, s.entity_type) for s in merged] == [(0, 9, "B")]


def test_chain_of_overlaps_merges_into_one() -> None:
    merged = resolve_overlaps([Span(0, 5, "A", 0.5), Span(4, 8, "B", 0.7), Span(7, 12, "C", 0.6)])
    assert len(merged) == 1
    assert (merged[0].start, merged[0].end, merged[0].entity_type) == (0, 12, "B")


def test_duplicate_spans_collapse() -> None:
    assert resolve_overlaps([Span(1, 4, "A"), Span(1, 4, "A")]) == [Span(1, 4, "A")]


SPANS = st.lists(
    st.builds(
        lambda a, n, t, s: Span(a, a + n, t, s),
        st.integers(0, 40),
        st.integers(1, 10),
        st.sampled_from(["PERSON", "LOCATION", "EMAIL_ADDRESS"]),
        st.floats(0, 1),
    ),
    max_size=10,
)


def covered(spans: list[Span]) -> set[int]:
    return {i for s in spans for i in range(s.start, s.end)}


@given(SPANS)
@settings(max_examples=300, deadline=None)
def test_resolve_overlaps_covers_exactly_the_union(spans: list[Span]) -> None:
    merged = resolve_overlaps(spans)
    assert covered(merged) == covered(spans)
    for a, b in pairwise(merged):
        assert a.end <= b.start  # sorted and non-overlapping
    for m in merged:
        members = [s for s in spans if m.start <= s.start and s.end <= m.end]
        assert members
        assert m.entity_type in {s.entity_type for s in members}
        assert m.score == max(s.score for s in members)


# --- PlaceholderVault ------------------------------------------------------------------------


def test_same_value_same_placeholder_different_values_different_numbers() -> None:
    vault = PlaceholderVault()
    a = vault.placeholder_for("PERSON", "Ada")
    b = vault.placeholder_for("PERSON", "Bob")
    assert a == "<PERSON_1>"
    assert b == "<PERSON_2>"
    assert vault.placeholder_for("PERSON", "Ada") == a
    assert vault.placeholder_for("LOCATION", "Paris") == "<LOCATION_1>"
    assert vault.by_placeholder == {"<PERSON_1>": "Ada", "<PERSON_2>": "Bob", "<LOCATION_1>": "Paris"}


def test_same_value_of_another_type_gets_its_own_placeholder() -> None:
    vault = PlaceholderVault()
    assert vault.placeholder_for("PERSON", "Paris") != vault.placeholder_for("LOCATION", "Paris")


def test_placeholders_present_in_request_are_skipped() -> None:
    vault = PlaceholderVault(avoid="I typed <PERSON_1> and <PERSON_2> myself, also <PERSON_10>")
    assert vault.placeholder_for("PERSON", "Ada") == "<PERSON_3>"
    assert vault.placeholder_for("PERSON", "Bob") == "<PERSON_4>"
    assert vault.placeholder_for("EMAIL_ADDRESS", "a@b.c") == "<EMAIL_ADDRESS_1>"
    assert "<PERSON_1>" not in vault.by_placeholder


# --- Hasher ----------------------------------------------------------------------------------


def test_hash_is_stable_and_keyed() -> None:
    again = Hasher(b"k" * 32)
    other = Hasher(b"j" * 32)
    digest = HASHER.digest("john@example.com", "EMAIL_ADDRESS")
    assert re.fullmatch(r"[0-9a-f]{12}", digest)
    assert again.digest("john@example.com", "EMAIL_ADDRESS") == digest
    assert other.digest("john@example.com", "EMAIL_ADDRESS") != digest
    assert HASHER.digest("john@example.com", "PERSON") != digest  # purpose separates domains
    assert HASHER.digest("jane@example.com", "EMAIL_ADDRESS") != digest
    assert len(HASHER.digest("x", "p", 20)) == 20


def test_pseudonym_shape() -> None:
    pseudonym = HASHER.pseudonym("user-42")
    assert re.fullmatch(r"anon-[0-9a-f]{32}", pseudonym)
    assert HASHER.pseudonym("user-42") == pseudonym
    assert HASHER.pseudonym("user-43") != pseudonym
    assert Hasher(b"other-key-000000").pseudonym("user-42") != pseudonym


# --- apply_actions ---------------------------------------------------------------------------


def test_each_action() -> None:
    text = "Ada Lovelace, ada@example.com, 078-05-1120, Paris, 2024-01-01"
    spans = [
        Span(0, 12, "PERSON"),
        Span(14, 29, "EMAIL_ADDRESS"),
        Span(31, 42, "US_SSN"),
        Span(44, 49, "LOCATION"),
        Span(51, 61, "DATE_TIME"),
    ]
    actions = {
        "PERSON": Action.MASK,
        "EMAIL_ADDRESS": Action.HASH,
        "US_SSN": Action.REDACT,
        "DATE_TIME": Action.ALLOW,
    }
    vault = PlaceholderVault(avoid=text)
    result = apply_actions([text], [spans], actions, vault, HASHER)
    email_hash = HASHER.digest("ada@example.com", "EMAIL_ADDRESS")
    assert result.texts == [f"<PERSON_1>, [EMAIL_ADDRESS:{email_hash}], [US_SSN], <LOCATION_1>, 2024-01-01"]
    assert vault.by_placeholder == {"<PERSON_1>": "Ada Lovelace", "<LOCATION_1>": "Paris"}
    assert result.tally == {
        "PERSON": (1, Action.MASK),
        "EMAIL_ADDRESS": (1, Action.HASH),
        "US_SSN": (1, Action.REDACT),
        "LOCATION": (1, Action.MASK),  # not named: the default action
        "DATE_TIME": (1, Action.ALLOW),
    }


def test_default_action_is_used_for_unnamed_types() -> None:
    result = apply_actions(["Ada"], [[Span(0, 3, "PERSON")]], {}, PlaceholderVault(), HASHER, Action.REDACT)
    assert result.texts == ["[PERSON]"]
    assert result.tally == {"PERSON": (1, Action.REDACT)}


def test_block_falls_back_to_mask() -> None:
    vault = PlaceholderVault()
    result = apply_actions(["Ada"], [[Span(0, 3, "PERSON")]], {"PERSON": Action.BLOCK}, vault, HASHER)
    assert result.texts == ["<PERSON_1>"]
    assert vault.by_placeholder == {"<PERSON_1>": "Ada"}


def test_same_value_same_placeholder_across_segments() -> None:
    texts = ["Ada met Bob", "Bob and Ada", "no one", "Cy"]
    spans = [
        [Span(0, 3, "PERSON"), Span(8, 11, "PERSON")],
        [Span(0, 3, "PERSON"), Span(8, 11, "PERSON")],
        [],
        [Span(0, 2, "PERSON")],
    ]
    result = apply_actions(texts, spans, {}, PlaceholderVault(avoid="\n".join(texts)), HASHER)
    assert result.texts == ["<PERSON_1> met <PERSON_2>", "<PERSON_2> and <PERSON_1>", "no one", "<PERSON_3>"]
    assert result.tally == {"PERSON": (5, Action.MASK)}


def test_overlapping_detections_leak_nothing() -> None:
    text = "write to john.smith@example.com today"
    spans = [Span(9, 19, "PERSON", 0.6), Span(9, 31, "EMAIL_ADDRESS", 1.0), Span(14, 19, "PERSON", 0.85)]
    vault = PlaceholderVault()
    result = apply_actions([text], [spans], {}, vault, HASHER)
    assert result.texts == ["write to <EMAIL_ADDRESS_1> today"]
    assert result.tally == {"EMAIL_ADDRESS": (1, Action.MASK)}


def test_hash_is_the_same_for_the_same_value_in_any_segment() -> None:
    result = apply_actions(
        ["a@b.co", "x a@b.co"],
        [[Span(0, 6, "EMAIL_ADDRESS")], [Span(2, 8, "EMAIL_ADDRESS")]],
        {"EMAIL_ADDRESS": Action.HASH},
        PlaceholderVault(),
        HASHER,
    )
    first, second = result.texts
    assert second == "x " + first
    assert "a@b.co" not in first


def test_texts_and_spans_must_pair_up() -> None:
    with pytest.raises(ValueError):
        apply_actions(["a", "b"], [[]], {}, PlaceholderVault(), HASHER)


TYPES = ["PERSON", "EMAIL_ADDRESS", "US_SSN", "LOCATION"]
ALPHABET = 'ab <>_PERSON1 é"🌎'


@st.composite
def segments_with_spans(draw: st.DrawFn) -> tuple[list[str], list[list[Span]]]:
    texts = draw(st.lists(st.text(ALPHABET, max_size=25), min_size=1, max_size=4))
    # Seed some texts with placeholder-looking strings the user typed.
    texts = [t + draw(st.sampled_from(["", "<PERSON_1>", "<US_SSN_2>", "<LOCATION_1"])) for t in texts]
    spans: list[list[Span]] = []
    for text in texts:
        n = len(text)
        own: list[Span] = []
        if n:
            for _ in range(draw(st.integers(0, 4))):
                a = draw(st.integers(0, n - 1))
                b = draw(st.integers(a + 1, n))
                own.append(Span(a, b, draw(st.sampled_from(TYPES)), draw(st.floats(0, 1))))
        spans.append(own)
    return texts, spans


@given(segments_with_spans())
@settings(max_examples=300, deadline=None)
def test_masking_then_restoring_gives_back_the_request(case: tuple[list[str], list[list[Span]]]) -> None:
    texts, spans = case
    vault = PlaceholderVault(avoid="\n".join(texts))
    result = apply_actions(texts, spans, {}, vault, HASHER)
    restorer = Restorer(vault.by_placeholder)
    assert [restorer.restore(t) for t in result.texts] == texts
    # No placeholder handed out was already in the request.
    for placeholder in vault.by_placeholder:
        assert all(placeholder not in t for t in texts)
    # Same (type, value) -> same placeholder, different -> different.
    assert len(set(vault.by_value.values())) == len(vault.by_value)
    assert sum(n for n, _ in result.tally.values()) == sum(len(resolve_overlaps(s)) for s in spans)


@given(segments_with_spans(), st.sampled_from([Action.REDACT, Action.HASH]))
@settings(max_examples=200, deadline=None)
def test_irreversible_actions_leave_no_placeholders(case, action: Action) -> None:
    texts, spans = case
    vault = PlaceholderVault(avoid="\n".join(texts))
    result = apply_actions(texts, spans, {t: action for t in TYPES}, vault, HASHER)
    assert vault.by_placeholder == {}
    for text, out, own in zip(texts, result.texts, spans, strict=True):
        merged = resolve_overlaps(own)
        # Text outside the spans is kept, in order.
        starts = [Span(0, 0, ""), *merged]
        ends = [*merged, Span(len(text), len(text), "")]
        kept = "".join(text[a.end : b.start] for a, b in zip(starts, ends, strict=True))
        marker = r"\[[A-Z_]+\]" if action is Action.REDACT else r"\[[A-Z_]+:[0-9a-f]{12}\]"
        assert re.sub(marker, "", out) == kept


@given(segments_with_spans())
@settings(max_examples=100, deadline=None)
def test_allow_changes_nothing(case) -> None:
    texts, spans = case
    vault = PlaceholderVault()
    result = apply_actions(texts, spans, {t: Action.ALLOW for t in TYPES}, vault, HASHER)
    assert result.texts == texts
    assert vault.by_placeholder == {}
