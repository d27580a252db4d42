"""Answers in, answers out: the shapes every format's restoring shares.

A `ResponseTransformer` turns upstream answer bytes into client answer bytes, restoring
placeholders; `JsonAnswer` restores a whole JSON answer, `SseAnswer` drives an SSE stream through
a format's event handler. Pure: no I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Final, Protocol

import orjson

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


class PassThrough(ResponseTransformer):
    """Relays bytes untouched: answers that carry no text, or requests where nothing was masked."""

    def __init__(self, streaming: bool) -> None:
        self.streaming = streaming

    def feed(self, chunk: bytes) -> bytes:
        return chunk

    def finish(self) -> bytes:
        return b""


class StreamAbort(Exception):
    """A stream that cannot go on (e.g. a corrupt frame from upstream): send `tail`, then cut."""

    def __init__(self, reason: str, tail: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.tail = tail


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


class SseAnswer(ResponseTransformer):
    """A `text/event-stream` answer, decoded and re-encoded event by event through a handler."""

    streaming = True

    def __init__(self, handler: SseHandler) -> None:
        self._decoder = SseDecoder()
        self._handler = handler

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(
            out.encode() for ev in self._decoder.feed(chunk) for out in self._handler.on_event(ev)
        )

    def finish(self) -> bytes:
        events = [out for ev in self._decoder.finish() for out in self._handler.on_event(ev)]
        events.extend(self._handler.finish())
        return b"".join(e.encode() for e in events)
