"""Restoring Bedrock answers in each body format: ConverseStream events (also Amazon Nova's
InvokeModel chunks), and the chunks of each InvokeModel family's stream. Pure: the AWS
event-stream framing around them is the transport's (`proxy.providers.bedrock`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proxy.restore import Restorer, StreamKey, StreamRestorers, restore_json

# ---------------------------------------------------------------- restoring answers

# `arguments` strings are JSON text (Mistral tool calls).
JSON_TEXT_KEYS = frozenset({"arguments"})


def _index(value: Any, default: int = 0) -> int:
    """A stream position from the answer (an int), or `default`: a stream key must be hashable."""
    return value if isinstance(value, int) else default


def _restored_or_none(value: dict[str, Any], restorer: Restorer) -> dict[str, Any] | None:
    restored = restore_json(value, restorer, JSON_TEXT_KEYS)
    return None if restored == value else restored


# A handler turns one event into (extra events to send first, the event rewritten or None when
# it is to be relayed untouched). Extra events carry text held back until its block ended.
Rewrite = tuple[list[tuple[str, dict[str, Any]]], dict[str, Any] | None]

_CONVERSE_EVENTS = frozenset(
    {"messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"}
)


class ConverseEvents:
    """ConverseStream events (also the chunks of Amazon Nova's InvokeModel streams)."""

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
        self._streams = StreamRestorers(restorer)

    def on_event(self, event_type: str, event: dict[str, Any]) -> Rewrite:
        if event_type == "contentBlockDelta":
            return [], self._delta(event)
        if event_type == "contentBlockStop":
            index = _index(event.get("contentBlockIndex"))
            return self._leftovers(lambda key: key[0] == index), _restored_or_none(event, self._restorer)
        if event_type == "messageStop":
            return self._leftovers(), _restored_or_none(event, self._restorer)
        return [], _restored_or_none(event, self._restorer)

    def _delta(self, event: dict[str, Any]) -> dict[str, Any] | None:
        index = _index(event.get("contentBlockIndex"))
        delta = event.get("delta")
        if not isinstance(delta, dict):
            return None
        changed = False
        for kind, value in list(delta.items()):
            if kind == "text" and isinstance(value, str):
                changed |= self._streams.feed_into(delta, kind, (index, kind))
            elif kind == "toolUse" and isinstance(value, dict) and isinstance(value.get("input"), str):
                changed |= self._streams.feed_into(value, "input", (index, kind), json_text=True)
            elif (
                kind == "reasoningContent" and isinstance(value, dict) and isinstance(value.get("text"), str)
            ):
                changed |= self._streams.feed_into(value, "text", (index, kind))
            else:  # citations, tool results of server-side tools: small and whole
                restored = restore_json(value, self._restorer, JSON_TEXT_KEYS)
                if restored != value:
                    delta[kind], changed = restored, True
        # An unchanged event goes out as the very bytes that came in.
        return event if changed else None

    def _leftovers(
        self, match: Callable[[StreamKey], bool] = lambda _: True
    ) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for (index, kind), text in self._streams.flush(match):
            if kind == "text":
                delta: dict[str, Any] = {"text": text}
            elif kind == "toolUse":
                delta = {"toolUse": {"input": text}}
            else:
                delta = {"reasoningContent": {"text": text}}
            out.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
        return out

    def finish(self) -> list[tuple[str, dict[str, Any]]]:
        return self._leftovers()


# InvokeModelWithResponseStream: each `chunk` event carries the model's own JSON, base64'd.
ChunkRewrite = tuple[list[dict[str, Any]], dict[str, Any] | None]


class _AnthropicChunks:
    _FIELDS = {"text_delta": "text", "input_json_delta": "partial_json", "thinking_delta": "thinking"}

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
        self._streams = StreamRestorers(restorer)

    def on_chunk(self, chunk: dict[str, Any]) -> ChunkRewrite:
        ctype = chunk.get("type")
        index = _index(chunk.get("index"))
        if ctype == "content_block_delta" and isinstance(chunk.get("delta"), dict):
            delta = chunk["delta"]
            dtype = delta.get("type")
            field = self._FIELDS.get(dtype) if isinstance(dtype, str) else None
            if field is not None and isinstance(delta.get(field), str):
                key = (index, delta["type"])
                changed = self._streams.feed_into(delta, field, key, json_text=field == "partial_json")
                return [], chunk if changed else None
        if ctype == "content_block_stop":
            return self._leftovers(lambda key: key[0] == index), None
        if ctype in ("message_delta", "message_stop"):
            return self._leftovers(), _restored_or_none(chunk, self._restorer)
        return [], _restored_or_none(chunk, self._restorer)

    def _leftovers(self, match: Callable[[StreamKey], bool] = lambda _: True) -> list[dict[str, Any]]:
        return [
            {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": dtype, self._FIELDS[dtype]: text},
            }
            for (index, dtype), text in self._streams.flush(match)
        ]

    def finish(self) -> list[dict[str, Any]]:
        return self._leftovers()


class _NovaChunks:
    """Nova chunks are ConverseStream events wrapped in an object named by the event type."""

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
        self._events = ConverseEvents(restorer)

    def on_chunk(self, chunk: dict[str, Any]) -> ChunkRewrite:
        name = next((k for k in chunk if k in _CONVERSE_EVENTS and isinstance(chunk[k], dict)), None)
        if name is None:
            return [], _restored_or_none(chunk, self._restorer)
        before, rewritten = self._events.on_event(name, chunk[name])
        extra = [{event_type: event} for event_type, event in before]
        return extra, None if rewritten is None else {**chunk, name: rewritten}

    def finish(self) -> list[dict[str, Any]]:
        return [{event_type: event} for event_type, event in self._events.finish()]


class _FlatChunks:
    """Families whose chunks carry one text field and say in the same chunk that it was the last.

    Titan (`outputText`, `completionReason`), Llama (`generation`, `stop_reason`), Mistral
    (`outputs[]` or `choices[]` with `stop_reason`/`finish_reason`) and Cohere (`text` of
    `text-generation` events, then a `stream-end` event with the whole response).
    """

    def __init__(self, family: str, restorer: Restorer) -> None:
        self._family = family
        self._restorer = restorer
        self._streams = StreamRestorers(restorer)

    def _text(self, holder: dict[str, Any], field: str, key: StreamKey, last: bool) -> bool:
        """Restore holder[field]; on the stream's last chunk append what was held back."""
        changed = isinstance(holder.get(field), str) and self._streams.feed_into(holder, field, key)
        if last:
            rest = self._streams.flush_one(key)
            if rest:
                holder[field] = (holder.get(field) or "") + rest
                changed = True
        return changed

    def on_chunk(self, chunk: dict[str, Any]) -> ChunkRewrite:
        family = self._family
        if family == "titan" and "outputText" in chunk:
            key = ("outputText", _index(chunk.get("index")))
            changed = self._text(chunk, "outputText", key, chunk.get("completionReason") is not None)
            return [], chunk if changed else None
        if family == "llama" and "generation" in chunk:
            changed = self._text(chunk, "generation", ("generation",), chunk.get("stop_reason") is not None)
            return [], chunk if changed else None
        if family == "mistral" and isinstance(chunk.get("outputs") or chunk.get("choices"), list):
            changed = False
            for position, item in enumerate(chunk.get("outputs") or chunk.get("choices")):
                if not isinstance(item, dict):
                    continue
                last = item.get("stop_reason") is not None or item.get("finish_reason") is not None
                index = _index(item.get("index"), position)
                if "text" in item:
                    changed |= self._text(item, "text", ("text", index), last)
                for part in ("message", "delta"):
                    if isinstance(item.get(part), dict):
                        changed |= self._text(item[part], "content", ("content", index), last)
            return [], chunk if changed else None
        if family == "cohere":
            generating = chunk.get("event_type", "text-generation") == "text-generation"
            if generating and not chunk.get("is_finished") and isinstance(chunk.get("text"), str):
                return [], chunk if self._text(chunk, "text", ("text",), False) else None
            if chunk.get("is_finished") or chunk.get("event_type") == "stream-end":
                return self.finish(), _restored_or_none(chunk, self._restorer)
        return [], _restored_or_none(chunk, self._restorer)

    def finish(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for key, text in self._streams.flush():
            if self._family == "titan":
                out.append({"outputText": text, "index": key[1]})
            elif self._family == "llama":
                out.append({"generation": text})
            elif self._family == "mistral":
                if key[0] == "text":
                    out.append({"outputs": [{"text": text}]})
                else:
                    out.append({"choices": [{"index": key[1], "message": {"content": text}}]})
            else:
                out.append({"is_finished": False, "event_type": "text-generation", "text": text})
        return out


class _WholeChunks:
    """A family without streamed text fields (embeddings): restore each chunk whole."""

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer

    def on_chunk(self, chunk: dict[str, Any]) -> ChunkRewrite:
        return [], _restored_or_none(chunk, self._restorer)

    def finish(self) -> list[dict[str, Any]]:
        return []


ChunkHandler = _AnthropicChunks | _NovaChunks | _FlatChunks | _WholeChunks


def chunk_handler(family: str | None, restorer: Restorer) -> ChunkHandler:
    if family == "anthropic":
        return _AnthropicChunks(restorer)
    if family == "nova":
        return _NovaChunks(restorer)
    if family in ("titan", "llama", "mistral", "cohere"):
        return _FlatChunks(family, restorer)
    return _WholeChunks(restorer)
