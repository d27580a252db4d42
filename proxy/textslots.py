"""Where user text sits in a parsed request body, so it can be scanned and written back in place.

Adapters know *where* text lives in their provider's bodies and register each place here;
everything after that (detection, transforms) works on the flat list of segments.

Inside free-form JSON (tool arguments, variables) personal data hides in more than string values:
object keys ({"John Smith": ...}) and integers (a card or phone number written as a number) are
segments too. A key or integer is only rewritten when detection changed it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, MutableMapping, MutableSequence
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
        # The object key each segment is the value of (None: a key itself, an array item, a
        # message's text): a field name is evidence of what its value holds.
        self.keys: list[str | None] = []
        self._writers: list[Callable[[str], None]] = []
        # Dicts whose keys were registered: renamed after every value is written (the value
        # writers address their entries by the old keys).
        self._key_renames: list[Callable[[], None]] = []
        # JSON strings (tool arguments) are re-serialised after their inner values are written.
        self._finalizers: list[Callable[[], None]] = []
        self.identifiers: list[tuple[Container, Any]] = []
        self.unscannable: set[str] = set()

    def _segment(self, text: str, write: Callable[[str], None], field: Any = None) -> None:
        if not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError:  # a lone surrogate (JSON "\ud800"): no text a model reads
                raise bad_request("a text field holds an invalid character (a lone surrogate)") from None
        self.segments.append(text)
        self.keys.append(field if isinstance(field, str) else None)
        self._writers.append(write)

    @staticmethod
    def _field(container: Container, key: Any) -> str | None:
        return key if isinstance(container, MutableMapping) and isinstance(key, str) else None

    def add(self, container: Container, key: Any) -> None:
        """Register container[key] if it holds a non-empty string; absent or null is nothing to scan,
        any other value is refused (400)."""
        value = _text_or_none(container, key, "a text field")
        if value:

            def write(new: str, c: Container = container, k: Any = key) -> None:
                c[k] = new  # type: ignore[index]

            self._segment(value, write, self._field(container, key))

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

        self._segment(digits, write, self._field(container, key))

    def add_object(
        self,
        value: dict[str, Any],
        walk_item: Callable[[Container, Any, Any], None] | None = None,
        known_keys: Collection[str] = (),
    ) -> None:
        """Register an object's keys (all but `known_keys`, the field names its format declares)
        and walk each value with `walk_item` (default: every string, key and long number in it)."""
        walk = walk_item or self._add_item
        renamed: dict[int, str] = {}
        keys_registered = False
        for index, (key, item) in enumerate(list(value.items())):
            # Each key before its value: segments follow the text's reading order.
            if isinstance(key, str) and key and key not in known_keys:

                def write(new: str, i: int = index, old: str = key) -> None:
                    if new != old:
                        renamed[i] = new

                self._segment(key, write)
                keys_registered = True
            walk(value, key, item)
        if keys_registered:
            self._key_renames.append(lambda: _rename_keys(value, renamed))

    def add_number(self, container: Container, key: Any, value: float) -> None:
        """A number in free-form data: an integer of 6+ digits (or a float with such an integral
        value) may be a phone or card number written as a number, so it is scanned."""
        if isinstance(value, float):
            if not value.is_integer() or abs(value) < 10 ** (MIN_SCANNED_INTEGER_DIGITS - 1):
                return
            value = int(value)
        self._add_integer(container, key, value)

    def add_strings_in(self, value: Any) -> None:
        """Register every string value, object key and integer of 6+ digits inside a JSON value."""
        if isinstance(value, dict):
            self.add_object(value)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._add_item(value, index, item)

    def _add_item(self, container: Container, key: Any, item: Any) -> None:
        if isinstance(item, str):
            self.add(container, key)
        elif isinstance(item, int | float) and not isinstance(item, bool):
            self.add_number(container, key, item)
        else:
            self.add_strings_in(item)

    def add_json_string(
        self,
        container: Container,
        key: Any,
        walk_value: Callable[[Container, Any, Any], None] | None = None,
    ) -> None:
        """container[key] is a string holding JSON (tool arguments): scan what is inside it and keep
        it valid JSON. A string that is not JSON is scanned as plain text; arguments already given
        as a JSON object or array (some APIs accept both) are scanned in place.

        JSON text is parsed with duplicate keys refused (400): a parser upstream may take another
        of two values than the one scanned here. What goes upstream is always the serialisation of
        the scanned value, never the original bytes, so an escape or a second spelling the scan did
        not see cannot travel with it."""
        walk = walk_value or self._add_item
        raw = _get(container, key)
        if isinstance(raw, dict | list | int | float) and not isinstance(raw, bool):
            walk(container, key, raw)
            return
        if not isinstance(raw, str) or not raw:
            return  # null or a boolean carries no text
        try:
            # stdlib json, not orjson: arguments may hold integers wider than 64 bits, kept exact.
            parsed = json.loads(raw, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
        except DuplicateKey:
            raise bad_request("JSON text in a string field has a duplicate object key") from None
        except NotJson:
            raise bad_request("JSON text in a string field holds NaN or Infinity") from None
        except (ValueError, RecursionError):
            self.add(container, key)
            return
        holder: list[Any] = [parsed]
        walk(holder, 0, parsed)

        def finalize(c: Container = container, k: Any = key, ref: list[Any] = holder) -> None:
            text = json.dumps(ref[0], ensure_ascii=False, separators=(",", ":"))
            try:
                text.encode()
            except UnicodeEncodeError:  # a lone surrogate escaped in the JSON text
                raise bad_request("JSON text in a string field holds an invalid character") from None
            c[k] = text  # type: ignore[index]

        self._finalizers.append(finalize)

    def add_identifier(self, container: Container, key: Any) -> None:
        """An end-user identifier (e.g. OpenAI `user`): pseudonymised, never scanned or restored."""
        if _text_or_none(container, key, "an end-user identifier"):
            self.identifiers.append((container, key))

    def add_unscannable(self, kind: str) -> None:
        self.unscannable.add(kind)

    def write_back(self, new_segments: list[str], pseudonymize: Callable[[str], str]) -> None:
        if len(new_segments) != len(self._writers):
            raise ValueError("one replacement per segment is required")
        # Values (and pseudonyms) first: their writers address entries by the keys as they came.
        for write, text in zip(self._writers, new_segments, strict=True):
            write(text)
        for container, key in self.identifiers:
            container[key] = pseudonymize(container[key])  # type: ignore[index]
        for rename in self._key_renames:
            rename()
        for finalize in self._finalizers:
            finalize()


class DuplicateKey(ValueError):
    pass


class NotJson(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise NotJson(name)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKey
        result[key] = value
    return result


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
