"""National identifiers of European countries, the UK and India, each under its own entity type.

One table (`SPECS`) says for each identifier which written forms are accepted, which validator
(`id_checksums`) must pass, which words count as context, and how much a valid value is worth
with and without them. One small recognizer class reads one row.

Scoring rule: a check character on a distinctive shape (letters and digits in fixed places, or
digits in the grouping the issuing authority prints) is enough on its own. A value that is only
N digits (BSN, PESEL, Steuer-ID, Aadhaar, a NIR typed without spaces) passes its checksum by
chance for one number in 10 to 97, so it needs an identifier word nearby ("BSN", "PESEL",
"Steuer-ID", "Aadhaar", ...) in the country's language or in English; without one nothing is
reported, so order numbers and timestamps stay readable.

Collisions: a digit-only identifier may also be read as a phone or card number. Presidio keeps
every result; `proxy.transform.resolve_overlaps` masks the union of overlapping spans under the
type of the highest score. With its identifier word nearby, an identifier scores above a phone or
card number without their own context words, so the identifier's type (and its rule) wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from proxy.recognizers import id_checksums as checks
from proxy.recognizers.results import scored_result

CONTEXT_BEFORE = 60  # characters before a value in which identifier words count
CONTEXT_AFTER = 30  # "12345678Z (DNI)": a label right after counts too

# Not glued to letters, digits or to a number it would be part of ("1.234", "12-34", "+49").
_START = r"(?<![\w+])(?<!\d[.,:/\-])"
_END = r"(?!\w)(?![.,:/\-]\d)"
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Form:
    """One written form of an identifier. `alone`: score of a valid value without context words
    (0: context required)."""

    pattern: str
    alone: float


@dataclass(frozen=True)
class IdSpec:
    entity: str
    forms: tuple[Form, ...]
    validate: Callable[[str], bool]
    context: str  # regex of identifier words, matched case-insensitively on word boundaries
    with_context: float = 1.0
    # lower case input is accepted, but only with context (codes in source text are often lower case)
    lower_needs_context: bool = False


def _words(*alternatives: str) -> str:
    return r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)"


# A separator people type between groups: one space, dot or dash.
_S = r"[ .\-]?"

SPECS: tuple[IdSpec, ...] = (
    IdSpec(
        "IT_FISCAL_CODE",
        (
            Form(
                r"[A-Z]{3} ?[A-Z]{3} ?[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2} ?"
                r"[A-Z][0-9LMNPQRSTUV]{3} ?[A-Z]",
                0.85,
            ),
        ),
        checks.valid_it_fiscal_code,
        _words(r"codice\s+fiscale", r"cod\.?\s*fisc\.?", r"c\.\s?f\.?", "cf", r"fiscal\s+code", r"tax\s+code",
               r"tessera\s+sanitaria", "codicefiscale"),
    ),
    IdSpec(
        "FR_NIR",
        (
            Form(r"[1278][ .](?:\d{2}[ .]){2}(?:\d{2}|2[AB])[ .]\d{3}[ .]\d{3}[ .]?\d{2}", 0.85),
            Form(r"[1278]\d{4}(?:\d{2}|2[AB])\d{8}", 0.0),
            Form(r"[1278]\d{4}(?:\d{2}|2[AB])\d{6} \d{2}", 0.0),  # number, then its key
        ),
        checks.valid_fr_nir,
        _words("nir", "nss", "insee", r"s[ée]cu", r"s[ée]curit[ée]\s+sociale", r"carte\s+vitale",
               r"n°\s*ss", r"social\s+security", r"num[ée]ro\s+de\s+s[ée]curit[ée]\s+sociale"),
    ),
    IdSpec(
        "ES_NIF",
        (
            Form(r"\d{8}-?[A-Z]", 0.6),
            Form(r"\d{2}\.\d{3}\.\d{3}[ \-]?[A-Z]", 0.6),
            Form(r"\d{8} [A-Z]", 0.0),  # "pagué 12345678 a ..." : the letter may be a word
            Form(r"[KLM]\d{7}[A-Z]", 0.6),
        ),
        checks.valid_es_nif,
        _words("dni", "nif", r"d\.n\.i\.?", r"n\.i\.f\.?", r"documento\s+nacional",
               r"identificaci[óo]n\s+fiscal", r"n[úu]mero\s+de\s+identificaci[óo]n", r"tax\s+id",
               r"id\s+card", "documento", "carnet"),
    ),
    IdSpec(
        "ES_NIE",
        (Form(r"[XYZ][ \-]?\d{7}[ \-]?[A-Z]", 0.7),),
        checks.valid_es_nie,
        _words("nie", r"n\.i\.e\.?", "extranjer[oa]s?", r"residen(?:cia|ce)\s+(?:card|permit)", "tie", "nif",
               r"n[úu]mero\s+de\s+identidad"),
    ),
    IdSpec(
        "NL_BSN",
        (Form(r"\d{9}|\d{4}\.\d{2}\.\d{3}|\d{3}([ .])\d{3}\1\d{3}|\d{2}\.\d{2}\.\d{2}\.\d{3}", 0.0),),
        checks.valid_nl_bsn,
        _words("bsn", "burgerservicenummer", "sofinummer", "sofi-nummer", r"citizen\s+service\s+number"),
        with_context=0.9,
    ),
    IdSpec(
        "PL_PESEL",
        (Form(r"\d{11}", 0.0),),
        checks.valid_pl_pesel,
        _words("pesel"),
        with_context=0.95,
    ),
    IdSpec(
        "DE_TAX_ID",
        (Form(r"\d{11}|\d{2} \d{3} \d{3} \d{3}|\d{2}/\d{3}/\d{3}/\d{3}", 0.0),),
        checks.valid_de_tax_id,
        _words(r"steuer[- ]?id(?:\w*)", r"steuer[- ]?idnr\.?", "steueridentifikationsnummer", r"idnr\.?",
               r"identifikationsnummer", r"steuerliche\s+identifikationsnummer",
               r"tax\s+id(?:entification)?(?:\s+number)?", "tin", r"steuer-?nr\.?", "steuernummer"),
        with_context=0.9,
    ),
    IdSpec(
        "DE_PENSION_NUMBER",
        (Form(r"\d{2} ?\d{6} ?[A-Z] ?\d{3}", 0.85),),
        checks.valid_de_pension_number,
        _words("rentenversicherungsnummer", "sozialversicherungsnummer", "versicherungsnummer",
               r"sv-?nummer", r"rv-?nummer", r"sv-?nr\.?", r"rv-?nr\.?", "vsnr", "rvnr",
               r"pension\s+insurance\s+number", r"social\s+(?:security|insurance)\s+number"),
    ),
    IdSpec(
        "UK_NINO",
        (
            Form(r"[A-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]", 0.7),
            Form(r"[A-Z]{2}-\d{2}-\d{2}-\d{2}-[A-D]", 0.7),
            Form(r"[A-Z]{2} ?\d{2} ?\d{2} ?\d{2}", 0.0),
        ),
        checks.valid_uk_nino,
        _words(r"national\s+insurance(?:\s+(?:number|no\.?))?", r"ni\s+(?:number|no\.?|num)", "nino",
               "(?-i:NI)", r"insurance\s+number"),
        lower_needs_context=True,
    ),
    IdSpec(
        "IN_AADHAAR",
        (Form(r"[2-9]\d{3}([ \-]?)\d{4}\1\d{4}", 0.0),),
        checks.valid_in_aadhaar,
        _words("aadhaar", "aadhar", "adhaar", "(?-i:UID)", "uidai", r"unique\s+identification", "आधार"),
        with_context=0.95,
    ),
    IdSpec(
        "IN_PAN",
        (Form(r"[A-Z]{3}[PCHFATBLJG][A-Z]\d{4}[A-Z]", 0.6),),
        checks.valid_in_pan,
        _words("pan", r"pan\s+(?:card|number|no\.?)", r"permanent\s+account\s+number", r"income\s+tax"),
        lower_needs_context=True,
    ),
)


class NationalIdRecognizer(EntityRecognizer):
    """One national identifier: its written forms, its validator and its context words."""

    def __init__(self, spec: IdSpec, supported_language: str = "en") -> None:
        self.spec = spec
        self._forms = [
            (re.compile(_START + "(?:" + form.pattern + ")" + _END, re.IGNORECASE), form.alone)
            for form in spec.forms
        ]
        self._context = re.compile(spec.context, re.IGNORECASE)
        name = "Consentry" + "".join(part.title() for part in spec.entity.split("_")) + "Recognizer"
        super().__init__(supported_entities=[spec.entity], supported_language=supported_language, name=name)

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: Sequence[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if (entities and self.spec.entity not in entities) or not _DIGIT.search(text):
            return []  # every form has digits: most prose is ruled out in one scan
        found: dict[tuple[int, int], float] = {}
        for pattern, alone in self._forms:
            for match in pattern.finditer(text):
                span = (match.start(), match.end())
                score = self._score(text, match.group(), span, alone)
                if score > found.get(span, 0.0):
                    found[span] = score
        # a shorter form inside a longer one ("AB 12 34 56" in "AB 12 34 56 C") is the same value
        spans = [s for s in found if not any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in found)]
        return [
            scored_result(self, start, end, found[(start, end)], f"{self.spec.entity}: valid check")
            for start, end in sorted(spans)
        ]

    def _score(self, text: str, value: str, span: tuple[int, int], alone: float) -> float:
        compact = re.sub(r"[ .\-/]", "", value)
        if not self.spec.validate(compact.upper()):
            return 0.0
        start, end = span
        context = self._context.search(text, max(0, start - CONTEXT_BEFORE), start) or self._context.search(
            text[end : end + CONTEXT_AFTER]
        )
        if context:
            return self.spec.with_context
        if self.spec.lower_needs_context and not compact.isupper():
            return 0.0
        return alone


def national_id_recognizers(supported_language: str = "en") -> list[NationalIdRecognizer]:
    return [NationalIdRecognizer(spec, supported_language) for spec in SPECS]
