"""The SSE codec: line endings, events cut at every byte, fields kept in order, round trips."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.codecs.sse import SseDecoder, SseEvent

ENDINGS = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}

# The same stream in wire lines; joined with each line ending. It ends with an event that has no
# blank line after it, which only finish() can hand out.
LINES = [
    ": keep-alive",
    "",
    "event: message_start",
    "id: 1",
    'data: {"text": "Hello <PERSON_1>"}',
    "",
    "data: first line",
    "data: second line",
    "data",
    "retry: 3000",
    "",
    "data:no-space",
    "data:  two-spaces",
    "",
    "data: Zoë 🌎 ünïcode",
    "",
    "data: [DONE]",
    "",
    "data: tail",
]

EXPECTED = [
    SseEvent([("", " keep-alive")]),
    SseEvent([("event", "message_start"), ("id", "1"), ("data", '{"text": "Hello <PERSON_1>"}')]),
    SseEvent([("data", "first line"), ("data", "second line"), ("data", ""), ("retry", "3000")]),
    SseEvent([("data", "no-space"), ("data", " two-spaces")]),
    SseEvent([("data", "Zoë 🌎 ünïcode")]),
    SseEvent([("data", "[DONE]")]),
    SseEvent([("data", "tail")]),
]


def wire(ending: bytes) -> bytes:
    return ending.join(line.encode() for line in LINES)


def decode(chunks: list[bytes]) -> list[SseEvent]:
    decoder = SseDecoder()
    events: list[SseEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    events.extend(decoder.finish())
    return events


@pytest.mark.parametrize("ending", list(ENDINGS.values()), ids=list(ENDINGS))
def test_decode_whole_stream(ending: bytes) -> None:
    assert decode([wire(ending)]) == EXPECTED


@pytest.mark.parametrize("ending", list(ENDINGS.values()), ids=list(ENDINGS))
def test_split_at_every_byte(ending: bytes) -> None:
    raw = wire(ending)
    for i in range(len(raw) + 1):
        assert decode([raw[:i], raw[i:]]) == EXPECTED, i


@pytest.mark.parametrize("ending", list(ENDINGS.values()), ids=list(ENDINGS))
def test_one_byte_at_a_time(ending: bytes) -> None:
    raw = wire(ending)
    assert decode([raw[i : i + 1] for i in range(len(raw))]) == EXPECTED


def test_events_are_handed_out_as_soon_as_their_blank_line_arrives() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\n") == [SseEvent([("data", "a")])]
    assert decoder.feed(b"data: b\r\n\r\n") == [SseEvent([("data", "b")])]
    assert decoder.finish() == []


def test_crlf_split_between_cr_and_lf_is_one_line_ending() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == []
    assert decoder.feed(b"\n") == [SseEvent([("data", "a"), ("data", "b")])]
    assert decoder.finish() == []


def test_mixed_line_endings() -> None:
    assert decode([b"data: a\r\ndata: b\rdata: c\n\r\nevent: x\ndata: d\n\n"]) == [
        SseEvent([("data", "a"), ("data", "b"), ("data", "c")]),
        SseEvent([("event", "x"), ("data", "d")]),
    ]


def test_blank_lines_without_fields_make_no_events() -> None:
    assert decode([b"\n\n\r\n\r\n"]) == []


def test_invalid_utf8_is_replaced_not_raised() -> None:
    [event] = decode([b"data: \xff\xfe ok\n\n"])
    assert event.data == "\ufffd\ufffd ok"


@pytest.mark.parametrize("raw", [b"data: x\r\r", b"data: x\r"], ids=["blank-line", "no-blank-line"])
def test_finish_treats_trailing_cr_as_line_ending(raw: bytes) -> None:
    # The lone CR at the end is held back in case an LF follows; at the end of the stream it is a
    # line ending, not content: no '\r' in the value and no field named '\r'.
    assert decode([raw]) == [SseEvent([("data", "x")])]


# --- the event object ------------------------------------------------------------------------


def test_event_and_data_properties() -> None:
    event = SseEvent([("id", "1"), ("event", "delta"), ("data", "a"), ("data", "b")])
    assert event.event == "delta"
    assert event.data == "a\nb"
    bare = SseEvent([("", "comment")])
    assert bare.event is None
    assert bare.data is None
    assert SseEvent([("data", "")]).data == ""


def test_with_data_keeps_other_fields_in_place() -> None:
    event = SseEvent([("event", "delta"), ("id", "7"), ("data", "a"), ("data", "b"), ("retry", "10")])
    new = event.with_data("x\ny\nz")
    assert new.fields == [
        ("event", "delta"),
        ("id", "7"),
        ("data", "x"),
        ("data", "y"),
        ("data", "z"),
        ("retry", "10"),
    ]
    assert new.event == "delta"
    assert new.data == "x\ny\nz"
    # The original is untouched.
    assert event.data == "a\nb"


def test_with_data_on_event_without_data_appends_it() -> None:
    new = SseEvent([("event", "ping")]).with_data("{}")
    assert new.fields == [("event", "ping"), ("data", "{}")]


def test_encode_wire_format() -> None:
    event = SseEvent([("", " keep-alive"), ("event", "delta"), ("data", "a"), ("data", "b")])
    assert event.encode() == b": keep-alive\nevent: delta\ndata: a\ndata: b\n\n"


def test_replaced_event_decodes_to_new_data_and_same_event() -> None:
    [event] = decode([b'event: content_block_delta\ndata: {"t": "<PERSON_1>"}\n\n'])
    replaced = event.with_data('{"t": "Ada \\"Lovelace\\""}\n{"more": 1}')
    [back] = decode([replaced.encode()])
    assert back.event == "content_block_delta"
    assert back.data == '{"t": "Ada \\"Lovelace\\""}\n{"more": 1}'


# --- round trips -----------------------------------------------------------------------------

VALUES = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=20)
NAMES = st.sampled_from(["data", "event", "id", "retry", "x-custom"])
FIELDS = st.one_of(st.tuples(NAMES, VALUES), st.tuples(st.just(""), VALUES))
EVENTS = st.lists(FIELDS, min_size=1, max_size=6).map(SseEvent)


@given(st.lists(EVENTS, max_size=5), st.data())
@settings(max_examples=200, deadline=None)
def test_encode_decode_round_trip(events: list[SseEvent], data: st.DataObject) -> None:
    raw = b"".join(e.encode() for e in events)
    assert decode([raw]) == events
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=8)))
    bounds = [0, *cuts, len(raw)]
    assert decode([raw[a:b] for a, b in pairwise(bounds)]) == events


@given(EVENTS, st.lists(VALUES, min_size=1, max_size=4).map("\n".join))
@settings(max_examples=200, deadline=None)
def test_with_data_round_trip(event: SseEvent, new_data: str) -> None:
    replaced = event.with_data(new_data)
    [back] = decode([replaced.encode()])
    assert back.data == new_data
    assert back.event == event.event
    assert [f for f in back.fields if f[0] != "data"] == [f for f in event.fields if f[0] != "data"]
