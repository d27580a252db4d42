"""Which of spaCy's dates, places and nationalities are worth a mask.

DATE_TIME, LOCATION and NRP are quasi-identifiers: none names a person alone, together with other
facts they can (a birth date, a home town). spaCy's small model tags much that is neither in
technical text: durations ("250ms", "every 10 seconds", a pod age "5d"), versions ("3.11.7",
"Python 3.12"), times of day, numbers in tables, formulas, log timestamps; identifiers as places
("product_id", "CrashLoopBackOff"). Masking those changes the code the model sees and protects no
one, so `keep_ner_span` drops

- for every type: spans that are code tokens (`code_context.inside_identifier`);
- DATE_TIME: durations and frequencies, versions ("Node 16", a date next to "2.1.0" on a
  changelog line), times of day, periods ("month", "March", "Saturday", "spring"), machine
  timestamps (a date with a time to the second: no one's birth date is written that way);
- LOCATION/NRP: technical acronyms spaCy reads as places ("CI", "GB"), time zones
  ("Europe/Berlin", "Central European Time");
- in code (`code_context.in_code`) a quasi-identifier needs evidence: a date needs a birth-date
  word before it on its line ("dob", "born", "birthday"), a place a quoted string or a
  preposition ("in", "from", "near") before it. A date of birth in a fixture, a city in a string
  literal stay masked; a timestamp in a log line does not. Bare numbers in prose stay as spaCy
  tags them: digit groups there are as often a phone number or a postcode ("89 97 11").
"""

from __future__ import annotations

import re

from proxy.recognizers.code_context import in_code, in_data, inside_identifier, line_of

_UNITS = (
    r"(?:ns|µs|us|ms|s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|"
    r"d|day|days|w|wk|wks|week|weeks)"
)
_AMOUNT = r"\d+(?:[.,]\d+)?(?:\s*(?:-|\u2013|to)\s*\d+(?:[.,]\d+)?)?"  # "5", "2.5", "6-8", "6 to 8"
_UNIT_AFTER = re.compile(rf"\s*{_UNITS}(?![^\W\d_])")
# "250ms", "1h30m", "5 minutes", "30 days'", "2m ago", "every 10 seconds", "about 90 seconds".
_DURATION = re.compile(
    rf"(?:(?:about|around|roughly|approx\.?|~|over|under|within|after|for|every|each|per|the|last|"
    rf"next|another|a|an|few|several|couple|of|some|this|that)\s+)*"
    rf"(?:(?:{_AMOUNT}|a|an|few|several|couple\s+of|some)\s*{_UNITS}(?![^\W\d_])\s*)+"
    rf"(?:ago|later|long)?",
    re.IGNORECASE,
)
_VAGUE_DURATION = re.compile(
    rf"(?:(?:this|that|every|each|a|an|few|several|couple|of|some|the|last|next|per|other)\s+)+{_UNITS}",
    re.IGNORECASE,
)
# "month", "each year", "the weekend", "monthly": a period, not a date.
_GENERIC_PERIOD = re.compile(
    r"(?:(?:the|a|an|each|every|per|this|that|one|same|whole|entire|full|calendar|fiscal)\s+)*"
    r"(?:(?:day|week|month|quarter|year|hour|minute|second|weekend|weekday|night|morning|afternoon|evening)s?"
    r"|daily|weekly|monthly|quarterly|yearly|annually|annual|hourly|nightly|spring|summer|autumn|fall|winter"
    r"|(?:(?:on|every|next|last|this)\s+)?(?:mon|tues|wednes|thurs|fri|satur|sun)days?"
    r"|(?:(?:in|of|during|early|late|mid|this|next|last|every)[\s-]+)+"
    r"(?:january|february|march|april|may|june|july|august|september|october|november|december))",
    re.IGNORECASE,
)
_MONTH_AFTER_PREPOSITION = re.compile(
    r"\b(?:in|of|during|since|until|till|by|from|through|early|late|mid)[\s-]+$", re.IGNORECASE
)
_MONTHS_AND_DAYS = (
    "jan feb mar apr may jun jul aug sep sept oct nov dec january february march april june july august "
    "september october november december monday tuesday wednesday thursday friday saturday sunday"
)
# "Node 16", "Java 17", "Python 3": a product and its major version, not a date.
_MAJOR_VERSION = re.compile(r"(?P<word>[A-Z][\w.+#-]*)\s+v?\d{1,3}")
# A version on the same line makes a date a release date: "## [2.1.0] - 2024-03-12".
_SEMVER = re.compile(r"(?<![\w.])v?\d{1,3}\.\d{1,3}\.\d{1,4}(?![\w.]|\.\d)")
_VERSION = re.compile(r"(?:[A-Za-z][\w.+-]*\s+)?v?\d+(?:\.\d+){1,3}(?:[-+]?[\w.]+)?\+?", re.IGNORECASE)
# "12.03.1984", "1.2.84": a day, a month and a year, which a version number rarely is.
_DOTTED_DATE = re.compile(r"(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])\.(?:\d{2}|\d{4})")
# "12.03" is a day and a month after "am" or "on", a version after "Python" or "v".
_DAY_MONTH = re.compile(r"(?:0?[1-9]|[12]\d|3[01])\.(?:0?[1-9]|1[0-2])")
_DATE_PREPOSITIONS = frozenset(str.split("on am vom bis ab seit until till by from since le du au el il den"))
_AM_PM = r"[aApP]\.?[mM]\.?"
_TIME_OF_DAY = re.compile(
    rf"(?:[Aa]t\s+|[Aa]round\s+|[Aa]bout\s+)?(?:\d{{1,2}}(?::\d{{2}}){{1,2}}(?:[.,]\d+)?\s*(?:{_AM_PM})?"
    rf"|\d{{1,2}}\s*{_AM_PM}|noon|midnight)(?:\s+(?:[A-Z]{{2,5}}|[A-Z][a-z]+|server|local|time|o'clock))*"
)
# Numbers in table cells (in prose, "89 97 11" may be a phone number spaCy happened to cover).
_TABLE_NUMBERS = re.compile(r"[\d.,]+(?:\s+[\d.,]+)*")
# Words spaCy leaves at the end of a span: "02:00 to".
_TRAILING_WORD = re.compile(r"\s+(?:to|and|or|until|till|through|from|-|\u2013)$", re.IGNORECASE)
# A calendar date with a time to the second: "2024-03-12T14:22:01Z", "2024/05/02 09:14:33".
_MACHINE_TIMESTAMP = re.compile(r"\d{4}[-/.]\d{2}[-/.]\d{2}[T ]\d{2}:\d{2}:\d{2}")
_BIRTH_WORDS = re.compile(r"\b(?:dob|d\.o\.b|born|birth|birthday|birthdate|date_of_birth|geb)", re.IGNORECASE)
_PLACE_PREPOSITION = re.compile(
    r"\b(?:in|at|from|to|near|of|via|into|towards?)\s+(?:the\s+)?$", re.IGNORECASE
)
# Acronyms of computing that spaCy tags as places or nationalities.
TECH_ACRONYMS = frozenset(
    str.split(
        """
    ci cd cicd api apis sdk cli gui ui ux db os vm vms pr prs qa ide jvm jdk cpu gpu ram ssd hdd io
    dns tls ssl http https tcp udp ssh ftp sql orm cdn vpn lan wan k8s aws gcp gb mb kb tb gib mib
    kib tib gbps mbps oom tty env ttl sla slo rpc grpc json yaml toml xml csv html css dom npm
    """
    )
)
# IANA time-zone names ("Europe/Berlin") and zone names ("Central European Time"): a clock setting.
_TIME_ZONE = re.compile(
    r"(?:Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)/[\w/+-]+"
)
_ZONE_NAME = re.compile(r".*\b(?:Standard|Daylight|Summer)?\s*Time$")
_IN_QUOTES = re.compile(r"""(["'])[^"'\n]*$""")


def keep_ner_span(text: str, start: int, end: int, entity: str) -> bool:
    """Whether a spaCy DATE_TIME, LOCATION or NRP span is worth masking (see the module doc)."""
    span = text[start:end]
    if not span.strip() or inside_identifier(text, start, end):
        return False
    if entity == "DATE_TIME":
        return _keep_date_time(text, start, end, span.strip(" \t\n'\":,;"))
    if entity in ("LOCATION", "NRP"):
        return _keep_place(text, start, end, span.strip())
    return True


def _keep_date_time(text: str, start: int, end: int, span: str) -> bool:
    if "\n" in text[start:end].strip():
        # a span across lines ("0  1840211\n\nPartition 1") is judged line by line
        parts = [m for m in re.finditer(r"[^\n]+", text[start:end]) if m.group().strip()]
        return any(keep_ner_span(text, start + m.start(), start + m.end(), "DATE_TIME") for m in parts)
    span = _TRAILING_WORD.sub("", span)
    if not span or _MACHINE_TIMESTAMP.search(span):
        return False
    if _TABLE_NUMBERS.fullmatch(span) and in_data(text, start, end):
        return False  # numbers in the columns of a table, not a date
    for shape in (_DURATION, _VAGUE_DURATION, _TIME_OF_DAY, _GENERIC_PERIOD):
        if shape.fullmatch(span):
            return False
    # a month on its own after a preposition: "every row in March" (not "thx april": a name)
    before = text[max(0, start - 12) : start]
    if _MONTH_AFTER_PREPOSITION.search(before) and _GENERIC_PERIOD.fullmatch("in " + span):
        return False
    if _version(span):
        return False
    major = _MAJOR_VERSION.fullmatch(span)
    if major and major.group("word").casefold() not in _MONTHS_AND_DAYS.split():
        return False
    if span.isdigit() and _UNIT_AFTER.match(text, end):
        return False  # "in 18342 ms": spaCy took the number without its unit
    versions = _SEMVER.finditer(line_of(text, start))
    if any(not _DOTTED_DATE.fullmatch(v.group().lstrip("vV")) for v in versions):
        return False
    if in_code(text, start, end):
        before = line_of(text, start)[: start - (text.rfind("\n", 0, start) + 1)]
        return _BIRTH_WORDS.search(before) is not None
    return True


def _version(span: str) -> bool:
    """ "3.11.7", "v2.3", "Python 3.12"; not "12.03.1984" or "am 12.03"."""
    if not _VERSION.fullmatch(span):
        return False
    words = span.split()
    number = words[-1].lstrip("vV").rstrip("+")
    if _DOTTED_DATE.fullmatch(number):
        return False
    if _DAY_MONTH.fullmatch(number) and words[-1][:1] not in "vV":
        word = words[0] if len(words) > 1 else ""
        return word[:1].isupper() and word.casefold() not in _DATE_PREPOSITIONS
    return True


def _keep_place(text: str, start: int, end: int, span: str) -> bool:
    if span.casefold() in TECH_ACRONYMS or _ZONE_NAME.fullmatch(span):
        return False
    zone_start = max(0, text.rfind("\n", 0, start) + 1, start - 12)
    if any(m.start() <= start and end <= m.end() for m in _TIME_ZONE.finditer(text, zone_start, end + 40)):
        return False
    if in_code(text, start, end):
        line_start = text.rfind("\n", 0, start) + 1
        before = text[line_start:start]
        return bool(_PLACE_PREPOSITION.search(before) or _IN_QUOTES.search(before))
    return True
