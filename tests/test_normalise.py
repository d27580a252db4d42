"""The normalised detection view and its map back to the original characters."""

from __future__ import annotations

import itertools
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.normalise import JOINS_PREVIOUS, normalise

NBSP, NNBSP, THIN, ZWSP, SHY, WJ, BOM = "\u00a0", "\u202f", "\u2009", "\u200b", "\u00ad", "\u2060", "\ufeff"


def original_of(text: str, start: int, end: int) -> str:
    _, offsets = normalise(text)
    s, e = offsets.to_original(start, end)
    return text[s:e]


@pytest.mark.parametrize(
    ("text", "view"),
    [
        (f"+41{NBSP}44{NNBSP}668{THIN}18\u200700", "+41 44 668 18 00"),
        ("\uff10\uff17\uff17\u3000\uff11\uff12", "077 12"),  # full-width digits, ideographic space
        ("ana\uff20example\uff0ecom", "ana@example.com"),
        (f"ana{ZWSP}bel@exa{WJ}mple.com{BOM}", "anabel@example.com"),
        (f"Mar{SHY}garet", "Margaret"),
        ("Ren\u0065\u0301e", "Ren\u00e9e"),  # combining acute composes
        ("\ufb01le", "file"),  # ligature splits
        ("call 555\u20110100", "call 555-0100"),  # non-breaking hyphen
        ("\u1100\u1161\u11a8", "\uac01"),  # Hangul jamo compose
        ("a\u200eb\u202ec\u2066d", "abcd"),  # direction marks and isolates
    ],
)
def test_view(text: str, view: str) -> None:
    assert normalise(text)[0] == view


def test_ascii_is_returned_as_is_with_the_identity_map() -> None:
    text = "Call 044 668 18 00 or mail ana@example.com"
    view, offsets = normalise(text)
    assert view is text and offsets.is_identity
    assert offsets.to_original(5, 18) == (5, 18)


def test_normalised_unicode_without_folded_characters_is_unchanged() -> None:
    text = "Grüße aus Zürich, Ελλάδα, 東京"
    view, offsets = normalise(text)
    assert view is text and offsets.is_identity


def test_same_length_folds_keep_the_identity_map() -> None:
    text = f"Tel{NBSP}044{NNBSP}668 \uff11\uff18"
    view, offsets = normalise(text)
    assert view == "Tel 044 668 18" and offsets.is_identity


def test_span_over_a_value_maps_to_exactly_its_original_characters() -> None:
    text = f"mail: {ZWSP}ana{ZWSP}bel\uff20example.com{SHY}, thanks"
    view, offsets = normalise(text)
    start = view.index("anabel")
    end = view.index(".com") + 4
    # The zero-width space inside is covered, the ones at the edges are not.
    assert text[slice(*offsets.to_original(start, end))] == f"ana{ZWSP}bel\uff20example.com"


def test_a_part_of_an_expansion_maps_to_the_whole_original_character() -> None:
    text = "the \ufb01le"
    view, _ = normalise(text)
    assert view == "the file"
    assert original_of(text, 5, 6) == "\ufb01"  # the "i" of "fi"
    assert original_of(text, 4, 8) == "\ufb01le"


def test_composed_character_maps_to_its_whole_sequence() -> None:
    text = "Rene\u0301e Dubois"
    view, _ = normalise(text)
    assert original_of(text, 0, view.index(" ")) == "Rene\u0301e"
    assert original_of(text, 3, 4) == "e\u0301"


def test_empty_spans_and_bounds() -> None:
    text = f"ab{ZWSP}cd"
    view, offsets = normalise(text)
    assert view == "abcd"
    assert offsets.to_original(4, 4) == (5, 5)
    assert offsets.to_original(0, 0) == (0, 0)
    assert offsets.to_original(2, 2) == (3, 3)
    with pytest.raises(ValueError):
        offsets.to_original(0, 5)
    with pytest.raises(ValueError):
        offsets.to_original(3, 2)


def test_joins_previous_is_complete_for_this_unicode_version() -> None:
    # Characters of combining class 0 that are the second half of a canonical decomposition.
    expected = set()
    for code in range(0x110000):
        decomposition = unicodedata.decomposition(chr(code))
        if not decomposition or decomposition.startswith("<"):
            continue
        parts = [chr(int(part, 16)) for part in decomposition.split()]
        if len(parts) == 2 and unicodedata.combining(parts[1]) == 0:
            expected.add(parts[1])
    assert expected == set(JOINS_PREVIOUS)


# ------------------------------------------------------------------------------ properties

FOLDED = [NBSP, NNBSP, THIN, "\u2007", "\u3000", ZWSP, "\u200c", "\u200d", WJ, BOM, SHY, "\u2011", "\u200e"]
# Letters, digits, combining marks, precomposed letters, compatibility forms (full-width, ligatures,
# fractions, superscripts), Hangul jamo and syllables, Indic vowel signs that compose.
ALPHABET = st.sampled_from(
    list("ab Z09@.-+()\n")
    + FOLDED
    + ["\u0301", "\u0308", "\u0327", "\u00e9", "\u00c5", "\u212b", "\ufb01", "\ufb03", "\u00bd", "\u00b2"]
    + ["\uff10", "\uff19", "\uff21", "\uff20", "\uff0e", "\u2460", "\u3300", "\u1100", "\u1161", "\u11a8"]
    + ["\uac00", "\u0cc6", "\u0cc2", "\u0b47", "\u0b3e", "\u0915", "\u093c", "\u03b1", "\u0444"]
)
TEXTS = st.text(alphabet=ALPHABET, max_size=40)


def _expected_view(text: str) -> str:
    folded = {ord(c): None for c in FOLDED if unicodedata.normalize("NFKC", c) != " "} | {0x2010: "-"}
    return unicodedata.normalize("NFKC", text).translate(folded)


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_view_is_nfkc_with_the_folds(text: str) -> None:
    assert normalise(text)[0] == _expected_view(text)


@settings(max_examples=400, deadline=None)
@given(TEXTS, st.data())
def test_every_view_span_maps_to_valid_ordered_offsets(text: str, data: st.DataObject) -> None:
    view, offsets = normalise(text)
    start = data.draw(st.integers(0, len(view)))
    end = data.draw(st.integers(start, len(view)))
    s, e = offsets.to_original(start, end)
    assert 0 <= s <= e <= len(text)
    if start < end:
        assert s < e
        # Normalising what the span covers gives back at least the view's characters.
        assert view[start:end] in normalise(text[s:e])[0]


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_characters_further_right_never_map_further_left(text: str) -> None:
    view, offsets = normalise(text)
    ranges = [offsets.to_original(i, i + 1) for i in range(len(view))]
    assert ranges == sorted(ranges)
    assert all(e <= s2 or (s, e) == (s2, e2) for (s, e), (s2, e2) in itertools.pairwise(ranges))


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=ALPHABET, max_size=15),
    st.text(alphabet=st.sampled_from(list("0123456789")), min_size=3, max_size=12),
    st.lists(st.sampled_from([ZWSP, SHY, WJ, BOM]), max_size=3),
    st.text(alphabet=ALPHABET, max_size=15),
)
def test_a_value_in_the_view_maps_back_to_exactly_its_characters(
    before: str, digits: str, hidden: list[str], after: str
) -> None:
    # A value whose characters are split by invisible characters, between arbitrary text: its span
    # in the view covers exactly the original value, invisible characters inside included.
    value = digits[0] + "".join(hidden) + digits[1:]
    text = f"{before} {value} {after}"
    view, offsets = normalise(text)
    start = len(normalise(f"{before} ")[0])
    assert view[start : start + len(digits)] == digits
    assert text[slice(*offsets.to_original(start, start + len(digits)))] == value


@given(st.text(alphabet=st.characters(max_codepoint=0x7F)))
def test_ascii_is_always_identity(text: str) -> None:
    view, offsets = normalise(text)
    assert view == text and offsets.is_identity
