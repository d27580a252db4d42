"""JSON Schema as tools and structured outputs carry it (OpenAI `parameters`, Gemini
`responseSchema`, Bedrock `inputSchema.json`, Anthropic `input_schema`).

Only the vocabulary is structural: keywords, type names, formats, booleans and bounds. Property
names, descriptions, titles, enums, defaults, examples, patterns and `required` lists are
scanned: an application's schema can hold personal data as well as its prompt can, and a masked
description still describes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from proxy.formats.schema import SETTING, VERSION, Each, MapOf, Node, Obj, enum

_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")
# Gemini's OpenAPI-style Schema spells them in upper case.
JSON_TYPE = enum(*_TYPES, *(t.upper() for t in _TYPES), "TYPE_UNSPECIFIED", other=Each(enum(*_TYPES)))
_FORMAT = VERSION  # "date-time", "email", "uuid": a bounded word
# A `$ref` points inside the schema ("#/$defs/Address"): the names it uses are scanned in
# `$defs` too, so it is scanned as well and masked alike.
_BOUNDS = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "uniqueItems",
    "nullable",
    "strict",
)


def json_schema(spell: Callable[[str], Iterable[str]] = lambda name: (name,)) -> Obj:
    """The JSON Schema vocabulary, each keyword under every spelling `spell` gives (Google's
    front end takes `any_of` for `anyOf`)."""
    schema = Obj()
    subschemas = MapOf(schema)
    keywords: dict[str, Node] = {
        "type": JSON_TYPE,
        "format": _FORMAT,
        "properties": subschemas,
        "patternProperties": subschemas,
        "$defs": subschemas,
        "definitions": subschemas,
        "items": Each(schema),
        "prefixItems": Each(schema),
        "additionalProperties": schema,  # a boolean passes: only strings and numbers are scanned
        "anyOf": Each(schema),
        "oneOf": Each(schema),
        "allOf": Each(schema),
        "not": schema,
        **dict.fromkeys(_BOUNDS, SETTING),
        # description, title, required, enum, const, default, examples, pattern, $ref and
        # propertyOrdering are not named: scanned, as every field not named is.
    }
    for name, node in keywords.items():
        for spelling in spell(name):
            schema.fields[spelling] = node
    return schema


JSON_SCHEMA = json_schema()
