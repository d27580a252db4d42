"""Rendering templates into labeled rows with exact offsets.

A template is plain text with `{key}` holes (`{{` and `}}` for literal braces); `render` fills
each hole with a `Field` and records a gold span for every field that has an entity type, at the
exact offsets where its value landed.
Fields without a type (order numbers, amounts) are filled in but not labeled.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

HOLE = re.compile(r"\{(\w+)\}")
SET_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Field:
    value: str
    entity_type: str | None = None
    subtype: str | None = None


def plain(value: str) -> Field:
    return Field(value)


def _unescape(literal: str) -> str:
    return literal.replace("{{", "{").replace("}}", "}")


def render(template: str, fields: Mapping[str, Field | str], **row: str) -> dict:
    parts: list[str] = []
    spans: list[dict] = []
    pos = 0
    length = 0
    for match in HOLE.finditer(template):
        literal = _unescape(template[pos : match.start()])
        parts.append(literal)
        length += len(literal)
        field = fields[match.group(1)]
        if isinstance(field, str):
            field = Field(field)
        if field.entity_type:
            span = {
                "start": length,
                "end": length + len(field.value),
                "entity_type": field.entity_type,
                "value": field.value,
            }
            if field.subtype:
                span["subtype"] = field.subtype
            spans.append(span)
        parts.append(field.value)
        length += len(field.value)
        pos = match.end()
    parts.append(_unescape(template[pos:]))
    text = "".join(parts)
    for span in spans:
        assert text[span["start"] : span["end"]] == span["value"], (template, span)
    return {"text": text, "spans": spans, **row}


def ascii_fold(value: str) -> str:
    """Lower-case ASCII for e-mail local parts and handles: Müller -> muller, Łukasz -> lukasz."""
    value = value.replace("ß", "ss").replace("ł", "l").replace("Ł", "L").replace("ø", "o")
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if c.isascii() and (c.isalnum() or c in ".-_")).lower()


def to_jsonl(rows: list[dict]) -> bytes:
    for row in rows:
        for span in row["spans"]:
            assert row["text"][span["start"] : span["end"]] == span["value"], span
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def write_jsonl(name: str, rows: list[dict]) -> Path:
    path = SET_DIR / f"{name}.jsonl"
    path.write_bytes(to_jsonl(rows))
    return path
