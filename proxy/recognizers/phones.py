"""Phone numbers in international and national formats.

Presidio's PhoneRecognizer runs phonenumbers' matcher per region and keeps only numbers valid in
one of a handful of regions: it misses most national formats of other countries (Swiss, Nordic,
Dutch...), numbers written with a "(0)" trunk hint, and numbers whose only evidence is the word
"phone" next to them. Validity alone is a weak signal anyway: with a dozen regions almost any 8-11
digit string is valid somewhere (German numbering accepts nearly everything). So this recognizer
scores the *shape* of a candidate (international prefix, area code in parentheses, trunk zero,
North-American grouping, extension), uses phonenumbers to validate international numbers and to
keep Presidio's "valid in a configured region" floor, and lets context decide the weak shapes:
phone words before ("phone", "call", "fax", "reach me at") or labels after ("... office", "-Fax").

Hard negatives are ruled out by shape or by the word right before the number: dates and
timestamps, IP addresses, versions, amounts, ISBNs, order/tracking/invoice/ticket numbers, house
numbers after "Address:". This recognizer subsumes Presidio's PhoneRecognizer and replaces it.

Regions: every EU member state and the other large plans (DEFAULT_REGIONS). Trying phonenumbers'
matcher in ~40 regions would cost more than the whole rest of detection, so it runs only for
national-format numbers (an international number is judged once, for its own country) and only
in the regions whose numbering plan (length and leading digits from phonenumbers' metadata, after
the trunk prefix or country code) admits the digits: most regions are ruled out by a regex.
Context words are English plus German, French, Spanish, Italian, Dutch and Polish.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import phonenumbers
from phonenumbers import Leniency, NumberParseException, PhoneNumberMatcher
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from proxy.recognizers.cards import card_words_before, is_card_number
from proxy.recognizers.results import scored_result

# Regions whose national formats count as evidence (configurable per instance): every EU member
# state, the UK, Switzerland, Norway, North America, India, Australia, Brazil and Japan, plus
# Presidio's own list (NZ, MX, IL). Most frequent first: the check stops at the first region.
DEFAULT_REGIONS: tuple[str, ...] = (
    "US", "CA", "GB", "IE", "DE", "AT", "CH", "FR", "BE", "NL", "LU", "IT", "ES", "PT", "PL",
    "SE", "DK", "FI", "NO", "CZ", "SK", "HU", "RO", "BG", "GR", "HR", "SI", "EE", "LV", "LT",
    "CY", "MT", "AU", "NZ", "IN", "BR", "JP", "MX", "IL",
)  # fmt: skip

# Texts pasted from JSON or logs carry line breaks as the two characters "\n": treat them as breaks
# (same length, so offsets stay valid) or "Phone:\n070 ..." would read as the word "n070".
_ESCAPED_BREAK = re.compile(r"\\[nrt]")

# A candidate: optional international prefix (also in parentheses, "(+49)"), optional "(0)" trunk
# hint, an optional area code in parentheses, then digit groups joined by single spaces, dots or
# dashes, or by a slash or dash with spaces around ("030 / 1234 5678", "0176 - 234 567 89");
# optional extension.
# Not glued to words, to other numbers (decimals, dates, times, IPs) or to currency signs.
_CANDIDATE = re.compile(
    r"""
    (?<![\w+@#$€£¥%&=/])(?<!\d[.,:\-])
    (?P<number>
      (?P<intl>(?:\+|\b00)[1-9]\d{0,2}[ .\-]?|\(\+[1-9]\d{0,2}\)[ .\-]?)?
      (?:\(0\)[ .\-]?)?
      (?:\(\d{1,5}\)[ .\-]?)?
      \d{1,15}(?:(?:[ .\-]|[ ]?[/\-\u2013][ ]?)\d{1,10}){0,6}
    )
    (?P<ext>[ ]?(?:x|ext\.?|extension)[ ]?\d{1,6})?
    (?![\w]|[.,:/\-]\d)
    """,
    re.VERBOSE | re.IGNORECASE,
)

# Shapes that make a number a phone number on its own.
_NANP = re.compile(r"^(?:\+?1[ .\-]?)?(?:\(\d{3}\)[ .\-]?|\d{3}[.\-])\d{3}[.\-]\d{4}$")
_AREA_CODE = re.compile(r"^\(\d{1,5}\)")
_TRUNK_GROUPED = re.compile(r"^0\d{1,5}[ .\-]\d")
_DASH_GROUPS = re.compile(r"^\d{2,4}(?:-\d{2,4}){2,5}$")
_DOT_GROUPS = re.compile(r"^\d{2,4}(?:\.\d{2,4}){2,5}$")

# Shapes of things that are not phone numbers.
_DATE = re.compile(r"^(?:\d{4}([.\-/])\d{1,2}\1\d{1,2}|\d{1,2}([.\-/])\d{1,2}\2\d{2,4})$")
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_THOUSANDS = re.compile(r"^\d{1,3}(?:[ .]\d{3})+$")
# A slash or a spaced dash between groups: after an area code with its trunk zero or an
# international prefix ("030 / 1234 5678"); otherwise ("347/1234567", an Italian mobile) only with
# phone words nearby, so ranges and ratios ("2019 - 2023", "1920/1080") stay readable.
_WIDE_SEPARATOR = re.compile(r"/| [\-\u2013]|[\-\u2013] |\u2013")



_SPACED_DIGITS = re.compile(r"(?<![\w.,])(?:\+[ ]?)?\d(?:[ ]\d){8,14}(?![\w.,]\d|[ ]\d)")


def _parts(text: str, match: re.Match[str]) -> list[re.Match[str]]:
    """The candidates between the wide separators of a joined candidate."""
    start = match.start("number")
    bounds = [start]
    for sep in _WIDE_SEPARATOR.finditer(match.group("number")):
        bounds += [start + sep.start(), start + sep.end()]
    bounds.append(match.end("number"))
    parts = []
    for lo, hi in zip(bounds[::2], bounds[1::2], strict=True):
        while lo < hi and text[lo] == " ":
            lo += 1
        while hi > lo and text[hi - 1] == " ":
            hi -= 1
        part = _CANDIDATE.match(text, lo, hi)
        if part is not None and part.end() == hi:
            parts.append(part)
    return parts


_CONTEXT_BEFORE = re.compile(
    r"\b(?:phone|telephone|tel|ph|mobile|mob|cell|cellphone|handy|fax|call|calls|calling|ring|dial|"
    r"text|texts|sms|whatsapp|viber|message|messages|contact|reach|reachable|number|hotline|helpline|"
    r"landline|voicemail|desk|office|direct|home|work|answering|answer|pager|"
    # de, fr, es, it, nl, pl, with their inflections ("numerem", "richiamarmi", "bereiken")
    r"telefon\w*|ruf\w*|anruf\w*|r[üu]ckruf\w*|zur[üu]ckruf\w*|handy\w*|mobil\w*|festnetz\w*|durchwahl|"
    r"erreich\w*|kontakt\w*|"
    r"t[ée]l[ée]phon\w*|portable|num[ée]ro|r?appel\w*|joindre|joignable|fixe|contact\w*|"
    r"tel[ée]fono|m[óo]vil|celular|llam\w*|n[úu]mero|"
    r"cellulare|cell|(?:ri)?chiam\w*|contatt\w*|recapito|"
    r"telefoon\w*|mobiel\w*|bel|bellen|belt|terugbellen|opbellen|gebeld|bereik\w*|nummer|"
    r"kom[óo]rk\w*|numer\w*|zadzwo\w*|dzwo\w*)\b"
    r"|\b[tmfp]\s*[:.]\s*$",
    re.IGNORECASE,
)
_LABEL_AFTER = re.compile(
    r"^\s*[-\u2013(,/]?\s*\(?(?:office|fax|mobile|mob|cell|home|work|tel|phone|direct|landline|main|desk|"
    r"mobil|handy|privat|b[üu]ro|festnetz|portable|fixe|m[óo]vil|cellulare|mobiel|kom[óo]rka)\b",
    re.IGNORECASE,
)
# Right before the number (nothing but "#", "no.", ":" in between): an id of another kind.
_NEGATIVE_BEFORE = re.compile(
    r"\b(?:order|orders|invoice|tracking|shipment|parcel|package|consignment|waybill|ticket|case|ref|"
    r"reference|confirmation|booking|reservation|transaction|serial|imei|isbn|issn|sku|upc|ean|barcode|"
    r"version|ver|v|release|build|rev|revision|patch|id|pid|uid|pin|otp|account|acct|iban|"
    r"address|addr|apt|apartment|suite|unit|box|floor|room|zip|postcode|postal|plz|cap|cp|"
    r"flight|seat|gate|page|pages|chapter|line|lines|row|rows|port|year|years|amount|total|price|"
    r"balance|cost|usd|eur|gbp|chf|"
    # the same ids in de, fr, es, it, nl, pl ("Bestellnummer", "n° de commande": see the suffixes)
    r"bestell|bestellung|rechnungs?|auftrags?|kunden|vorgangs?|sendungs?|artikel|steuer|versicherungs|"
    r"vertrags?|konto|commande|facture|pedido|factura|ordine|fattura|bestelling|factuur|"
    r"zam[óo]wieni[ae]|faktur[ay])"
    r"-?\s*(?:#|no\.?|nr\.?|number|num|id|code|nummer|num[ée]ro|n[úu]mero|numer|n[°º])?\s*[:#.=]?\s*$",
    re.IGNORECASE,
)
_UNIT_AFTER = re.compile(
    r"^\s*(?:%|€|\$|£|usd|eur|gbp|chf|dollars?|euros?|pounds?|ms|s|sec|seconds|km|kg|mb|gb|kb|bytes|"
    r"users|items|rows|times|people|units|pcs|z[łl]|pln|czk|huf|sek|nok|dkk|ron|bgn|kr|k[čc]|ft|lei)(?!\w)",
    re.IGNORECASE,
)
_WORD_AFTER = re.compile(r"^[ ]\w")

CONTEXT_WINDOW = 48  # characters before a number where phone words count
MAX_REGION_CHECKS = 256  # region validations per text (see _valid_in_region)
LABEL_WINDOW = 16  # characters after a number where a label ("office", "-Fax") counts


class PhoneNumberRecognizer(EntityRecognizer):
    """International and national phone numbers: shape, phonenumbers validation and context."""

    ENTITY = "PHONE_NUMBER"
    SCORE_INTERNATIONAL_VALID = 0.75
    SCORE_INTERNATIONAL_POSSIBLE = 0.6
    SCORE_NANP = 0.6
    SCORE_AREA_CODE = 0.5
    SCORE_TRUNK = 0.45
    SCORE_GROUPED = 0.45
    SCORE_VALID_IN_REGION = 0.4  # what Presidio's PhoneRecognizer gives a valid number
    SCORE_WEAK = 0.2  # bare digits or space-separated groups: a phone only with context
    CONTEXT_BOOST = 0.4
    FOLLOWED_BY_WORD_PENALTY = 0.2  # "6561 2103 Venture Place" is a house number

    def __init__(
        self,
        regions: Iterable[str] = DEFAULT_REGIONS,
        leniency: Leniency = Leniency.VALID,
        supported_language: str = "en",
        name: str = "ConsentryPhoneNumberRecognizer",
    ) -> None:
        self.regions = tuple(regions)
        self.leniency = leniency
        self._plans = {region: _NationalPlan.of(region) for region in self.regions}
        super().__init__(supported_entities=[self.ENTITY], supported_language=supported_language, name=name)

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: Sequence[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if entities and self.ENTITY not in entities:
            return []
        scan = _ESCAPED_BREAK.sub(lambda m: " \n", text) if "\\" in text else text
        results: list[RecognizerResult] = []
        # Region validity per distinct number, for this call only (no number outlives its request):
        # texts repeat numbers, and a text of thousands of equal digit groups must not cost
        # thousands of validations.
        validity: dict[str, bool] = {}
        for match in _CANDIDATE.finditer(scan):
            result = self._judge(scan, match, validity)
            if result is None and _WIDE_SEPARATOR.search(match.group("number")):
                # "0151 496 0000 / 07700 900123": two numbers the candidate joined; each on its own
                parts = (self._judge(scan, part, validity) for part in _parts(scan, match))
                results.extend(r for r in parts if r is not None)
            elif result is not None:
                results.append(result)
        results.extend(self._spaced_digits(scan))
        return results

    def _spaced_digits(self, scan: str) -> list[RecognizerResult]:
        """A number typed digit by digit ("0 6 1 2 3 4 5 6 7 8"): longer than any candidate's
        groups, so judged apart; a phone when a phone word precedes it or it starts with 0 or +."""
        out = []
        for match in _SPACED_DIGITS.finditer(scan):
            # a candidate took its first groups already: this span covers the rest (spans merge)
            line = scan[max(0, match.start() - CONTEXT_WINDOW) : match.start()].split("\n")[-1]
            if _CONTEXT_BEFORE.search(line):
                score = self.SCORE_GROUPED + self.CONTEXT_BOOST
            elif match.group().startswith("+") or (match.group().startswith("0") and match.group()[2] != "0"):
                score = self.SCORE_GROUPED
            else:
                continue
            out.append(scored_result(self, match.start(), match.end(), score, "Phone number: spaced digits"))
        return out

    def _judge(self, scan: str, match: re.Match[str], validity: dict[str, bool]) -> RecognizerResult | None:
        number = match.group("number")
        digits = sum(c.isdigit() for c in number)
        if not 7 <= digits <= 15 or not self._plausible(number):
            return None
        score, why = self._score(scan, match, number, validity)
        if score <= 0:
            return None
        return scored_result(self, match.start(), match.end(), score, f"Phone number: {why}")

    @staticmethod
    def _plausible(number: str) -> bool:
        core = number.strip()
        if _DATE.match(core) or _IPV4.match(core):
            return False
        if core.count("/") > 1:
            return False
        # "(0)" and one area code at most, parentheses only around digits
        return core.count("(") == core.count(")") <= 2

    def _score(
        self, text: str, match: re.Match[str], number: str, validity: dict[str, bool]
    ) -> tuple[float, str]:
        start, end = match.start(), match.end()
        before = text[max(0, start - CONTEXT_WINDOW) : start]
        after = text[end : end + LABEL_WINDOW]
        if _NEGATIVE_BEFORE.search(before) or _UNIT_AFTER.match(after):
            return 0.0, ""
        # phone words on the number's line, or on the line above if the number starts its line
        # ("Phone:\n070 ..."): the last line before the number that is not blank
        lines = before.split("\n")
        while len(lines) > 1 and not lines[-1].strip():
            lines.pop()
        near = lines[-1]
        context = bool(_CONTEXT_BEFORE.search(near)) or bool(_LABEL_AFTER.match(after))

        international = match.group("intl") is not None
        if not context and _WIDE_SEPARATOR.search(number) and not number.startswith(("+", "0", "(")):
            return 0.0, ""
        # a Luhn-valid card number is the card recognizer's, unless only phone words surround it
        if (
            not international
            and is_card_number("".join(c for c in number if c.isdigit()))
            and (card_words_before(text, start) or not context)
        ):
            return 0.0, ""
        base, why = self._shape_score(number, international)
        # an international number was already judged for its own country: no region can add to that
        weak = base < self.SCORE_VALID_IN_REGION
        if weak and not context and number.isdigit() and len(number) <= 9 and not number.startswith("0"):
            # A short unbroken run of digits with no phone word near it is an id, a count or an
            # amount far more often than a phone number (a national number without its trunk 0
            # is short; 10-digit runs stay: North-American and Indian mobiles are written so).
            # With 39 regions almost every such run is valid somewhere: validity proves nothing.
            return 0.0, ""
        if weak and not international and self._valid_in_region(number, validity):
            base, why = self.SCORE_VALID_IN_REGION, "valid national number"
        if context:
            return min(1.0, base + self.CONTEXT_BOOST), why + " with phone context"
        if _THOUSANDS.match(number) and not number.startswith("0"):
            base = min(base, self.SCORE_WEAK)  # "1 234 567" reads as an amount without context
        if _WORD_AFTER.match(after) and not international:
            base -= self.FOLLOWED_BY_WORD_PENALTY
        return base, why

    def _shape_score(self, number: str, international: bool) -> tuple[float, str]:
        core = number.strip()
        if international:
            parsed = _parse(re.sub(r"^00", "+", core), None)
            if parsed is not None and phonenumbers.is_valid_number(parsed):
                return self.SCORE_INTERNATIONAL_VALID, "valid international number"
            if parsed is not None and phonenumbers.is_possible_number(parsed):
                return self.SCORE_INTERNATIONAL_POSSIBLE, "possible international number"
            return self.SCORE_WEAK, "international prefix"
        if _NANP.match(core):
            return self.SCORE_NANP, "North-American grouping"
        if _AREA_CODE.match(core):
            return self.SCORE_AREA_CODE, "area code in parentheses"
        if _TRUNK_GROUPED.match(core):
            return self.SCORE_TRUNK, "national number with trunk prefix"
        if _DASH_GROUPS.match(core) or _DOT_GROUPS.match(core):
            return self.SCORE_GROUPED, "grouped digits"
        return self.SCORE_WEAK, "digits"

    def _valid_in_region(self, number: str, validity: dict[str, bool]) -> bool:
        """phonenumbers' matcher at the configured leniency finds the whole number in a region.

        A check costs about a millisecond (every region is tried), so one text gets at most
        MAX_REGION_CHECKS of them; past that a weak number counts as valid somewhere, which is
        what most digit strings are, and errs towards masking (fail closed)."""
        known = validity.get(number)
        if known is None:
            if len(validity) >= MAX_REGION_CHECKS:
                return True
            known = validity[number] = self._whole_number_valid(number)
        return known

    def _whole_number_valid(self, number: str) -> bool:
        digit_string = "".join(c for c in number if c.isdigit())
        digits = len(digit_string)
        for region in self.regions:
            if not self._plans[region].may_be_valid(digit_string):
                continue
            # One try: the whole number is the matcher's first candidate or nowhere; the shorter
            # numbers it would go on to try inside it can never hold all the digits.
            for found in PhoneNumberMatcher(number, region, leniency=self.leniency, max_tries=1):
                if sum(c.isdigit() for c in found.raw_string) == digits:
                    return True
        return False


class _NationalPlan:
    """A region's numbering plan, reduced to a cheap necessary condition for validity: the digits,
    without the national (trunk) prefix or the country code where one is dialled, have a length and
    leading digits the plan allows. Rules out most regions before phonenumbers' matcher (the costly
    part) runs."""

    def __init__(
        self,
        national_prefix: re.Pattern[str] | None,
        international_prefix: re.Pattern[str] | None,
        lengths: frozenset[int],
        pattern: re.Pattern[str] | None,
        country_code: str = "",
    ) -> None:
        self.country_code = country_code
        self.national_prefix = national_prefix
        self.international_prefix = international_prefix
        self.lengths = lengths
        self.pattern = pattern

    @classmethod
    def of(cls, region: str) -> _NationalPlan:
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if meta is None or meta.general_desc is None:
            return cls(None, None, frozenset(), None)  # unknown region: never filtered out
        prefix = meta.national_prefix_for_parsing or meta.national_prefix
        general = meta.general_desc
        return cls(
            re.compile(prefix) if prefix else None,
            re.compile(meta.international_prefix) if meta.international_prefix else None,
            frozenset(general.possible_length or ()),
            re.compile(general.national_number_pattern) if general.national_number_pattern else None,
            str(meta.country_code or ""),
        )

    def may_be_valid(self, digits: str) -> bool:
        if self.pattern is None:
            return True
        if self.international_prefix is not None and self.international_prefix.match(digits):
            return True  # dialled from this region to another: the matcher decides
        candidates = [digits]
        found = self.national_prefix.match(digits) if self.national_prefix is not None else None
        if found is not None:
            candidates.append(digits[found.end() :])
            candidates.extend(group for group in found.groups() if group)  # carrier-code forms (BR)
        if self.country_code and digits.startswith(self.country_code):  # "44 7700 ..." without its "+"
            candidates.append(digits[len(self.country_code) :])
        return any(len(c) in self.lengths and self.pattern.fullmatch(c) for c in candidates)


def _parse(number: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(number, region)
    except NumberParseException:
        return None
