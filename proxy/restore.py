"""Placeholders back to original values: whole texts, and streams cut anywhere.

One restorer serves every provider; adapters only say where text sits in their answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*_\d+>")

Escape = Callable[[str], str]


def json_escape(value: str) -> str:
    """A value as it must appear inside a JSON string (tool arguments are often JSON text)."""
    return orjson.dumps(value).decode()[1:-1]


class Restorer:
    def __init__(self, placeholders: Mapping[str, str]) -> None:
        self.placeholders = dict(placeholders)
        self._prefixes = frozenset(p[:i] for p in self.placeholders for i in range(1, len(p)))
        self._longest = max((len(p) for p in self.placeholders), default=0)

    @property
    def active(self) -> bool:
        return bool(self.placeholders)

    def restore(self, text: str, escape: Escape | None = None) -> str:
        if not self.placeholders or "<" not in text:
            return text

        def swap(match: re.Match[str]) -> str:
            value = self.placeholders.get(match.group(0))
            if value is None:
                return match.group(0)
            return escape(value) if escape else value

        return PLACEHOLDER.sub(swap, text)

    def holdback(self, text: str) -> int:
        """Index from which `text` could be the start of a placeholder still being streamed."""
        floor = max(0, len(text) - self._longest)
        start = text.rfind("<", floor)
        while start != -1:
            if text[start:] in self._prefixes:
                return start
            start = text.rfind("<", floor, start)
        return len(text)

    def stream(self, escape: Escape | None = None) -> StreamRestorer:
        return StreamRestorer(self, escape)


class StreamRestorer:
    """Restores one text stream fed in pieces, holding back only a possible placeholder start."""

    def __init__(self, restorer: Restorer, escape: Escape | None = None) -> None:
        self._restorer = restorer
        self._escape = escape
        self._pending = ""

    @property
    def pending(self) -> bool:
        return bool(self._pending)

    def feed(self, piece: str) -> str:
        text = self._pending + piece
        cut = self._restorer.holdback(text)
        self._pending = text[cut:]
        return self._restorer.restore(text[:cut], self._escape)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return self._restorer.restore(text, self._escape)


StreamKey = tuple[Any, ...]


class StreamRestorers:
    """One StreamRestorer per place text streams into, keyed by where it is (choice, content
    block, candidate, tool call...), for answers that interleave several streams."""

    def __init__(self, restorer: Restorer) -> None:
        self._restorer = restorer
        self._streams: dict[StreamKey, StreamRestorer] = {}

    def feed(self, key: StreamKey, text: str, json_text: bool = False) -> str:
        """Restore `text` as the next piece of stream `key`; `json_text` streams carry JSON text,
        so restored values go in JSON-escaped."""
        stream = self._streams.get(key)
        if stream is None:
            stream = self._streams[key] = self._restorer.stream(json_escape if json_text else None)
        return stream.feed(text)

    def feed_into(self, holder: dict[str, Any], field: str, key: StreamKey, json_text: bool = False) -> bool:
        """Restore holder[field] as the next piece of its stream; True if that changed it."""
        piece = holder[field]
        holder[field] = self.feed(key, piece, json_text)
        return bool(holder[field] != piece)

    def flush_one(self, key: StreamKey) -> str:
        """Held-back text of stream `key`, which ends here ("" if it held nothing or never began)."""
        stream = self._streams.pop(key, None)
        return stream.flush() if stream else ""

    def flush(self, match: Callable[[StreamKey], bool] = lambda _: True) -> list[tuple[StreamKey, str]]:
        """Held-back text of the matching streams (all by default), which end here."""
        keys = [key for key in self._streams if match(key)]
        out = [(key, self._streams.pop(key).flush()) for key in keys]
        return [(key, text) for key, text in out if text]


def restore_json(value: Any, restorer: Restorer, json_text_keys: frozenset[str] = frozenset()) -> Any:
    """Every string in a JSON value restored. Strings under `json_text_keys` are JSON text (tool
    call arguments in OpenAI's and Mistral's shapes), so values go into them JSON-escaped."""
    if isinstance(value, str):
        return restorer.restore(value)
    if isinstance(value, dict):
        return {
            k: restorer.restore(v, json_escape)
            if k in json_text_keys and isinstance(v, str)
            else restore_json(v, restorer, json_text_keys)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [restore_json(v, restorer, json_text_keys) for v in value]
    return value
