"""Where user text sits in a parsed request body, so it can be scanned and written back in place.

Adapters know *where* text lives in their provider's bodies and register each place here;
everything after that (detection, transforms) works on the flat list of segments.

Inside free-form JSON (tool arguments, variables) personal data hides in more than string values:
object keys ({"John Smith": ...}) and integers (a card or phone number written as a number) are
segments too. A key or integer is only rewritten when detection changed it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, MutableMapping, MutableSequence
from typing import Any

from proxy.errors import bad_request

Container = MutableMapping[str, Any] | MutableSequence[Any]

# Integers shorter than this are counts, flags and small ids; no personal data type is this short.
MIN_SCANNED_INTEGER_DIGITS = 6


def _json_type(value: Any) -> str:
    """The JSON name of a value's type, for error messages that must not quote the value."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return "a non-text value"


def _get(container: Container, key: Any) -> Any:
    """container[key], or None when the key or index is absent (nothing to scan there)."""
    try:
        return container[key]  # type: ignore[index]
    except (KeyError, IndexError):
        return None


def _text_or_none(container: Container, key: Any, what: str) -> str | None:
    value = _get(container, key)
    if value is None or isinstance(value, str):
        return value
    # Anything else would go upstream unscanned: refuse it (the adapter renders the provider's shape).
    raise bad_request(f"{what} must be a string, not {_json_type(value)}")


class TextSlots:
    def __init__(self) -> None:
        self.segments: list[str] = []
        self._writers: list[Callable[[str], None]] = []
        # Dicts whose keys were registered: renamed after every value is written (the value
        # writers address their entries by the old keys).
        self._key_renames: list[Callable[[], None]] = []
        # JSON strings (tool arguments) are re-serialised after their inner values are written.
        self._finalizers: list[tuple[int, int, Callable[[], None]]] = []
        self.identifiers: list[tuple[Container, Any]] = []
        self.unscannable: set[str] = set()

    def _segment(self, text: str, write: Callable[[str], None]) -> None:
        self.segments.append(text)
        self._writers.append(write)

    def add(self, container: Container, key: Any) -> None:
        """Register container[key] if it holds a non-empty string; absent or null is nothing to scan,
        any other value is refused (400)."""
        value = _text_or_none(container, key, "a text field")
        if value:

            def write(new: str, c: Container = container, k: Any = key) -> None:
                c[k] = new  # type: ignore[index]

            self._segment(value, write)

    def _add_integer(self, container: Container, key: Any, value: int) -> None:
        digits = str(abs(value))
        if len(digits) < MIN_SCANNED_INTEGER_DIGITS:
            return
        sign = "-" if value < 0 else ""

        def write(new: str, c: Container = container, k: Any = key, old: str = digits) -> None:
            # An unchanged number stays a number (and exact, however wide); a masked one becomes
            # the masked text, as a string.
            if new != old:
                c[k] = sign + new  # type: ignore[index]

        self._segment(digits, write)

    def _add_dict(self, value: dict[str, Any]) -> None:
        renamed: dict[int, str] = {}
        keys_registered = False
        for index, (key, item) in enumerate(value.items()):
            # Each key before its value: segments follow the text's reading order.
            if isinstance(key, str) and key:

                def write(new: str, i: int = index, old: str = key) -> None:
                    if new != old:
                        renamed[i] = new

                self._segment(key, write)
                keys_registered = True
            self._add_item(value, key, item)
        if keys_registered:
            self._key_renames.append(lambda: _rename_keys(value, renamed))

    def add_strings_in(self, value: Any) -> None:
        """Register every string value, object key and integer of 6+ digits inside a JSON value."""
        if isinstance(value, dict):
            self._add_dict(value)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._add_item(value, index, item)

    def _add_item(self, container: Container, key: Any, item: Any) -> None:
        if isinstance(item, str):
            self.add(container, key)
        elif isinstance(item, int) and not isinstance(item, bool):
            self._add_integer(container, key, item)
        else:
            self.add_strings_in(item)

    def add_json_string(self, container: Container, key: Any) -> None:
        """container[key] is a string holding JSON (tool arguments): scan what is inside it and keep
        it valid JSON. A string that is not JSON is scanned as plain text; arguments already given
        as a JSON object or array (some APIs accept both) are scanned in place."""
        raw = _get(container, key)
        if isinstance(raw, dict | list):
            self.add_strings_in(raw)
            return
        if isinstance(raw, int) and not isinstance(raw, bool):
            self._add_integer(container, key, raw)
            return
        if not isinstance(raw, str) or not raw:
            return  # null, a boolean or a fraction carries no text
        try:
            # stdlib json, not orjson: arguments may hold integers wider than 64 bits, kept exact.
            parsed = json.loads(raw)
        except ValueError:
            self.add(container, key)
            return
        first = len(self.segments)
        holder: list[Any] = [parsed]
        self._add_item(holder, 0, parsed)
        if len(self.segments) == first:
            return  # nothing in it to scan

        def finalize(c: Container = container, k: Any = key, ref: list[Any] = holder) -> None:
            c[k] = json.dumps(ref[0], ensure_ascii=False, separators=(",", ":"))  # type: ignore[index]

        # Only a JSON string whose inner text changed is re-serialised; others go out byte for byte.
        self._finalizers.append((first, len(self.segments), finalize))

    def add_identifier(self, container: Container, key: Any) -> None:
        """An end-user identifier (e.g. OpenAI `user`): pseudonymised, never scanned or restored."""
        if _text_or_none(container, key, "an end-user identifier"):
            self.identifiers.append((container, key))

    def add_unscannable(self, kind: str) -> None:
        self.unscannable.add(kind)

    def write_back(self, new_segments: list[str], pseudonymize: Callable[[str], str]) -> None:
        if len(new_segments) != len(self._writers):
            raise ValueError("one replacement per segment is required")
        for write, text in zip(self._writers, new_segments, strict=True):
            write(text)
        for rename in self._key_renames:
            rename()
        for first, end, finalize in self._finalizers:
            if new_segments[first:end] != self.segments[first:end]:
                finalize()
        for container, key in self.identifiers:
            container[key] = pseudonymize(container[key])  # type: ignore[index]


def _rename_keys(value: dict[str, Any], renamed: dict[int, str]) -> None:
    """Give the entries at the `renamed` positions their new keys, in place and in order.

    Two keys can become one ("John" and "Jane" both redact to "[PERSON]"), or a new key can equal a
    key that did not change: the renamed entry then gets a numbered key, so no entry is lost and
    keys nobody changed keep their names.
    """
    if not renamed:
        return
    items = list(value.items())
    taken = {key for index, (key, _) in enumerate(items) if index not in renamed}
    value.clear()
    for index, (key, item) in enumerate(items):
        new = renamed.get(index)
        if new is None:
            value[key] = item
            continue
        candidate, n = new, 1
        while candidate in taken:
            n += 1
            candidate = f"{new}#{n}"
        taken.add(candidate)
        value[candidate] = item
