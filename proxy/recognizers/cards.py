"""Payment card numbers (PAN): 12-19 digits, plain or grouped with spaces or dashes, whose issuer
prefix (IIN) allows that length and whose Luhn checksum holds.

Presidio's CreditCardRecognizer knows only the older prefixes and lengths (13-16 digits starting
with 3, 4, 5[0-5], 6 or 1): it misses Mastercard's 2-series, 19-digit Visa, 12-digit Maestro and
15-digit JCB. This recognizer covers all of those, so it replaces Presidio's. The checksum is where
precision comes from: one random digit string in ten passes Luhn, and the prefix/length table and
the "this is an order / tracking / IMEI number" context rule out most of those.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from proxy.recognizers.results import scored_result

# Issuer prefixes and the lengths each allows (ISO/IEC 7812 registrations as published by the
# networks). (first prefix, last prefix, lengths): the prefixes of one row share their length.
_IIN_TABLE: tuple[tuple[int, int, frozenset[int]], ...] = (
    (4, 4, frozenset({13, 16, 19})),  # Visa, Visa Electron
    (51, 55, frozenset({16})),  # Mastercard
    (2221, 2720, frozenset({16})),  # Mastercard 2-series
    (2200, 2204, frozenset(range(16, 20))),  # Mir
    (34, 34, frozenset({15})),  # American Express
    (37, 37, frozenset({15})),
    (300, 305, frozenset(range(14, 20))),  # Diners Club
    (3095, 3095, frozenset(range(14, 20))),
    (36, 36, frozenset(range(14, 20))),
    (38, 39, frozenset(range(14, 20))),
    (3528, 3589, frozenset(range(16, 20))),  # JCB
    (1800, 1800, frozenset({15})),  # JCB (15 digits)
    (2131, 2131, frozenset({15})),
    (1, 1, frozenset({15})),  # UATP
    (6011, 6011, frozenset(range(16, 20))),  # Discover
    (644, 649, frozenset(range(16, 20))),
    (65, 65, frozenset(range(16, 20))),  # Discover, RuPay, Troy
    (62, 62, frozenset(range(16, 20))),  # UnionPay
    (60, 60, frozenset(range(16, 20))),  # RuPay
    (81, 82, frozenset({16})),  # RuPay
    (50, 50, frozenset(range(12, 20))),  # Maestro and other debit schemes
    (56, 69, frozenset(range(12, 20))),  # Maestro (56-69), InstaPayment, InterPayment
    (604, 604, frozenset(range(12, 20))),  # legacy Maestro 0604 (leading zero kept below)
    (9792, 9792, frozenset({16})),  # Troy
)

# Runs of digits joined by single spaces or dashes, not glued to letters, '+' (phone numbers),
# or decimal/thousands separators (amounts).
_RUN = re.compile(r"(?<![\w+$€£.,/:-])\d+(?:[ -]\d+)*(?![\w]|[.,/:]\d)")
_GROUP = re.compile(r"\d+")

# A card number right after one of these words is something else (an order id, a parcel, a phone's
# IMEI, a book): the number is dropped unless card words are also close.
_NEGATIVE_BEFORE = re.compile(
    r"\b(?:order|invoice|tracking|shipment|parcel|package|consignment|awb|waybill|ticket|case|"
    r"ref|reference|confirmation|booking|reservation|transaction\s+id|serial|imei|meid|isbn|issn|sku|upc|"
    r"ean|gtin|barcode|po|account\s+id|customer\s+id|member\s+id|id)"
    r"\s*(?:#|no\.?|nr\.?|number|num|id|code)?\s*[:#.]?\s*$",
    re.IGNORECASE,
)
CARD_WORDS = re.compile(
    r"\b(?:cards?|credit|debit|visa|master\s?card|amex|american\s+express|discover|jcb|diners|maestro|"
    r"unionpay|rupay|mir|pan|cc|cvv|cvc|expir\w*|exp)\b",
    re.IGNORECASE,
)
CONTEXT_WINDOW = 60  # characters before a number in which card words count as context
MAX_CARD_DIGITS = 19  # ISO/IEC 7812: no card number is longer


def card_words_before(text: str, start: int) -> bool:
    """Card words within CONTEXT_WINDOW characters before `start`: the phone recognizer asks too,
    so both agree on whose a Luhn-valid number is."""
    return CARD_WORDS.search(text[max(0, start - CONTEXT_WINDOW) : start]) is not None


_EXPLANATION = "Issuer prefix and length of a payment card, Luhn checksum valid"


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) checksum every payment card number carries in its last digit."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def issuer_allows(digits: str) -> bool:
    """True if some card network issues numbers with this prefix at this length."""
    length = len(digits)
    if digits.startswith("0"):  # only the legacy Maestro range starts with a zero
        return digits.startswith("0604") and 12 <= length <= 19
    for low, high, lengths in _IIN_TABLE:
        width = len(str(low))
        if low <= int(digits[:width]) <= high and length in lengths:
            return True
    return False


def is_card_number(digits: str) -> bool:
    return 12 <= len(digits) <= MAX_CARD_DIGITS and issuer_allows(digits) and luhn_valid(digits)


def _luhn_length_ok(digits: str) -> bool:
    return 12 <= len(digits) <= MAX_CARD_DIGITS and not digits.startswith("0") and luhn_valid(digits)


class CardNumberRecognizer(EntityRecognizer):
    """Luhn-validated payment card numbers of every current issuer prefix and length."""

    ENTITY = "CREDIT_CARD"
    # Scores: a valid 13-19 digit number is a card on its own; 12 digits (Maestro only) collide
    # with too many other ids to mask without card words nearby.
    SCORE_VALID = 0.8
    SCORE_SHORT = 0.3
    SCORE_CONTEXT = 1.0
    SCORE_UNKNOWN_ISSUER = 0.6  # Luhn-valid, card words nearby, prefix not in the table

    def __init__(self, supported_language: str = "en", name: str = "ConsentryCardNumberRecognizer") -> None:
        super().__init__(supported_entities=[self.ENTITY], supported_language=supported_language, name=name)

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: Sequence[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and self.ENTITY not in entities:
            return []
        results: list[RecognizerResult] = []
        for run in _RUN.finditer(text):
            if sum(c.isdigit() for c in run.group()) < 12:
                continue
            found = self._card_in_run(run.start(), run.group(), lenient=card_words_before(text, run.start()))
            if found is None:
                continue
            start, end, digits = found
            score = self._score(text, start, digits)
            if score > 0:
                results.append(scored_result(self, start, end, score, _EXPLANATION))
        return results

    @staticmethod
    def _card_in_run(offset: int, run: str, lenient: bool) -> tuple[int, int, str] | None:
        """The longest card number in a run of digit groups: the whole run, or the run without
        leading or trailing groups (a card number followed by an expiry year, say). `lenient`
        (card words nearby) also accepts issuer prefixes missing from the table: networks add
        ranges faster than any table follows.

        Only windows of at most MAX_CARD_DIGITS digits are tried, from either end of the run, so a
        run of thousands of groups ("1 1 1 ...") costs as little as a short one."""
        groups = [(m.start(), m.end()) for m in _GROUP.finditer(run)]
        separators = {run[groups[i][1]] for i in range(len(groups) - 1)}
        if len(separators) > 1:  # "4111-1111 1111-1111" is not how anyone writes a card
            return None
        best: tuple[int, int, str] | None = None
        last_index = len(groups) - 1
        # Prefixes (first group fixed) and suffixes (last group fixed); inner windows are chance matches.
        for anchored_first in (True, False):
            digits = ""
            for step in range(len(groups)):
                index = step if anchored_first else last_index - step
                start, end = groups[index]
                digits = digits + run[start:end] if anchored_first else run[start:end] + digits
                if len(digits) > MAX_CARD_DIGITS:
                    break
                if not (is_card_number(digits) or (lenient and _luhn_length_ok(digits))):
                    continue
                if best is None or len(digits) > len(best[2]):
                    first, last = (0, index) if anchored_first else (index, last_index)
                    best = (offset + groups[first][0], offset + groups[last][1], digits)
        return best

    def _score(self, text: str, start: int, digits: str) -> float:
        before = text[max(0, start - CONTEXT_WINDOW) : start]
        card_words = card_words_before(text, start)
        if _NEGATIVE_BEFORE.search(before) and not CARD_WORDS.search(before[-25:]):
            return 0.0
        if card_words:
            return self.SCORE_CONTEXT if issuer_allows(digits) else self.SCORE_UNKNOWN_ISSUER
        return self.SCORE_SHORT if len(digits) < 13 else self.SCORE_VALID
