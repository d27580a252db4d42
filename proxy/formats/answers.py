"""Answers in, answers out: the shapes every format's restoring shares.

A `ResponseTransformer` turns upstream answer bytes into client answer bytes, restoring
placeholders; `JsonAnswer` restores a whole JSON answer, `SseAnswer` drives an SSE stream through
a format's event handler. A streaming transformer only ever hands out whole events, so the proxy
can end a stream at any moment with an error event of the provider's own shape (`abort`), and
the caller's SDK raises instead of taking a cut answer for a whole one. Pure: no I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Final, Protocol

import orjson

from proxy.codecs.bounds import DEFAULT_MAX_PIECE_BYTES, PieceTooLarge
from proxy.codecs.sse import SseDecoder, SseEvent
from proxy.errors import ProxyError
from proxy.restore import Restorer, restore_json


class ResponseTransformer(ABC):
    """Turns upstream answer bytes into client answer bytes, restoring placeholders."""

    # True: each feed() result is sent at once; False: the whole answer is built in finish().
    streaming: bool = False

    @abstractmethod
    def feed(self, chunk: bytes) -> bytes: ...

    @abstractmethod
    def finish(self) -> bytes: ...

    def abort(self, error_json: bytes) -> bytes:
        """What ends this stream where it stands, with `error_json` (an error object in the
        provider's own shape) as its last event, so that the caller's SDK raises it.

        b"": this answer's format has no place for an error, and cutting the connection is the
        only signal left.
        """
        return b""


class PassThrough(ResponseTransformer):
    """Relays bytes untouched: answers that carry no text, or requests where nothing was masked."""

    def __init__(self, streaming: bool) -> None:
        self.streaming = streaming

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def finish(self) -> bytes:
        return b""


class StreamAbort(Exception):
    """A stream that cannot go on: a corrupt or oversized piece, a limit reached, the provider
    gone. `reason` is the code of the sharing record and of the error event the caller gets;
    `message` never quotes the answer."""

    def __init__(self, reason: str, message: str, status: int = 502) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message
        self.status = status


def piece_too_large(limit: int) -> StreamAbort:
    return StreamAbort(
        "upstream_event_too_large",
        f"one event of the provider's stream is larger than {limit} bytes; the answer is incomplete",
    )


class JsonAnswer(ResponseTransformer):
    """A whole JSON answer, restored everywhere a placeholder can appear."""

    streaming = False

    def __init__(self, restorer: Restorer, json_text_keys: frozenset[str] = frozenset()) -> None:
        self._restorer = restorer
        self._json_text_keys = json_text_keys
        self._chunks: list[bytes] = []

    def feed(self, chunk: bytes) -> bytes:
        self._chunks.append(chunk)
        return b""

    def finish(self) -> bytes:
        try:
            parsed = orjson.loads(b"".join(self._chunks))
        except orjson.JSONDecodeError:
            raise ProxyError(
                502, "invalid_upstream_response", "the provider sent an answer that is not JSON"
            ) from None
        return orjson.dumps(restore_json(parsed, self._restorer, self._json_text_keys))


# What `event_json` gives for an event without data or whose data is not JSON (such events are
# relayed as they came); JSON's own `null` is None.
NOT_JSON: Final = object()


def event_json(event: SseEvent) -> Any:
    """An SSE event's data parsed as JSON, or NOT_JSON."""
    data = event.data
    if data is None:
        return NOT_JSON
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return NOT_JSON


class SseHandler(Protocol):
    """A provider's SSE events in, events to send out; `finish` gives what is still held back."""

    def on_event(self, event: SseEvent) -> list[SseEvent]: ...

    def finish(self) -> list[SseEvent]: ...


class RelayEvents:
    """An SSE handler for streams with nothing to restore: every event goes out byte for byte,
    but only whole, so that the stream can still be ended with an error event."""

    def on_event(self, event: SseEvent) -> list[SseEvent]:
        return [event]

    def finish(self) -> list[SseEvent]:
        return []


class SseAnswer(ResponseTransformer):
    """A `text/event-stream` answer, decoded and re-encoded event by event through a handler.

    `error_event`: the `event:` name the format gives an error event, if it names one.
    """

    streaming = True

    def __init__(
        self,
        handler: SseHandler,
        *,
        max_event_bytes: int = DEFAULT_MAX_PIECE_BYTES,
        error_event: str | None = None,
    ) -> None:
        self._decoder = SseDecoder(max_event_bytes)
        self._handler = handler
        self._max = max_event_bytes
        self._error_event = error_event

    def feed(self, chunk: bytes) -> bytes:
        try:
            events = self._decoder.feed(chunk)
        except PieceTooLarge:
            raise piece_too_large(self._max) from None
        return b"".join(out.encode() for ev in events for out in self._handler.on_event(ev))

    def finish(self) -> bytes:
        try:
            decoded = self._decoder.finish()
        except PieceTooLarge:
            raise piece_too_large(self._max) from None
        events = [out for ev in decoded for out in self._handler.on_event(ev)]
        events.extend(self._handler.finish())
        return b"".join(e.encode() for e in events)

    def abort(self, error_json: bytes) -> bytes:
        named = [("event", self._error_event)] if self._error_event else []
        return SseEvent([*named, ("data", error_json.decode())]).encode()
