"""Restoring OpenAI-format answers: whole JSON answers, chat-completion and legacy completion
chunks, and Responses API events. Shared by OpenAI, Azure OpenAI and every OpenAI-compatible
provider. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from proxy.codecs.bounds import DEFAULT_MAX_PIECE_BYTES
from proxy.codecs.sse import SseEvent
from proxy.formats.answers import (
    JsonAnswer,
    PassThrough,
    RelayEvents,
    ResponseTransformer,
    SseAnswer,
    SseHandler,
    event_json,
)
from proxy.restore import Restorer, StreamRestorers, restore_json

# Function-call arguments are JSON text inside a JSON string.
JSON_TEXT_KEYS = frozenset({"arguments"})


def _dump(event: SseEvent, obj: Any) -> SseEvent:
    return event.with_data(orjson.dumps(obj).decode())


class ChoicesStream:
    """Chat completion and legacy completion chunks: text in choices[].delta or choices[].text."""

    def __init__(self, restorer: Restorer, legacy: bool) -> None:
        self._streams = StreamRestorers(restorer)
        self._legacy = legacy
        self._template: dict[str, Any] | None = None

    def _choice(self, choice: dict[str, Any], position: int) -> None:
        index = choice.get("index")
        if not isinstance(index, int):
            index = position
        if self._legacy:
            target = choice
        else:
            delta = choice.get("delta")
            # The finish chunk usually carries `"delta": {}`: held-back text must go into that very
            # dict (or a new one put in its place), not into a throwaway.
            target = delta if isinstance(delta, dict) else {}
        fields = ("text",) if self._legacy else ("content", "refusal")
        for field in fields:
            if isinstance(target.get(field), str):
                target[field] = self._streams.feed((field, index), target[field])
        calls = target.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                key = ("tool", index, self._tool_index(call))
                function["arguments"] = self._streams.feed(key, function["arguments"], json_text=True)
        if choice.get("finish_reason") is None:
            return
        rests = [(field, self._streams.flush_one((field, index))) for field in fields]
        tool_rests = self._streams.flush(lambda k: k[0] == "tool" and k[1] == index)
        if not any(rest for _, rest in rests) and not tool_rests:
            return
        for field, rest in rests:
            if rest:
                existing = target.get(field)
                target[field] = (existing if isinstance(existing, str) else "") + rest
        for key, rest in tool_rests:
            self._append_tool_text(target, key[2], rest)
        if not self._legacy:
            choice["delta"] = target

    @staticmethod
    def _tool_index(call: dict[str, Any]) -> int:
        index = call.get("index", 0)
        return index if isinstance(index, int) else 0

    @classmethod
    def _append_tool_text(cls, delta: dict[str, Any], tool_index: int, text: str) -> None:
        calls = delta.get("tool_calls")
        if not isinstance(calls, list):
            calls = delta["tool_calls"] = []
        for call in calls:
            if isinstance(call, dict) and cls._tool_index(call) == tool_index:
                function = call.get("function")
                if not isinstance(function, dict):
                    function = call["function"] = {}
                existing = function.get("arguments")
                function["arguments"] = (existing if isinstance(existing, str) else "") + text
                return
        calls.append({"index": tool_index, "function": {"arguments": text}})

    def on_event(self, event: SseEvent) -> list[SseEvent]:
        if event.data is not None and event.data.strip() == "[DONE]":
            return [*self.finish(), event]
        obj = event_json(event)
        if not isinstance(obj, dict) or not obj.get("choices"):
            return [event]
        choices = obj["choices"]
        for position, choice in enumerate(choices if isinstance(choices, list) else ()):
            if isinstance(choice, dict):
                self._choice(choice, position)
        self._template = obj
        return [_dump(event, obj)]

    def finish(self) -> list[SseEvent]:
        """Text still held back when the stream ends goes out in one last chunk of the same shape."""
        leftovers = self._streams.flush()
        if not leftovers or self._template is None:
            return []
        template = {k: v for k, v in self._template.items() if k not in ("choices", "usage")}
        events = []
        for key, text in leftovers:
            index = key[1]
            if self._legacy:
                choice: dict[str, Any] = {"index": index, "text": text, "finish_reason": None}
            elif key[0] == "tool":
                choice = {"index": index, "delta": {}, "finish_reason": None}
                self._append_tool_text(choice["delta"], key[2], text)
            else:
                choice = {"index": index, "delta": {key[0]: text}, "finish_reason": None}
            events.append(SseEvent([("data", orjson.dumps({**template, "choices": [choice]}).decode())]))
        return events


_RESPONSES_DELTAS = {
    "response.output_text.delta": ("text", False),
    "response.refusal.delta": ("refusal", False),
    "response.function_call_arguments.delta": ("arguments", True),
}
_RESPONSES_DONE = {
    "response.output_text.done": "response.output_text.delta",
    "response.refusal.done": "response.refusal.delta",
    "response.function_call_arguments.done": "response.function_call_arguments.delta",
}


# Events after which no more deltas come: text still held back goes out before them.
_RESPONSES_END = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
_DELTA_TYPES = {kind: etype for etype, (kind, _) in _RESPONSES_DELTAS.items()}
_DELTA_FIELDS = ("item_id", "output_index", "content_index")


class ResponsesStream:
    """Responses API events: deltas restored incrementally, every other event restored whole."""

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
        self._streams = StreamRestorers(restorer)

    @staticmethod
    def _key(kind: str, obj: dict[str, Any]) -> tuple[Any, ...]:
        # Only hashable ids make a stream key; anything else stands for "no id".
        ids = (obj.get(name) for name in _DELTA_FIELDS)
        return (kind, *(v if isinstance(v, str | int) else None for v in ids))

    @staticmethod
    def _delta_event(key: tuple[Any, ...], text: str, sequence_number: Any = None) -> SseEvent:
        delta_type = _DELTA_TYPES[key[0]]
        event: dict[str, Any] = {"type": delta_type}
        event.update(
            (name, value) for name, value in zip(_DELTA_FIELDS, key[1:], strict=True) if value is not None
        )
        if sequence_number is not None:
            event["sequence_number"] = sequence_number
        event["delta"] = text
        return SseEvent([("event", delta_type), ("data", orjson.dumps(event).decode())])

    def on_event(self, event: SseEvent) -> list[SseEvent]:
        obj = event_json(event)
        if not isinstance(obj, dict):
            return [event]
        etype = obj.get("type")
        if isinstance(etype, str) and etype in _RESPONSES_DELTAS and isinstance(obj.get("delta"), str):
            kind, json_text = _RESPONSES_DELTAS[etype]
            obj["delta"] = self._streams.feed(self._key(kind, obj), obj["delta"], json_text)
            return [_dump(event, obj)]
        out: list[SseEvent] = []
        if isinstance(etype, str) and etype in _RESPONSES_DONE:
            key = self._key(_RESPONSES_DELTAS[_RESPONSES_DONE[etype]][0], obj)
            rest = self._streams.flush_one(key)
            if rest:
                # The held-back tail goes out as one more delta right before its "done" event.
                out.append(self._delta_event(key, rest, obj.get("sequence_number")))
        elif etype in _RESPONSES_END:
            out.extend(self.finish())
        out.append(_dump(event, restore_json(obj, self._restorer, JSON_TEXT_KEYS)))
        return out

    def finish(self) -> list[SseEvent]:
        """Text still held back when no "done" event came for it, as one more delta each."""
        return [self._delta_event(key, text) for key, text in self._streams.flush()]


_TEXT_ANSWERS = frozenset({"chat", "responses", "completions"})


def answer_transformer(
    operation: str,
    status: int,
    headers: Mapping[str, str],
    restorer: Restorer,
    *,
    max_event_bytes: int = DEFAULT_MAX_PIECE_BYTES,
) -> ResponseTransformer:
    content_type = headers.get("Content-Type", headers.get("content-type", ""))
    is_sse = content_type.startswith("text/event-stream")
    ok = 200 <= status < 300
    if is_sse and ok:
        restoring = restorer.active and operation in _TEXT_ANSWERS
        handler: SseHandler = RelayEvents()
        if restoring and operation == "responses":
            handler = ResponsesStream(restorer)
        elif restoring:
            handler = ChoicesStream(restorer, legacy=operation == "completions")
        # The openai SDK raises on any event whose data holds an `error` object; the Responses
        # API names its error events `error`, chat and legacy completions name none.
        error_event = "error" if operation == "responses" else None
        return SseAnswer(handler, max_event_bytes=max_event_bytes, error_event=error_event)
    if not restorer.active or operation not in _TEXT_ANSWERS or not ok:
        return PassThrough(streaming=is_sse)
    return JsonAnswer(restorer, JSON_TEXT_KEYS)
