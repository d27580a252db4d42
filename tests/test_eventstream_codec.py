"""The event stream codec against botocore's own decoder and fixed, independently known frames."""

from __future__ import annotations

import itertools
import struct
import uuid
import zlib
from datetime import UTC, datetime

import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.codecs.eventstream import (
    MAX_MESSAGE_LENGTH,
    EventStreamDecoder,
    EventStreamError,
    EventStreamMessage,
    HeaderValue,
    Int8,
    Int16,
    Int32,
    Int64,
    decode_all,
    encode_event,
    encode_exception,
    encode_message,
)

ALL_TYPES: dict[str, HeaderValue] = {
    ":message-type": "event",
    ":event-type": "contentBlockDelta",
    ":content-type": "application/json",
    "yes": True,
    "no": False,
    "byte": Int8(-7),
    "short": Int16(-30000),
    "int": Int32(123456),
    "long": Int64(-(2**40)),
    "blob": b"\x00\xff\x10",
    "when": datetime(2024, 11, 24, 12, 30, 1, 250000, tzinfo=UTC),
    "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "unicode": "Zoë - 東京",
}


def botocore_decode(data: bytes) -> list[tuple[dict[str, object], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(message.headers, message.payload) for message in buffer]


def as_botocore_value(value: HeaderValue) -> object:
    """botocore hands timestamps back as epoch milliseconds and UUIDs as 16 raw bytes."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, uuid.UUID):
        return value.bytes
    return value


def test_round_trip_all_header_types() -> None:
    frame = encode_message(ALL_TYPES, b'{"delta":{"text":"hi"}}')
    (message,) = decode_all(frame)
    assert message.headers == ALL_TYPES
    assert message.payload == b'{"delta":{"text":"hi"}}'
    assert message.wire_length == len(frame)
    # Integer widths survive, so re-encoding gives the same bytes.
    assert type(message.headers["short"]) is Int16
    assert message.encode() == frame


def test_helpers() -> None:
    (event,) = decode_all(encode_event("chunk", b"{}"))
    assert (event.message_type, event.event_type, event.content_type) == (
        "event",
        "chunk",
        "application/json",
    )
    assert event.is_event and event.exception_type is None
    (error,) = decode_all(encode_exception("throttlingException", b'{"message":"slow"}'))
    assert (error.message_type, error.exception_type, error.event_type) == (
        "exception",
        "throttlingException",
        None,
    )
    rewritten = event.with_payload(b'{"x":1}')
    assert rewritten.headers == event.headers and decode_all(rewritten.encode()) == [rewritten]


def test_botocore_decodes_our_frames() -> None:
    frames = [
        encode_message(ALL_TYPES, b"payload-1"),
        encode_event("messageStart", b'{"role":"assistant"}'),
        encode_message({}, b""),
        encode_exception("modelStreamErrorException", b'{"message":"boom"}'),
    ]
    decoded = botocore_decode(b"".join(frames))
    assert len(decoded) == 4
    headers, payload = decoded[0]
    assert payload == b"payload-1"
    assert headers == {name: as_botocore_value(value) for name, value in ALL_TYPES.items()}
    assert decoded[1] == (
        {":event-type": "messageStart", ":content-type": "application/json", ":message-type": "event"},
        b'{"role":"assistant"}',
    )
    assert decoded[2] == ({}, b"")
    assert decoded[3][0][":exception-type"] == "modelStreamErrorException"


def test_known_frames_from_the_specification() -> None:
    # Frames whose bytes are fixed by the event stream test vectors (the empty
    # message, and one int32 header "event-type"=40972 with payload {'foo':'bar'}),
    # not produced by our encoder.
    empty = b"\x00\x00\x00\x10\x00\x00\x00\x00\x05\xc2H\xeb}\x98\xc8\xff"
    int32_header = bytes.fromhex(
        "0000002d0000001041c424b80a6576656e742d74797065040000a00c7b27666f6f273a27626172277d36f480a0"
    )
    assert decode_all(empty) == [EventStreamMessage({}, b"")]
    assert decode_all(int32_header) == [EventStreamMessage({"event-type": 40972}, b"{'foo':'bar'}")]
    # Our encoder reproduces them byte for byte.
    assert encode_message({}, b"") == empty
    assert encode_message({"event-type": 40972}, b"{'foo':'bar'}") == int32_header
    # And botocore agrees on what they contain.
    assert botocore_decode(int32_header) == [({"event-type": 40972}, b"{'foo':'bar'}")]


def test_hand_built_frame_with_string_header() -> None:
    # Built here field by field, following the wire layout, independent of the encoder.
    name, value, payload = b":event-type", b"chunk", b'{"bytes":"e30="}'
    headers = bytes([len(name)]) + name + b"\x07" + struct.pack("!H", len(value)) + value
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(headers))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + headers + payload
    frame = body + struct.pack("!I", zlib.crc32(body))
    assert decode_all(frame) == [EventStreamMessage({":event-type": "chunk"}, payload)]
    assert encode_message({":event-type": "chunk"}, payload) == frame


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(
                st.text(min_size=1, max_size=12).filter(lambda s: len(s.encode()) <= 255),
                st.one_of(
                    st.booleans(),
                    st.integers(-(2**63), 2**63 - 1),
                    st.text(max_size=20),
                    st.binary(max_size=20),
                    st.uuids(),
                ),
                max_size=4,
            ),
            st.binary(max_size=64),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_round_trip_property(messages: list[tuple[dict[str, HeaderValue], bytes]]) -> None:
    stream = b"".join(encode_message(headers, payload) for headers, payload in messages)
    decoded = decode_all(stream)
    assert [(m.headers, m.payload) for m in decoded] == messages
    assert botocore_decode(stream) == [
        ({k: as_botocore_value(v) for k, v in headers.items()}, payload) for headers, payload in messages
    ]


STREAM = b"".join(
    [
        encode_event("messageStart", b'{"role":"assistant"}'),
        encode_message(ALL_TYPES, b'{"contentBlockIndex":0,"delta":{"text":"Hello <PERSON_1>"}}'),
        encode_event("messageStop", b'{"stopReason":"end_turn"}'),
    ]
)
EXPECTED = decode_all(STREAM)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=6))
def test_split_anywhere(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    decoder = EventStreamDecoder()
    received: list[EventStreamMessage] = []
    for start, end in itertools.pairwise(points):
        received.extend(decoder.feed(STREAM[start:end]))
    decoder.close()
    assert received == EXPECTED


def test_split_at_every_single_position() -> None:
    for cut in range(len(STREAM) + 1):
        decoder = EventStreamDecoder()
        received = decoder.feed(STREAM[:cut]) + decoder.feed(STREAM[cut:])
        decoder.close()
        assert received == EXPECTED, cut


def test_byte_by_byte() -> None:
    decoder = EventStreamDecoder()
    received: list[EventStreamMessage] = []
    for i in range(len(STREAM)):
        received.extend(decoder.feed(STREAM[i : i + 1]))
        assert decoder.buffered < len(STREAM)
    decoder.close()
    assert received == EXPECTED


def corrupt(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def test_corrupt_prelude_crc_raises() -> None:
    frame = encode_event("chunk", b"{}")
    with pytest.raises(EventStreamError, match="prelude CRC"):
        EventStreamDecoder().feed(corrupt(frame, 9))
    # A flipped length is caught by the prelude CRC before any waiting for bytes.
    with pytest.raises(EventStreamError, match="prelude CRC"):
        EventStreamDecoder().feed(corrupt(frame, 3)[:12])


def test_corrupt_message_crc_or_payload_raises() -> None:
    frame = encode_event("chunk", b'{"bytes":"abc"}')
    with pytest.raises(EventStreamError, match="message CRC"):
        EventStreamDecoder().feed(corrupt(frame, len(frame) - 1))
    with pytest.raises(EventStreamError, match="message CRC"):
        EventStreamDecoder().feed(corrupt(frame, len(frame) - 6))  # a payload byte


def test_second_frame_corrupt_first_still_delivered_in_earlier_feed() -> None:
    first, second = encode_event("a", b"1"), encode_event("b", b"2")
    decoder = EventStreamDecoder()
    assert [m.event_type for m in decoder.feed(first)] == ["a"]
    with pytest.raises(EventStreamError):
        decoder.feed(corrupt(second, len(second) - 2))
    with pytest.raises(EventStreamError, match="already failed"):
        decoder.feed(b"")


def test_truncated_stream_detected() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(STREAM[:-5]) == EXPECTED[:2]
    with pytest.raises(EventStreamError, match="ended inside a frame"):
        decoder.close()
    with pytest.raises(EventStreamError):
        decode_all(STREAM[:5])
    # A clean end is fine, including an empty stream.
    EventStreamDecoder().close()


def _frame_with_lengths(total: int, headers_length: int) -> bytes:
    prelude = struct.pack("!II", total, headers_length)
    return prelude + struct.pack("!I", zlib.crc32(prelude))


def test_insane_lengths_rejected_from_the_prelude_alone() -> None:
    with pytest.raises(EventStreamError, match="message length"):
        EventStreamDecoder().feed(_frame_with_lengths(MAX_MESSAGE_LENGTH + 1, 0))
    with pytest.raises(EventStreamError, match="message length"):
        EventStreamDecoder().feed(_frame_with_lengths(8, 0))
    with pytest.raises(EventStreamError, match="headers length"):
        EventStreamDecoder().feed(_frame_with_lengths(1000, 200 * 1024))
    with pytest.raises(EventStreamError, match="does not fit"):
        EventStreamDecoder().feed(_frame_with_lengths(100, 90))


def test_bad_headers_raise() -> None:
    def frame_with_raw_headers(raw: bytes) -> bytes:
        total = 16 + len(raw)
        prelude = struct.pack("!II", total, len(raw))
        body = prelude + struct.pack("!I", zlib.crc32(prelude)) + raw
        return body + struct.pack("!I", zlib.crc32(body))

    with pytest.raises(EventStreamError, match="unknown value type"):
        decode_all(frame_with_raw_headers(b"\x01a\x0c"))
    with pytest.raises(EventStreamError, match="past the end"):
        decode_all(frame_with_raw_headers(b"\x01a\x07\x00\x09abc"))
    with pytest.raises(EventStreamError, match="duplicate"):
        decode_all(frame_with_raw_headers(b"\x01a\x00\x01a\x01"))


def test_encoder_rejects_unencodable() -> None:
    with pytest.raises(EventStreamError):
        encode_message({"": "x"}, b"")
    with pytest.raises(EventStreamError):
        encode_message({"n": Int8(300)}, b"")
    with pytest.raises(EventStreamError):
        encode_message({"s": "x" * 70000}, b"")
    with pytest.raises(EventStreamError):
        encode_message({"t": datetime(2024, 1, 1)}, b"")  # naive datetime
    with pytest.raises(EventStreamError):
        encode_message({}, b"x" * MAX_MESSAGE_LENGTH)
