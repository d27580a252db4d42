"""Where user text sits in a parsed request body, so it can be scanned and written back in place.

Adapters know *where* text lives in their provider's bodies and register each place here;
everything after that (detection, transforms) works on the flat list of segments.
"""

from __future__ import annotations

import json
from collections.abc import Callable, MutableMapping, MutableSequence
from typing import Any

Container = MutableMapping[str, Any] | MutableSequence[Any]


class TextSlots:
    def __init__(self) -> None:
        self.segments: list[str] = []
        self._writers: list[Callable[[str], None]] = []
        # JSON strings (tool arguments) are re-serialised after their inner strings are written.
        self._finalizers: list[tuple[int, int, Callable[[], None]]] = []
        self.identifiers: list[tuple[Container, Any]] = []
        self.unscannable: set[str] = set()

    def add(self, container: Container, key: Any) -> None:
        """Register container[key] if it holds a non-empty string."""
        value = container[key]  # type: ignore[index]
        if isinstance(value, str) and value:
            self.segments.append(value)

            def write(new: str, c: Container = container, k: Any = key) -> None:
                c[k] = new  # type: ignore[index]

            self._writers.append(write)

    def add_strings_in(self, value: Any) -> None:
        """Register every string value (not keys) anywhere inside a JSON value."""
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str):
                    self.add(value, key)
                else:
                    self.add_strings_in(item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    self.add(value, index)
                else:
                    self.add_strings_in(item)

    def add_json_string(self, container: Container, key: Any) -> None:
        """container[key] is a string holding JSON (tool arguments): scan its string values and
        keep it valid JSON. A string that is not JSON is scanned as plain text."""
        raw = container[key]  # type: ignore[index]
        if not isinstance(raw, str) or not raw:
            return
        try:
            # stdlib json, not orjson: arguments may hold integers wider than 64 bits, kept exact.
            parsed = json.loads(raw)
        except ValueError:
            self.add(container, key)
            return
        first = len(self.segments)
        if isinstance(parsed, str):
            holder: list[Any] = [parsed]
            self.add(holder, 0)
            parsed_ref: list[Any] = holder
        elif isinstance(parsed, dict | list):
            self.add_strings_in(parsed)
            parsed_ref = [parsed]
        else:
            return  # a number or boolean carries no text

        def finalize(c: Container = container, k: Any = key, ref: list[Any] = parsed_ref) -> None:
            c[k] = json.dumps(ref[0], ensure_ascii=False, separators=(",", ":"))  # type: ignore[index]

        # Only a JSON string whose inner text changed is re-serialised; others go out byte for byte.
        self._finalizers.append((first, len(self.segments), finalize))

    def add_identifier(self, container: Container, key: Any) -> None:
        """An end-user identifier (e.g. OpenAI `user`): pseudonymised, never scanned or restored."""
        if isinstance(container[key], str) and container[key]:  # type: ignore[index]
            self.identifiers.append((container, key))

    def add_unscannable(self, kind: str) -> None:
        self.unscannable.add(kind)

    def write_back(self, new_segments: list[str], pseudonymize: Callable[[str], str]) -> None:
        if len(new_segments) != len(self._writers):
            raise ValueError("one replacement per segment is required")
        for write, text in zip(self._writers, new_segments, strict=True):
            write(text)
        for first, end, finalize in self._finalizers:
            if new_segments[first:end] != self.segments[first:end]:
                finalize()
        for container, key in self.identifiers:
            container[key] = pseudonymize(container[key])  # type: ignore[index]
