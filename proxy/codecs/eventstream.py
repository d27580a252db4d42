"""AWS `application/vnd.amazon.eventstream` framing: an incremental decoder and an encoder.

Bedrock's ConverseStream and InvokeModelWithResponseStream answers are a sequence
of binary messages. The proxy must decode them as they arrive (a TCP read may end
anywhere inside a frame), rewrite the JSON payloads, and re-encode each message
with fresh lengths and CRCs, because boto3 checks both CRCs of every frame.

Wire layout of one message (all integers big-endian):

    total_length u32 | headers_length u32 | prelude_crc u32 (CRC32 of the 8 bytes before)
    headers (headers_length bytes) | payload | message_crc u32 (CRC32 of everything before it)

One header: name_length u8 | name (UTF-8) | value_type u8 | value. Value types:
0 true, 1 false (no value bytes), 2 int8, 3 int16, 4 int32, 5 int64,
6 bytes (u16 length + data), 7 string (u16 length + UTF-8), 8 timestamp
(int64 milliseconds since the epoch), 9 UUID (16 bytes).

The decoder is linear in the bytes fed: a frame is checked once it is whole, and a frame
longer than the decoder's bound is refused from its prelude alone, before it is buffered.

This module is pure: no I/O, no asyncio.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from proxy.codecs.bounds import PieceTooLarge

__all__ = [
    "MAX_HEADERS_LENGTH",
    "MAX_MESSAGE_LENGTH",
    "EventStreamDecoder",
    "EventStreamError",
    "EventStreamMessage",
    "HeaderValue",
    "Int8",
    "Int16",
    "Int32",
    "Int64",
    "decode_all",
    "encode_event",
    "encode_exception",
    "encode_message",
]

PRELUDE_LENGTH = 12
MESSAGE_CRC_LENGTH = 4
# The smallest frame: a prelude and a message CRC, no headers, no payload.
MIN_MESSAGE_LENGTH = PRELUDE_LENGTH + MESSAGE_CRC_LENGTH
# Limits from the event stream specification. botocore allows payloads up to
# 24 MiB, but no Bedrock answer frame comes near 16 MiB; a bigger length is far
# more likely to be garbage or an attack than a real frame, so refuse early
# instead of buffering it.
MAX_MESSAGE_LENGTH = 16 * 1024 * 1024
MAX_HEADERS_LENGTH = 128 * 1024
MAX_HEADER_NAME_LENGTH = 255
MAX_HEADER_VALUE_LENGTH = 0xFFFF

_TYPE_TRUE = 0
_TYPE_FALSE = 1
_TYPE_BYTE = 2
_TYPE_SHORT = 3
_TYPE_INTEGER = 4
_TYPE_LONG = 5
_TYPE_BYTES = 6
_TYPE_STRING = 7
_TYPE_TIMESTAMP = 8
_TYPE_UUID = 9

_PRELUDE = struct.Struct("!II")
_U32 = struct.Struct("!I")
_U16 = struct.Struct("!H")
_INT_FORMATS: dict[int, struct.Struct] = {
    _TYPE_BYTE: struct.Struct("!b"),
    _TYPE_SHORT: struct.Struct("!h"),
    _TYPE_INTEGER: struct.Struct("!i"),
    _TYPE_LONG: struct.Struct("!q"),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EventStreamError(ValueError):
    """Malformed, corrupt or truncated event stream data (or an unencodable message)."""


# Integer header values remember their wire width so that decode -> encode gives
# back the same bytes; they compare and hash like plain ints. A plain `int` is
# encoded as int32 when it fits and int64 otherwise.
class Int8(int):
    """An int header value sent as type 2 (byte)."""


class Int16(int):
    """An int header value sent as type 3 (short)."""


class Int32(int):
    """An int header value sent as type 4 (integer)."""


class Int64(int):
    """An int header value sent as type 5 (long)."""


_INT_CLASSES: dict[int, type[int]] = {
    _TYPE_BYTE: Int8,
    _TYPE_SHORT: Int16,
    _TYPE_INTEGER: Int32,
    _TYPE_LONG: Int64,
}
_INT_TYPES: dict[type[int], int] = {cls: type_id for type_id, cls in _INT_CLASSES.items()}

# bool: types 0/1; int: 2-5; bytes: 6; str: 7; datetime: 8 (UTC, millisecond
# precision); uuid.UUID: 9.
HeaderValue = bool | int | bytes | str | datetime | uuid.UUID


@dataclass(frozen=True)
class EventStreamMessage:
    """One decoded frame. Header order is kept, so re-encoding is byte-identical."""

    headers: dict[str, HeaderValue]
    payload: bytes
    # The frame size on the wire, for accounting; not part of equality.
    wire_length: int = field(default=0, compare=False)

    def _str_header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return value if isinstance(value, str) else None

    @property
    def message_type(self) -> str | None:
        """`event`, `exception` or `error`."""
        return self._str_header(":message-type")

    @property
    def event_type(self) -> str | None:
        """E.g. `contentBlockDelta` or `chunk`; only on `event` messages."""
        return self._str_header(":event-type")

    @property
    def exception_type(self) -> str | None:
        """E.g. `throttlingException`; only on `exception` messages."""
        return self._str_header(":exception-type")

    @property
    def content_type(self) -> str | None:
        return self._str_header(":content-type")

    @property
    def is_event(self) -> bool:
        return self.message_type == "event"

    def encode(self) -> bytes:
        return encode_message(self.headers, self.payload)

    def with_payload(self, payload: bytes) -> EventStreamMessage:
        """The same headers around a new payload (the proxy's rewrite step)."""
        return EventStreamMessage(dict(self.headers), payload)


# ---------------------------------------------------------------- encoding


def _encode_header_value(name: str, value: HeaderValue) -> bytes:
    # bool first: it is an int subclass.
    if isinstance(value, bool):
        return bytes([_TYPE_TRUE if value else _TYPE_FALSE])
    if isinstance(value, int):
        type_id = _INT_TYPES.get(type(value))
        if type_id is None:
            type_id = _TYPE_INTEGER if -(2**31) <= value < 2**31 else _TYPE_LONG
        try:
            return bytes([type_id]) + _INT_FORMATS[type_id].pack(value)
        except struct.error as exc:
            raise EventStreamError(f"header {name!r}: {value} does not fit its integer type") from exc
    if isinstance(value, str | bytes):
        raw = value.encode("utf-8") if isinstance(value, str) else value
        if len(raw) > MAX_HEADER_VALUE_LENGTH:
            raise EventStreamError(f"header {name!r}: value longer than {MAX_HEADER_VALUE_LENGTH} bytes")
        type_id = _TYPE_STRING if isinstance(value, str) else _TYPE_BYTES
        return bytes([type_id]) + _U16.pack(len(raw)) + raw
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise EventStreamError(f"header {name!r}: timestamp must be timezone-aware")
        millis = (value - _EPOCH) // timedelta(milliseconds=1)
        return bytes([_TYPE_TIMESTAMP]) + _INT_FORMATS[_TYPE_LONG].pack(millis)
    if isinstance(value, uuid.UUID):
        return bytes([_TYPE_UUID]) + value.bytes
    raise EventStreamError(f"header {name!r}: unsupported value type {type(value).__name__}")


def _encode_headers(headers: Mapping[str, HeaderValue]) -> bytes:
    parts: list[bytes] = []
    for name, value in headers.items():
        raw_name = name.encode("utf-8")
        if not raw_name or len(raw_name) > MAX_HEADER_NAME_LENGTH:
            raise EventStreamError(f"header name must be 1..{MAX_HEADER_NAME_LENGTH} bytes: {name!r}")
        parts.append(bytes([len(raw_name)]) + raw_name + _encode_header_value(name, value))
    return b"".join(parts)


def encode_message(headers: Mapping[str, HeaderValue], payload: bytes) -> bytes:
    """One complete frame with correct lengths and both CRCs."""
    encoded_headers = _encode_headers(headers)
    if len(encoded_headers) > MAX_HEADERS_LENGTH:
        raise EventStreamError(f"headers are {len(encoded_headers)} bytes, limit {MAX_HEADERS_LENGTH}")
    total = MIN_MESSAGE_LENGTH + len(encoded_headers) + len(payload)
    if total > MAX_MESSAGE_LENGTH:
        raise EventStreamError(f"message is {total} bytes, limit {MAX_MESSAGE_LENGTH}")
    prelude = _PRELUDE.pack(total, len(encoded_headers))
    prelude_crc = zlib.crc32(prelude)
    head = prelude + _U32.pack(prelude_crc)
    # The message CRC covers the prelude (with its CRC) too; continue from the
    # prelude's running CRC instead of hashing those bytes twice.
    message_crc = zlib.crc32(payload, zlib.crc32(encoded_headers, zlib.crc32(head[8:], prelude_crc)))
    return b"".join((head, encoded_headers, payload, _U32.pack(message_crc)))


def encode_event(event_type: str, payload: bytes, content_type: str = "application/json") -> bytes:
    """An `event` frame with the three headers boto3's Bedrock parsers read."""
    return encode_message(
        {":event-type": event_type, ":content-type": content_type, ":message-type": "event"},
        payload,
    )


def encode_exception(exception_type: str, payload: bytes, content_type: str = "application/json") -> bytes:
    """An in-stream `exception` frame (e.g. `throttlingException`); boto3 raises EventStreamError."""
    return encode_message(
        {":exception-type": exception_type, ":content-type": content_type, ":message-type": "exception"},
        payload,
    )


# ---------------------------------------------------------------- decoding


def _decode_headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    pos = 0
    end = len(data)

    def take(count: int) -> bytes:
        nonlocal pos
        if pos + count > end:
            raise EventStreamError("header runs past the end of the headers section")
        chunk = data[pos : pos + count]
        pos += count
        return chunk

    while pos < end:
        name_length = take(1)[0]
        if name_length == 0:
            raise EventStreamError("empty header name")
        try:
            name = take(name_length).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EventStreamError("header name is not UTF-8") from exc
        type_id = take(1)[0]
        value: HeaderValue
        if type_id == _TYPE_TRUE:
            value = True
        elif type_id == _TYPE_FALSE:
            value = False
        elif type_id in _INT_FORMATS:
            fmt = _INT_FORMATS[type_id]
            value = _INT_CLASSES[type_id](fmt.unpack(take(fmt.size))[0])
        elif type_id in (_TYPE_BYTES, _TYPE_STRING):
            raw = take(_U16.unpack(take(2))[0])
            if type_id == _TYPE_BYTES:
                value = raw
            else:
                try:
                    value = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise EventStreamError(f"header {name!r}: string value is not UTF-8") from exc
        elif type_id == _TYPE_TIMESTAMP:
            millis = _INT_FORMATS[_TYPE_LONG].unpack(take(8))[0]
            try:
                value = _EPOCH + timedelta(milliseconds=millis)
            except OverflowError as exc:
                raise EventStreamError(f"header {name!r}: timestamp out of range") from exc
        elif type_id == _TYPE_UUID:
            value = uuid.UUID(bytes=take(16))
        else:
            raise EventStreamError(f"header {name!r}: unknown value type {type_id}")
        if name in headers:
            raise EventStreamError(f"duplicate header {name!r}")
        headers[name] = value
    return headers


class EventStreamDecoder:
    """Incremental decoder: `feed()` any slices of the stream, get whole messages back.

    Both CRCs are checked before a message is returned. After an error the
    decoder stays failed, because the frame boundary is lost and every later
    byte would be misread. A frame longer than `max_message_bytes` (at most the
    specification's limit) raises `PieceTooLarge` as soon as its prelude is in.
    """

    def __init__(self, max_message_bytes: int = MAX_MESSAGE_LENGTH) -> None:
        self._buffer = bytearray()
        self._max = min(max_message_bytes, MAX_MESSAGE_LENGTH)
        self._failed: ValueError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet form a whole message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[EventStreamMessage]:
        self._check_not_failed()
        self._buffer += data
        messages: list[EventStreamMessage] = []
        try:
            while (message := self._next_message()) is not None:
                messages.append(message)
        except (EventStreamError, PieceTooLarge) as exc:
            self._failed = exc
            self._buffer.clear()
            raise
        return messages

    def _check_not_failed(self) -> None:
        if isinstance(self._failed, PieceTooLarge):
            raise self._failed
        if self._failed is not None:
            raise EventStreamError(f"decoder already failed: {self._failed}")

    def _next_message(self) -> EventStreamMessage | None:
        buffer = self._buffer
        if len(buffer) < PRELUDE_LENGTH:
            return None
        # Validate the prelude as soon as it is complete: a corrupt length must
        # not make us wait for (and buffer) megabytes that will never be valid.
        total, headers_length = _PRELUDE.unpack_from(buffer, 0)
        (prelude_crc,) = _U32.unpack_from(buffer, 8)
        computed = zlib.crc32(memoryview(buffer)[:8])
        if computed != prelude_crc:
            raise EventStreamError(
                f"prelude CRC mismatch: frame says 0x{prelude_crc:08x}, computed 0x{computed:08x}"
            )
        if not MIN_MESSAGE_LENGTH <= total <= MAX_MESSAGE_LENGTH:
            raise EventStreamError(
                f"message length {total} outside {MIN_MESSAGE_LENGTH}..{MAX_MESSAGE_LENGTH}"
            )
        if total > self._max:
            raise PieceTooLarge("an event-stream frame", self._max)
        if headers_length > MAX_HEADERS_LENGTH:
            raise EventStreamError(f"headers length {headers_length} exceeds {MAX_HEADERS_LENGTH}")
        if headers_length > total - MIN_MESSAGE_LENGTH:
            raise EventStreamError(f"headers length {headers_length} does not fit message length {total}")
        if len(buffer) < total:
            return None
        view = memoryview(buffer)
        (message_crc,) = _U32.unpack_from(buffer, total - MESSAGE_CRC_LENGTH)
        # Continue the prelude's running CRC over the prelude CRC field itself,
        # the headers and the payload: together that is the CRC of all bytes before.
        computed = zlib.crc32(view[8 : total - MESSAGE_CRC_LENGTH], prelude_crc)
        if computed != message_crc:
            view.release()
            raise EventStreamError(
                f"message CRC mismatch: frame says 0x{message_crc:08x}, computed 0x{computed:08x}"
            )
        headers_end = PRELUDE_LENGTH + headers_length
        header_bytes = bytes(view[PRELUDE_LENGTH:headers_end])
        payload = bytes(view[headers_end : total - MESSAGE_CRC_LENGTH])
        view.release()  # a bytearray with a live export cannot be resized
        del buffer[:total]
        return EventStreamMessage(_decode_headers(header_bytes), payload, wire_length=total)

    def close(self) -> None:
        """Declare the stream finished; raise if it stopped inside a frame."""
        self._check_not_failed()
        if self._buffer:
            pending = len(self._buffer)
            self._failed = EventStreamError(f"stream ended inside a frame ({pending} bytes left over)")
            raise self._failed

    finish = close


def decode_all(data: bytes) -> list[EventStreamMessage]:
    """Decode a complete stream; raises if it is truncated."""
    decoder = EventStreamDecoder()
    messages = decoder.feed(data)
    decoder.close()
    return messages
