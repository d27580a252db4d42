"""Restoring Gemini answers: whole `GenerateContentResponse`s, `alt=sse` events and the JSON
array `streamGenerateContent` sends without `alt=sse`, restored element by element as each
completes. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.codecs.bounds import DEFAULT_MAX_PIECE_BYTES, PieceTooLarge
from proxy.codecs.json_array import JsonArraySplitter
from proxy.codecs.sse import SseEvent
from proxy.formats import answers
from proxy.formats.answers import (
    NOT_JSON,
    RelayEvents,
    ResponseTransformer,
    StreamAbort,
    event_json,
    piece_too_large,
)
from proxy.restore import Restorer, StreamRestorers, restore_json

# Whole answers (JsonAnswer) and every value that is not streamed text go through `restore_json`
# with no JSON-text keys: function-call args are plain JSON values here, not JSON text.


class CandidateStream:
    """The response objects of one stream, restored as they come, whatever carries them.

    A chunk's parts are continuation pieces of the candidate's text, and a part's position in one
    chunk says nothing about its position in the next, so each candidate has one text stream (and
    one for thought summaries, which the SDK keeps apart): text held back as a possible
    placeholder start goes out in the next piece of the same stream, even if that is another part.
    """

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
        # Keyed by (candidate index, is a thought summary).
        self._streams = StreamRestorers(restorer)
        self._template: dict[str, Any] = {}

    def on_chunk(self, obj: Any) -> tuple[list[dict[str, Any]], Any]:
        """(objects to send before this one, this one restored)."""
        if not isinstance(obj, dict):
            return [], restore_json(obj, self._restorer)
        if "error" in obj:
            # An in-band error ends the stream: held-back text goes out before it.
            return self.finish(), restore_json(obj, self._restorer)
        for key, value in obj.items():
            if key == "candidates" and isinstance(value, list):
                for position, candidate in enumerate(value):
                    if isinstance(candidate, dict):
                        self._candidate(candidate, position)
            else:
                obj[key] = restore_json(value, self._restorer)
        self._template = {k: v for k, v in obj.items() if k not in ("candidates", "promptFeedback")}
        return [], obj

    def finish(self) -> list[dict[str, Any]]:
        """Text still held back at the end, as one last response object of the same shape."""
        leftovers: dict[int, list[dict[str, Any]]] = {}
        for (index, thought), text in self._streams.flush():
            leftovers.setdefault(index, []).append(self._new_part(text, thought))
        if not leftovers:
            return []
        candidates = [
            {"content": {"parts": parts, "role": "model"}, "index": index}
            for index, parts in sorted(leftovers.items())
        ]
        return [{"candidates": candidates, **self._template}]

    def _candidate(self, candidate: dict[str, Any], position: int) -> None:
        index = candidate.get("index")
        if not isinstance(index, int):
            index = position
        for key, value in candidate.items():
            if key != "content":
                candidate[key] = restore_json(value, self._restorer)
        content = candidate.get("content")
        if isinstance(content, dict):
            for key, value in content.items():
                if key != "parts":
                    content[key] = restore_json(value, self._restorer)
            parts = content.get("parts")
            for part in parts if isinstance(parts, list) else ():
                if isinstance(part, dict):
                    self._part(part, index)
        if candidate.get("finishReason"):
            for thought in (True, False):
                rest = self._streams.flush_one((index, thought))
                if rest:
                    self._append(candidate, rest, thought)

    def _part(self, part: dict[str, Any], index: int) -> None:
        for key, value in part.items():
            if key == "text" and isinstance(value, str):
                part["text"] = self._streams.feed((index, part.get("thought") is True), value)
            else:
                part[key] = restore_json(value, self._restorer)

    @staticmethod
    def _new_part(text: str, thought: bool) -> dict[str, Any]:
        return {"text": text, "thought": True} if thought else {"text": text}

    def _append(self, candidate: dict[str, Any], text: str, thought: bool) -> None:
        content = candidate.get("content")
        if not isinstance(content, dict):
            content = candidate["content"] = {"parts": [], "role": "model"}
        parts = content.get("parts")
        if not isinstance(parts, list):
            parts = content["parts"] = []
        for part in reversed(parts):
            if (
                isinstance(part, dict)
                and isinstance(part.get("text"), str)
                and (part.get("thought") is True) == thought
            ):
                part["text"] += text
                return
        parts.append(self._new_part(text, thought))


def _dump(obj: Any) -> str:
    return orjson.dumps(obj).decode()


class _CandidateEvents:
    """`alt=sse` events: one response object per `data:` event, no end marker."""

    def __init__(self, restorer: Restorer) -> None:
        self._chunks = CandidateStream(restorer)

    def on_event(self, event: SseEvent) -> list[SseEvent]:
        obj = event_json(event)
        if obj is NOT_JSON:
            return [event]
        before, restored = self._chunks.on_chunk(obj)
        return [*(SseEvent([("data", _dump(b))]) for b in before), event.with_data(_dump(restored))]

    def finish(self) -> list[SseEvent]:
        return [SseEvent([("data", _dump(obj))]) for obj in self._chunks.finish()]


class SseAnswer(answers.SseAnswer):
    """`alt=sse`: the shared SSE answer driven by this stream's response objects; with no
    restorer they go out as they came. google-genai raises on an event whose data is an `error`
    object, the shape `abort` sends."""

    def __init__(self, restorer: Restorer | None, *, max_event_bytes: int = DEFAULT_MAX_PIECE_BYTES) -> None:
        handler = RelayEvents() if restorer is None else _CandidateEvents(restorer)
        super().__init__(handler, max_event_bytes=max_event_bytes)


_ELEMENT_SEPARATOR = b"\n,\r\n"  # what Google puts between elements
_INVALID = "the provider's stream is not the JSON array it should be; the answer is incomplete"


class ArrayAnswer(ResponseTransformer):
    """`streamGenerateContent` without `alt=sse`: elements restored and relayed as each completes;
    the bytes between them are kept as the provider sent them. With no restorer, elements go out
    as they came, still whole, so that the array can be closed with an error element."""

    streaming = True

    def __init__(self, restorer: Restorer | None, *, max_event_bytes: int = DEFAULT_MAX_PIECE_BYTES) -> None:
        self._splitter = JsonArraySplitter(max_event_bytes)
        self._chunks = None if restorer is None else CandidateStream(restorer)
        self._max = max_event_bytes
        # Held so that an extra element can be put before the next one; bounded like an element.
        self._gap = bytearray()
        self._sent_element = False
        self._ended = False

    def feed(self, chunk: bytes) -> bytes:
        try:
            pieces = self._splitter.feed(chunk)
        except PieceTooLarge:
            raise piece_too_large(self._max) from None
        except ValueError:
            raise StreamAbort("invalid_upstream_stream", _INVALID) from None
        out: list[bytes] = []
        for piece in pieces:
            if piece.kind == "gap":
                if self._ended:
                    out.append(piece.raw)
                else:
                    self._gap += piece.raw
                    if len(self._gap) > self._max:
                        raise piece_too_large(self._max)
            elif piece.kind == "element":
                out.append(bytes(self._gap))
                out.extend(self._element(piece.raw))
                self._gap.clear()
                self._sent_element = True
            else:
                for extra in self._chunks.finish() if self._chunks is not None else ():
                    out += [_ELEMENT_SEPARATOR, orjson.dumps(extra)]
                out += [bytes(self._gap), piece.raw]
                self._gap.clear()
                self._ended = True
        return b"".join(out)

    def _element(self, raw: bytes) -> list[bytes]:
        if self._chunks is None:
            return [raw]
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise StreamAbort("invalid_upstream_stream", _INVALID) from None
        before, restored = self._chunks.on_chunk(obj)
        out: list[bytes] = []
        for extra in before:
            out += [orjson.dumps(extra), _ELEMENT_SEPARATOR]
        out.append(orjson.dumps(restored))
        return out

    def finish(self) -> bytes:
        if not self._splitter.closed:
            # An array that never closed is a cut answer; the caller must not take it as whole.
            raise StreamAbort("upstream_cut", "the provider's stream ended before its array did")
        return b""

    def abort(self, error_json: bytes) -> bytes:
        # Google's own way: an error object as the array's last element. Only whole elements
        # have gone out, and the held gap (whitespace, '[' or ',') never did.
        if self._ended:
            return b""
        if self._sent_element:
            return _ELEMENT_SEPARATOR + error_json + b"\n]"
        return b"[" + error_json + b"]"
