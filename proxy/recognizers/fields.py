"""Values of named fields inside text: `Name: Raven Pounds`, `"email": "..."`, CSV columns.

People paste structured data into prompts: JSON records, form dumps, `Key: value` lines, CSV and
Markdown tables. The field's name is the strongest evidence there is of what its value holds, and
the value often has nothing else to go on (a lower-case name, a bare postcode, a date of birth).
`FieldRecognizer` finds field/value pairs by their syntax, asks `field_names.field_type` what the
field holds, and reports the value when it has the shape of that type (`plausible`): a name of
letters, a phone of digits, an address with a number... so `name: web-deployment` in a Kubernetes
manifest, `"name": "Build and test"` in a CI file or `"address": "0x7ffd"` stay untouched.

The body walker uses the same evidence for JSON sent as JSON (`proxy.pipeline` puts a value's key
before it as a `key: ` line for detection, see `field_context`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from proxy import field_names
from proxy.field_names import field_type, words
from proxy.recognizers.names import (
    HONORIFICS,
    PRODUCT_NAMES,
    PersonRecognizer,
    english_vocabulary,
    first_names,
)
from proxy.recognizers.results import scored_result

SCORE = 0.85
MAX_VALUE_CHARS = 200

# "key": "value" (JSON, Python dicts, JS objects with quoted keys)
_QUOTED_PAIR = re.compile(
    r"""(?P<q>["'])(?P<key>[^"'\n]{1,64})(?P=q)\s*:\s*(?P<v>["'])(?P<value>(?:(?!(?P=v))[^\\\n]|\\.){1,200})(?P=v)"""
)
# Key: value / key = value where a line, a list item or a previous pair's separator starts it
_LABEL_PAIR = re.compile(
    r"""(?:^|(?<=[\n,;|{(]))[ \t]*(?:[-*•>][ \t]+)?"""  # a line, list item or previous pair
    r"""(?P<key>[^\W\d][\w.'\u2019-]*(?:[ ][\w.'\u2019-]+){0,3})[ \t]*[:=][ \t]*(?!//)""",
    re.MULTILINE,
)
# <key>value</key>
_XML_PAIR = re.compile(r"<(?P<key>[A-Za-z][\w.-]{0,40})>(?P<value>[^<>\n]{1,200})</(?P=key)>")
# URL query parameters: ?name=John+Smith&email=...
_QUERY_PAIR = re.compile(r"[?&](?P<key>[A-Za-z][\w.-]{0,40})=(?P<value>[^&\s#]{1,200})")
# A date after the words that make it a date of birth, in prose: "born on 12 March 1984",
# "geboren am 3.4.1990", "née le 5 mai 1979", "nacido el 7 de julio de 1988", "DOB 1984-03-12".
_MONTH = r"[^\W\d_]{3,10}\.?"
_BIRTH_DATE_IN_PROSE = re.compile(
    r"(?i:\b(?:born(?:\s+on)?|date\s+of\s+birth|d\.?o\.?b\.?|birthday(?:\s+is)?|geboren(?:\s+am)?"
    r"|geburtsdatum|n[ée]e?\s+le|date\s+de\s+naissance|nacid[oa]\s+el|fecha\s+de\s+nacimiento"
    r"|nat[oa]\s+il|data\s+di\s+nascita|geboren\s+op|urodzon[ya]|data\s+urodzenia))"
    r"[\s:,-]{1,3}"
    r"(?P<date>\d{1,4}[./-]\d{1,2}[./-]\d{2,4}"
    rf"|\d{{1,2}}\.?\s+(?:de\s+)?{_MONTH}\s+(?:de\s+)?\d{{4}}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}})"
)
_CSV_SEPARATORS = (",", ";", "\t", "|")
_TRIM = " \t\"'`,;.)(]["
_PLACEHOLDERS = words(
    """
    null none nil n/a na unknown undefined string str text value example sample test tbd todo
    redacted hidden private xxx *** - -- ... true false yes no
    """
)
_NAME_PARTICLES = words("van von der den de del della di da dos das du le la ten ter bin al el y e st")
_NAME_WORD = re.compile(r"^[^\W\d_](?:[^\W\d_]|['\u2019.-](?=[^\W\d_]))*\.?$")
_DIGITS = re.compile(r"\d")
_PHONE_VALUE = re.compile(r"^[+(]?[\d\s().\-/+]{6,25}(?:\s*(?:x|ext\.?)\s*\d{1,6})?$", re.IGNORECASE)
_DATE_VALUE = re.compile(
    r"^(?:\d{1,4}[./\- ]\d{1,2}[./\- ]\d{1,4}"  # 12.03.1984, 1984-03-12
    r"|\d{1,2}\.?\s+(?:de\s+)?[^\W\d]{3,12}\.?,?\s+(?:de\s+)?\d{2,4}"  # 12 March 1984, 7 de julio de 1988
    r"|[^\W\d]{3,12}\.?\s+\d{1,2},?\s+\d{2,4})$"  # March 12, 1984
)
_IBAN_VALUE = re.compile(r"^(?:[A-Za-z]{2}\d{2}(?:\s?[A-Za-z0-9]){11,30}|\d[\d\s-]{5,30})$")
_ID_VALUE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|[ .\-/](?=[A-Za-z0-9])){4,24}$")
_POSTCODE_VALUE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|[ \-](?=[A-Za-z0-9])){2,9}$")
_POSTCODE_KEYS = words(
    "postcode postalcode zip zipcode plz postleitzahl codepostal codigopostal cap kodpocztowy"
)


def _folded_key(key: str) -> str:
    return "".join(field_names.key_words(key))


def plausible(entity: str, value: str, key: str = "") -> bool:
    """Whether `value` has the shape of what a field of type `entity` holds."""
    if not value or len(value) > MAX_VALUE_CHARS or value.casefold() in _PLACEHOLDERS:
        return False
    if "{{" in value or "${" in value or value.startswith(("<", "$", "%", "@")) or "://" in value:
        return False  # a template variable, a reference or a URL, not the value itself
    if entity == field_names.PERSON:
        value = value.replace("+", " ")  # a URL query writes spaces as '+'
        if _folded_key(key) in field_names.SURNAME_KEYS:
            words = value.split()
            return 1 <= len(words) <= 5 and all(_NAME_WORD.match(w) for w in words)
        return _person(value)
    if entity == field_names.EMAIL:
        return "@" in value or " at " in value.casefold() or "(at)" in value.casefold()
    if entity == field_names.PHONE:
        return bool(_PHONE_VALUE.match(value)) and 6 <= len(_DIGITS.findall(value)) <= 18
    if entity == field_names.ADDRESS:
        if _folded_key(key) in _POSTCODE_KEYS:
            return bool(_POSTCODE_VALUE.match(value)) and bool(_DIGITS.search(value))
        return _address(value)
    if entity == field_names.LOCATION:
        words = value.replace(",", " ").split()
        return 1 <= len(words) <= 4 and all(_NAME_WORD.match(w) for w in words) and value[:1].isupper()
    if entity == field_names.BIRTH_DATE:
        return bool(_DATE_VALUE.match(value))
    if entity == field_names.IBAN:
        return bool(_IBAN_VALUE.match(value)) and len(_DIGITS.findall(value)) >= 6
    if entity == field_names.NATIONAL_ID:
        return bool(_ID_VALUE.match(value)) and len(_DIGITS.findall(value)) >= 3
    return False


def _person(value: str) -> bool:
    words = value.split()
    if len(words) >= 2 and words[0].casefold().rstrip(".") in HONORIFICS:
        return all(_NAME_WORD.match(word) for word in words[1:])  # "Mrs Fisher", "Dr. A. Cook"
    if not 1 <= len(words) <= 5 or not all(_NAME_WORD.match(word) for word in words):
        return False
    capitalised = [w for w in words if w[0].isupper()]
    lower = [w for w in words if not w[0].isupper() and w.casefold() not in _NAME_PARTICLES]
    if capitalised and lower:
        return False  # "Build and test", "Set up Python": a phrase, not a name
    if all(len(w) > 1 and w.isupper() for w in words) and len(words) == 1:
        return False  # an acronym ("CI", "API")
    folded = [w.casefold().rstrip(".") for w in words]
    if any(w in PRODUCT_NAMES for w in folded) and len(words) == 1:
        return False
    names = first_names()
    # lower case, the lexicon's rarest entries are as likely words or identifiers ("name: ci" of a
    # CI workflow): the floor PersonRecognizer applies to lower-case names
    floor = 1 if capitalised else PersonRecognizer.MIN_FREQUENCY_LOWER
    if any(names.get(w, 0) >= floor for w in folded):
        return True
    vocabulary = english_vocabulary().words
    # A name nobody's lexicon knows: at least one word is no English word (two when lower case,
    # where a single unknown word is as likely an identifier).
    unknown = sum(1 for w in folded if w not in vocabulary and w not in _NAME_PARTICLES)
    return unknown >= (1 if capitalised else 2)


def _address(value: str) -> bool:
    if re.fullmatch(r"(?:0x)?[0-9a-fA-F:.]+", value):
        return False  # a memory, MAC or IP address: not a postal one
    words = re.findall(r"[^\W\d_]{2,}", value)
    return bool(words) and (bool(_DIGITS.search(value)) or len(value.split()) >= 2) and value[:1] != "/"


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _TRIM:
        start += 1
    while end > start and text[end - 1] in _TRIM:
        end -= 1
    return start, end


def field_values(text: str) -> Iterator[tuple[int, int, str, str]]:
    """(start, end, entity type, field name) of every value of a personal field in `text`."""
    yield from _pairs(text)
    yield from _table_cells(text)
    for match in _BIRTH_DATE_IN_PROSE.finditer(text):
        yield match.start("date"), match.end("date"), field_names.BIRTH_DATE, "dob"


def _pairs(text: str) -> Iterator[tuple[int, int, str, str]]:
    for match in _QUOTED_PAIR.finditer(text):
        entity = field_type(match["key"])
        if entity is not None:
            start, end = _trimmed(text, match.start("value"), match.end("value"))
            yield start, end, entity, match["key"]
    for pattern in (_XML_PAIR, _QUERY_PAIR):
        for match in pattern.finditer(text):
            entity = field_type(match["key"])
            if entity is not None:
                start, end = _trimmed(text, match.start("value"), match.end("value"))
                yield start, end, entity, match["key"]
    labels = list(_LABEL_PAIR.finditer(text))
    for i, match in enumerate(labels):
        entity = field_type(match["key"])
        if entity is None:
            continue
        line_end = text.find("\n", match.end())
        end = len(text) if line_end == -1 else line_end
        if i + 1 < len(labels) and labels[i + 1].start() < end:
            # the next pair on the same line ends this value ("Name: X, Email: Y")
            end = labels[i + 1].start()
        start, end = _trimmed(text, match.end(), end)
        if text[start:end].startswith(("{", "[")):
            continue  # a nested structure: its own pairs are found one by one
        yield start, end, entity, match["key"]


def _table_cells(text: str) -> Iterator[tuple[int, int, str, str]]:
    """Cells under personal columns of CSV/TSV/Markdown tables (a header row names the columns)."""
    lines: list[tuple[int, str]] = []
    offset = 0
    for line in text.split("\n"):
        lines.append((offset, line))
        offset += len(line) + 1
    i = 0
    while i < len(lines):
        _, header = lines[i]
        i += 1
        separator = max(_CSV_SEPARATORS, key=header.count)
        cells = _cells(header, separator)
        if len(cells) < 2:
            continue
        columns = {n: field_type(cell.strip(" \"'*`")) for n, (_, cell) in enumerate(cells)}
        if not any(columns.values()):
            continue
        while i < len(lines):
            row_offset, row = lines[i]
            if set(row.strip()) <= set("|-: \t") and row.strip():
                i += 1  # a Markdown rule under the header
                continue
            row_cells = _cells(row, separator)
            if len(row_cells) != len(cells):
                break
            i += 1
            for n, (cell_start, cell) in enumerate(row_cells):
                entity = columns.get(n)
                if entity is None:
                    continue
                start, end = _trimmed(text, row_offset + cell_start, row_offset + cell_start + len(cell))
                if start < end:
                    yield start, end, entity, cells[n][1].strip(" \"'*`")


def _cells(line: str, separator: str) -> list[tuple[int, str]]:
    """(offset, text) of each cell of a table row; quoted CSV cells may hold the separator."""
    if separator not in line:
        return []
    body_start, body = 0, line
    if separator == "|":
        stripped = line.strip()
        if stripped.startswith("|"):
            body_start = line.index("|") + 1
            body = line[body_start:]
            if body.rstrip().endswith("|"):
                body = body[: body.rstrip().rfind("|")]
    cells: list[tuple[int, str]] = []
    start, quoted = 0, False
    for pos, char in enumerate(body):
        if char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            cells.append((body_start + start, body[start:pos]))
            start = pos + 1
    cells.append((body_start + start, body[start:]))
    return cells


_BIRTH_HINTS = ("born", "birth", "dob", "d.o.b", "geb", "né", "nacid", "nacim", "nat", "urodz")


def _could_mention_birth(text: str) -> bool:
    folded = text.casefold()
    return any(word in folded for word in _BIRTH_HINTS)


class FieldRecognizer(EntityRecognizer):
    """Values of fields named for personal data (see the module docstring)."""

    ENTITIES = [
        field_names.PERSON,
        field_names.EMAIL,
        field_names.PHONE,
        field_names.ADDRESS,
        field_names.LOCATION,
        field_names.BIRTH_DATE,
        field_names.IBAN,
        field_names.NATIONAL_ID,
    ]

    def __init__(self) -> None:
        super().__init__(
            supported_entities=self.ENTITIES, name="ConsentryFieldRecognizer", supported_language="en"
        )

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if not any(mark in text for mark in ":=<\n") and not _could_mention_birth(text):
            return []  # no field syntax at all: the common case of plain prose, at no cost
        wanted = set(entities)
        results: list[RecognizerResult] = []
        seen: set[tuple[int, int]] = set()
        for start, end, entity, key in field_values(text):
            if entity not in wanted or (start, end) in seen or not plausible(entity, text[start:end], key):
                continue
            seen.add((start, end))
            results.append(scored_result(self, start, end, SCORE, "value of a personal field", entity))
        return results
