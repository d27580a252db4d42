"""Restoring placeholders: whole texts, and streams cut at every possible position."""

from __future__ import annotations

import html
import json
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.restore import PLACEHOLDER, Restorer

# Several types, a shared prefix (<PERSON_1 / <PERSON_12>), values with markup, quotes and unicode.
PLACEHOLDERS = {
    "<PERSON_1>": "Ada <Lovelace>",
    "<PERSON_2>": 'Grace "Hopper"',
    "<PERSON_12>": "Zoë Ångström",
    "<EMAIL_ADDRESS_1>": "a<b>@example.com",
    "<US_SSN_3>": "078-05-1120",
    "<LOCATION_1>": "São Paulo 🌎",
    "<PHONE_NUMBER_10>": "'+1 (555) <0100>'",
    "<X_1>": "",
}
LONGEST = max(len(p) for p in PLACEHOLDERS)

RESTORER = Restorer(PLACEHOLDERS)


def json_escape(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)[1:-1]


def oracle(text: str, placeholders: dict[str, str], escape=None) -> str:
    """Independent restore: replace every occurrence of a known placeholder, left to right."""
    out: list[str] = []
    i = 0
    while i < len(text):
        for key, value in placeholders.items():
            if text.startswith(key, i):
                out.append(escape(value) if escape else value)
                i += len(key)
                break
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def prefixes(placeholder: str) -> list[str]:
    return [placeholder[:i] for i in range(1, len(placeholder))]


PIECES = st.one_of(
    st.sampled_from(sorted(PLACEHOLDERS)),
    st.sampled_from(sorted({p for k in PLACEHOLDERS for p in prefixes(k)})),
    st.sampled_from(
        ["<PERSON_9>", "<person_1>", "<PERSON_>", "< PERSON_1>", "<>", "<<", ">>", "a < b", "x>y"]
    ),
    st.text(alphabet="<>_PERSON0129 aé\"'\n🌎", max_size=8),
    st.text(max_size=5),
)
TEXTS = st.lists(PIECES, max_size=12).map("".join)
ESCAPES = st.sampled_from([None, json_escape, html.escape, str.upper])


def stream_all(pieces: list[str], escape=None, restorer: Restorer = RESTORER) -> str:
    stream = restorer.stream(escape)
    out = [stream.feed(p) for p in pieces]
    out.append(stream.flush())
    assert not stream.pending
    return "".join(out)


def split_at(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in pairwise(bounds)]


# --- whole-text restore -----------------------------------------------------------------------


def test_restore_known_placeholders() -> None:
    text = "Hi <PERSON_1>, mail <EMAIL_ADDRESS_1> or call <PHONE_NUMBER_10>. <PERSON_12>!"
    assert RESTORER.restore(text) == (
        "Hi Ada <Lovelace>, mail a<b>@example.com or call '+1 (555) <0100>'. Zoë Ångström!"
    )


@pytest.mark.parametrize(
    "text",
    [
        "a < b and c > d",
        "<PERSON_9> is unknown",
        "<person_1> is lower case",
        "<PERSON_1 without a closing bracket",
        "PERSON_1>",
        "<<>>",
        "",
        "no markup at all",
    ],
)
def test_lookalikes_pass_through_unchanged(text: str) -> None:
    assert RESTORER.restore(text) == text
    assert stream_all(list(text)) == text
    assert stream_all([text]) == text


def test_restore_is_not_recursive() -> None:
    # A restored value that itself looks like a placeholder is not restored again.
    restorer = Restorer({"<PERSON_1>": "<PERSON_2>", "<PERSON_2>": "Bob"})
    assert restorer.restore("<PERSON_1> <PERSON_2>") == "<PERSON_2> Bob"
    assert stream_all(list("<PERSON_1> <PERSON_2>"), restorer=restorer) == "<PERSON_2> Bob"


def test_placeholder_inside_brackets() -> None:
    assert RESTORER.restore("<<PERSON_2>>") == '<Grace "Hopper">'


def test_escape_applies_to_restored_values_only() -> None:
    text = 'x < y & "q" <PERSON_2> <EMAIL_ADDRESS_1>'
    assert RESTORER.restore(text, html.escape) == (
        'x < y & "q" Grace &quot;Hopper&quot; a&lt;b&gt;@example.com'
    )
    assert RESTORER.restore(text, json_escape) == 'x < y & "q" Grace \\"Hopper\\" a<b>@example.com'
    assert stream_all(list(text), html.escape) == RESTORER.restore(text, html.escape)


def test_escape_not_called_without_placeholders() -> None:
    calls: list[str] = []

    def escape(value: str) -> str:
        calls.append(value)
        return value

    assert RESTORER.restore("plain <b> text <PERSON_9>", escape) == "plain <b> text <PERSON_9>"
    assert calls == []
    RESTORER.restore("<US_SSN_3>", escape)
    assert calls == ["078-05-1120"]


def test_empty_restorer_is_inactive_and_passes_everything() -> None:
    restorer = Restorer({})
    assert not restorer.active
    assert RESTORER.active
    text = "<PERSON_1> <"
    assert restorer.restore(text) == text
    assert restorer.holdback(text) == len(text)
    stream = restorer.stream()
    assert stream.feed(text) == text
    assert not stream.pending


@given(TEXTS, ESCAPES)
@settings(max_examples=300, deadline=None)
def test_restore_matches_oracle(text: str, escape) -> None:
    assert RESTORER.restore(text, escape) == oracle(text, PLACEHOLDERS, escape)


def test_placeholder_pattern_matches_vault_style_names() -> None:
    for key in PLACEHOLDERS:
        assert PLACEHOLDER.fullmatch(key)


# --- streaming --------------------------------------------------------------------------------


@given(TEXTS, ESCAPES)
@settings(max_examples=200, deadline=None)
def test_stream_split_at_every_position_equals_restore(text: str, escape) -> None:
    whole = RESTORER.restore(text, escape)
    for i in range(len(text) + 1):
        assert stream_all([text[:i], text[i:]], escape) == whole, i


@given(TEXTS, ESCAPES, st.data())
@settings(max_examples=200, deadline=None)
def test_stream_random_multi_split_equals_restore(text: str, escape, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=10))
    assert stream_all(split_at(text, cuts), escape) == RESTORER.restore(text, escape)


@given(TEXTS)
@settings(max_examples=200, deadline=None)
def test_stream_char_by_char_equals_restore(text: str) -> None:
    assert stream_all(list(text)) == RESTORER.restore(text)


def test_stream_holds_only_a_possible_placeholder_start() -> None:
    stream = RESTORER.stream()
    assert stream.feed("Hello <PERS") == "Hello "
    assert stream.pending
    assert stream.feed("ON_1") == ""  # "<PERSON_1" could still become <PERSON_1> or <PERSON_12>
    assert stream.feed("2>, and") == "Zoë Ångström, and"
    assert not stream.pending
    assert stream.feed(" <PERSON_9") == " <PERSON_9"  # not a prefix of anything known
    assert not stream.pending
    assert stream.feed(" <PERSON_1") == " "
    assert stream.flush() == "<PERSON_1"  # an unfinished prefix is released as is at the end
    assert stream.flush() == ""


def test_feed_without_angle_bracket_returns_at_once() -> None:
    stream = RESTORER.stream()
    assert stream.feed("no placeholder here > still none") == "no placeholder here > still none"
    assert not stream.pending
    assert stream.feed("") == ""
    assert stream.flush() == ""


def test_stream_escape_is_applied_to_values_only() -> None:
    stream = RESTORER.stream(json_escape)
    out = stream.feed('say "<PER') + stream.feed('SON_2>"') + stream.flush()
    assert out == 'say "Grace \\"Hopper\\""'


@given(TEXTS)
@settings(max_examples=300, deadline=None)
def test_holdback_is_bounded_by_longest_placeholder(text: str) -> None:
    cut = RESTORER.holdback(text)
    assert 0 <= cut <= len(text)
    held = text[cut:]
    assert len(held) < LONGEST
    if held:
        # What is held is a proper prefix of some known placeholder.
        assert any(key.startswith(held) and key != held for key in PLACEHOLDERS)
    if "<" not in text:
        assert cut == len(text)


@given(TEXTS, st.data())
@settings(max_examples=200, deadline=None)
def test_stream_pending_never_exceeds_longest(text: str, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=8))
    stream = RESTORER.stream()
    for piece in split_at(text, cuts):
        stream.feed(piece)
        assert len(stream._pending) < LONGEST
