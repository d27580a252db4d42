"""Deny by default: a format declares the *structure* of its bodies; every other value is scanned.

A format is a tree of nodes mirroring a provider's request body. Walking a body with it registers
in `TextSlots` every string value, every key of a free-form object and every long number, except
where the format declares a structural value (a role, a type tag, an id, a function name, an enum
setting, a number of a known setting). A structural value must also *look* structural: a member of
its enum, or an identifier of bounded length; anything else is refused (400) rather than forwarded
unread. A field the format does not name (a field a provider adds tomorrow) is scanned whole, its
key included.

Pure code: no I/O. Nodes are immutable after module import (recursive shapes, such as JSON
Schema, are closed by assigning into an `Obj`'s fields once).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from proxy.errors import bad_request
from proxy.textslots import Container, TextSlots


class Node:
    """How one JSON value at a known place is treated."""

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        scan(slots, container, key, value)


def scan(slots: TextSlots, container: Container, key: Any, value: Any) -> None:
    """Free-form data: every string, every object key and every long number is scanned."""
    if isinstance(value, str):
        if value:
            slots.add(container, key)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        slots.add_number(container, key, value)
    elif isinstance(value, dict):
        slots.add_object(value)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            scan(slots, value, index, item)


class Scan(Node):
    """Text or free-form data (message content, descriptions, schemas' defaults, metadata)."""


SCAN = Scan()


def _key_name(key: Any) -> str:
    # Error messages name the field, never quote a value (it may be personal data).
    return f"'{key}'" if isinstance(key, str) else "an item"


@dataclass(frozen=True)
class Pattern(Node):
    """A structural string: must fully match `pattern` (bounded length), else 400. A value of
    another JSON type here is scanned like free-form data (nothing unread goes out)."""

    pattern: re.Pattern[str]
    what: str = "an identifier"

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        if isinstance(value, str):
            if not self.pattern.fullmatch(value):
                raise bad_request(f"{_key_name(key)} must be {self.what}", "invalid_structural_value")
        else:
            scan(slots, container, key, value)


@dataclass(frozen=True)
class Enum(Node):
    """A structural string from a closed set (`tool_choice: "auto"`, `role`); `other` treats a
    value of another JSON type (an object form of the same setting)."""

    values: frozenset[str]
    other: Node = SCAN

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        if isinstance(value, str):
            if value not in self.values:
                raise bad_request(
                    f"{_key_name(key)} must be one of: {', '.join(sorted(self.values))}",
                    "invalid_structural_value",
                )
        elif value is not None:
            self.other.walk(slots, container, key, value)


def enum(*values: str, other: Node = SCAN) -> Enum:
    return Enum(frozenset(values), other)


class Setting(Node):
    """A number or boolean of a known setting (temperature, max_tokens, seed): passes at any size.
    A string here is scanned."""

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        if isinstance(value, bool | int | float) or value is None:
            return
        scan(slots, container, key, value)


SETTING = Setting()


@dataclass(frozen=True)
class Obj(Node):
    """An object whose field names the format knows: those keys are structural; any other key is
    scanned with its value. A value of another JSON type where this object belongs is scanned."""

    fields: dict[str, Node] = field(default_factory=dict)
    # The values of fields not named above (their keys are scanned whatever this is).
    rest: Node = SCAN

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        if isinstance(value, dict):
            walk_object(slots, value, self.fields, self.rest)
        else:
            scan(slots, container, key, value)


def walk_object(
    slots: TextSlots, value: dict[str, Any], fields: Mapping[str, Node], rest: Node = SCAN
) -> None:
    def item(holder: Container, name: Any, inner: Any) -> None:
        node = fields.get(name) if isinstance(name, str) else None
        (node or rest).walk(slots, holder, name, inner)

    slots.add_object(value, item, fields)


def obj(**fields: Node) -> Obj:
    return Obj(dict(fields))


@dataclass(frozen=True)
class Each(Node):
    """A list whose items are `item`; a single value where a list may stand is `item` too."""

    item: Node

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        if isinstance(value, list):
            for index, inner in enumerate(value):
                self.item.walk(slots, value, index, inner)
        else:
            self.item.walk(slots, container, key, value)


@dataclass(frozen=True)
class MapOf(Node):
    """An object with free keys (scanned) and values of one shape (`properties`, variables)."""

    value_node: Node

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        if not isinstance(value, dict):
            scan(slots, container, key, value)
            return
        node = self.value_node

        def item(holder: Container, name: Any, inner: Any) -> None:
            node.walk(slots, holder, name, inner)

        slots.add_object(value, item)


@dataclass(frozen=True)
class Tagged(Node):
    """An object whose `tag` field picks its shape. The tag must be one of `variants` (or
    `default` when absent); an unknown tag goes to `unknown` (by default: content that cannot be
    read, left to the rules' unscannable policy)."""

    tag: str
    variants: dict[str, Node]
    unknown: Node
    default: str | None = None

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        if not isinstance(value, dict):
            self._other(slots, container, key, value)
            return
        tag = value.get(self.tag, self.default)
        if not isinstance(tag, str) or not _TYPE_TAG.fullmatch(tag):
            raise bad_request(f"'{self.tag}' must be a type name", "invalid_structural_value")
        node = self.variants.get(tag)
        if node is None:
            self.unknown.walk(slots, container, key, value)
        else:
            node.walk(slots, container, key, value)

    def _other(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        # A bare string where a tagged part may stand (chat content parts accept strings).
        scan(slots, container, key, value)


def tagged(tag: str, variants: Mapping[str, Obj], unknown: Node, default: str | None = None) -> Tagged:
    """Each variant's own tag field is structural (already checked)."""
    closed = {name: Obj({**variant.fields, tag: CHECKED}, variant.rest) for name, variant in variants.items()}
    return Tagged(tag, closed, unknown, default)


class Checked(Node):
    """Already validated by the node that chose this shape."""

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        return


CHECKED = Checked()


@dataclass(frozen=True)
class Unscannable(Node):
    """Content the detector cannot read (images, audio, files, coordinates): reported, and the
    customer's unscannable policy decides whether the request goes."""

    kind: str

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        if value is not None:
            slots.add_unscannable(self.kind)


@dataclass(frozen=True)
class Media(Node):
    """Media the detector cannot read (an image, a document): reported as unscannable content,
    while its other fields (a file name, a title) are walked with `fields` like any object."""

    kind: str
    fields: dict[str, Node] = field(default_factory=dict)

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        if value is None:
            return
        slots.add_unscannable(self.kind)
        if isinstance(value, dict):
            walk_object(slots, value, self.fields)


def media(kind: str, **fields: Node) -> Media:
    return Media(kind, dict(fields))


class Opaque(Node):
    """A token the provider produced (encrypted reasoning, a signature): base64 of binary data.
    Anything else (text, or base64 of readable text) would travel unscanned, so it is refused."""

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        if not isinstance(value, str):
            scan(slots, container, key, value)
            return
        if len(value) > MAX_OPAQUE or not _BASE64.fullmatch(value) or _readable(value):
            raise bad_request(f"{_key_name(key)} must be an opaque token", "invalid_structural_value")


MAX_OPAQUE = 4 * 1024 * 1024
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")


def _readable(token: str) -> bool:
    """Whether a base64 token decodes to mostly printable text (something written, not sealed)."""
    if len(token) < 12:
        return False
    sample = token[:4096].rstrip("=")
    sample = sample[: len(sample) - len(sample) % 4]
    try:
        raw = base64.b64decode(sample.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return False
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in raw)
    return printable >= 0.9 * len(raw)


OPAQUE = Opaque()


class Pseudonym(Node):
    """An end-user identifier (OpenAI `user`): replaced by a keyed pseudonym, never sent as is."""

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        slots.add_identifier(container, key)


PSEUDONYM = Pseudonym()


@dataclass(frozen=True)
class JsonText(Node):
    """A string holding JSON (tool arguments, function outputs): parsed (duplicate keys refused),
    walked with `inner`, and always sent as the serialisation of what was scanned."""

    inner: Node = SCAN

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        inner = self.inner

        def walk_value(holder: Container, name: Any, parsed: Any) -> None:
            inner.walk(slots, holder, name, parsed)

        slots.add_json_string(container, key, walk_value)


JSON_TEXT = JsonText()


@dataclass(frozen=True)
class ByKind(Node):
    """A field whose shape depends on its JSON type: `text` for a string, `other` for the rest
    (a function output: JSON text, or a list of content parts)."""

    text: Node
    other: Node

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        (self.text if isinstance(value, str) else self.other).walk(slots, container, key, value)


def collect(root: Node, body: dict[str, Any], slots: TextSlots) -> None:
    """Register everything in `body` that is not declared structural."""
    holder: list[Any] = [body]
    try:
        root.walk(slots, holder, 0, body)
    except RecursionError:
        raise bad_request("the request body is nested too deeply", "invalid_json") from None


# ---------------------------------------------------------------- structural value patterns

# Type tags and enum-like names a provider may add to: lower-case words (OpenAI, Anthropic) or
# camelCase/UPPER_CASE (Google, AWS), bounded.
_TYPE_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
TYPE_NAME = Pattern(_TYPE_TAG, "a type name (letters, digits, '_', '.', '-'; at most 64)")
# Call and item ids the provider or the SDK generated ("call_abc", "toolu_01...", "fc_...").
ID = Pattern(re.compile(r"[A-Za-z0-9_.:-]{1,256}"), "an id (letters, digits, '_', '.', ':', '-')")
# Function and tool names (OpenAI: ^[a-zA-Z0-9_-]{1,64}$; others allow '.', ':').
NAME = Pattern(re.compile(r"[A-Za-z0-9_.:-]{1,128}"), "a name (letters, digits, '_', '.', ':', '-')")
# Model ids: "gpt-4o-mini", "models/gemini-2.0-flash", "anthropic.claude-3-5:0", ARNs, fine-tunes
# ("ft:gpt-4o:org:name:id"). No '@', no spaces, no newlines.
# A local path as vLLM names its models ("/models/Qwen2.5-7B") and a version after '@' as Vertex
# and LiteLLM do ("claude-3-5-sonnet@20240620": a digit first, so no e-mail address passes).
MODEL_PATTERN = re.compile(r"/?[A-Za-z0-9][A-Za-z0-9._:/+-]{0,255}(?:@[0-9][A-Za-z0-9._-]{0,63})?")
MODEL = Pattern(
    MODEL_PATTERN, "a model id (letters, digits, '.', '_', ':', '/', '+', '-', '@version'; at most 256)"
)
# A MIME type (`responseMimeType`, `mimeType`).
MIME = Pattern(re.compile(r"[a-z0-9.+-]{1,64}/[a-z0-9.+-]{1,128}"), "a MIME type")
# Versions and flag names ("bedrock-2023-05-31", "computer-use-2024-10-22"), JSON-schema formats.
VERSION = Pattern(re.compile(r"[A-Za-z0-9._-]{1,64}"), "a version name")
# A setting word a provider may add values to ("low", "flex", "OFF", "END").
WORD = Pattern(re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}"), "a setting name")
# Resource ids and ARNs of the application's own resources (guardrails, cached contents).
RESOURCE = Pattern(re.compile(r"/?[A-Za-z0-9][A-Za-z0-9:/._-]{0,2047}"), "a resource id or ARN")
# A language tag ("en-US", "de").
LANGUAGE = Pattern(re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,3}"), "a language tag")
# A domain name ("pubmed.ncbi.nlm.nih.gov").
DOMAIN = Pattern(re.compile(r"(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,63}"), "a domain name")
# An https endpoint of the application's own resources (Azure On Your Data, MCP servers).
ENDPOINT = Pattern(
    re.compile(r"https://[A-Za-z0-9.-]{1,253}(?::\d{1,5})?(?:/[A-Za-z0-9._~/-]{0,256})?"),
    "an https URL of a resource",
)


def check_model(value: Any, where: str = "'model'") -> str:
    """A model id from a body or a path, validated before consent is decided on it: absent is
    "", anything but a bounded identifier is refused (400) and never reaches a record."""
    if value is None:
        return ""
    if not isinstance(value, str) or not MODEL_PATTERN.fullmatch(value):
        raise bad_request(f"{where} must be {MODEL.what}", "invalid_model")
    return value


def settings(*keys: str) -> dict[str, Node]:
    """Fields that are numbers or booleans of known settings."""
    return dict.fromkeys(keys, SETTING)


def merge(*parts: Mapping[str, Node] | Iterable[tuple[str, Node]]) -> dict[str, Node]:
    out: dict[str, Node] = {}
    for part in parts:
        out.update(part)
    return out
