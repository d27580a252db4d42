"""International Bank Account Numbers (ISO 13616): country code, two check digits, a BBAN whose
length the IBAN registry fixes per country; mod-97 of the rearranged number is 1.

Presidio's IbanRecognizer matches a variable number of alphanumeric groups under an ignore-case
flag, so "ES91 2100 0418 4502 0005 1332 from" becomes one candidate that swallows "from", and the
checksum of the whole then fails: the IBAN leaks. Here the country's registered length decides
where the IBAN ends, before any checksum, so the next word is never part of it. Accepted forms are
the compact one and the printed one (groups of four separated by single spaces, or dashes), in
upper or lower case; the character after the last one must not be a letter or digit.

Lengths: SWIFT's IBAN Registry (ISO 13616), as published in its 2024/2025 releases.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from proxy.recognizers.results import scored_result

IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
    "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28,
    "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22,
    "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip

# Where an IBAN may start: a country code and two check digits, not glued to a preceding word.
_START = re.compile(r"(?<![\w])[A-Za-z]{2}\d{2}")
_SEPARATORS = (" ", "\u00a0", "-")
_EXPLANATION = "IBAN: registered length for its country, mod 97"


def iban_valid(iban: str) -> bool:
    """Compact, upper-case IBAN: registered length for its country and mod-97 == 1."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban.isascii() or not iban.isalnum():
        return False
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def iban_at(text: str, start: int) -> int | None:
    """End of the IBAN starting at `start`, compact or grouped in fours, or None.

    The length comes from the country code, so the scan stops exactly there."""
    length = IBAN_LENGTHS.get(text[start : start + 2].upper())
    if length is None:
        return None
    candidates = [(text[start : start + length], start + length)]
    sizes = [4] * (length // 4) + ([length % 4] if length % 4 else [])
    for separator in _SEPARATORS:
        groups, position = [], start
        for size in sizes:
            groups.append(text[position : position + size])
            position += size + len(separator)
        end = position - len(separator)
        if text[start:end] == separator.join(groups):
            candidates.append(("".join(groups), end))
    for compact, end in candidates:
        if len(compact) != length or (end < len(text) and text[end].isalnum()):
            continue
        if iban_valid(compact.upper()):
            return end
    return None


class IbanRecognizer(EntityRecognizer):
    """IBANs of every registered country, ended at their registered length, mod-97 checked."""

    ENTITY = "IBAN_CODE"
    SCORE = 0.95

    def __init__(self, supported_language: str = "en", name: str = "ConsentryIbanRecognizer") -> None:
        super().__init__(supported_entities=[self.ENTITY], supported_language=supported_language, name=name)

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: Sequence[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and self.ENTITY not in entities:
            return []
        results: list[RecognizerResult] = []
        position = 0
        while (match := _START.search(text, position)) is not None:
            end = iban_at(text, match.start())
            if end is None:
                position = match.start() + 1
                continue
            results.append(scored_result(self, match.start(), end, self.SCORE, _EXPLANATION))
            position = end
        return results
