"""National ids that Faker lacks or gets wrong, built from their published layouts and checksums.

Faker (it_IT ssn, fr_FR ssn, es_ES nif/nie, nl_NL ssn, pl_PL pesel) is used as-is where its values
pass the checks in `checks.py`. Faker 40's en_IN `aadhaar_id` does not carry a Verhoeff check digit
and en_GB `ssn` only issues the unused `ZZ` prefix, so those two are built here, as are the German
Steuer-ID and Rentenversicherungsnummer and the Indian PAN, which Faker does not have.
"""

from __future__ import annotations

import random
import string
from datetime import date

from benchmarks.pii_sets import checks
from benchmarks.pii_sets.common import ascii_fold

_NINO_FIRST = "ABCEGHJKLMNOPRSTWXYZ"
_NINO_SECOND = "ABCEGHJKLMNPRSTWXYZ"


def de_tax_id(rng: random.Random) -> str:
    # the 2016 rule: in the first ten digits exactly one digit appears twice, one digit not at all
    while True:
        digits = rng.sample(string.digits, 9)
        digits.append(rng.choice(digits))
        rng.shuffle(digits)
        if digits[0] != "0":
            body = "".join(digits)
            return body + str(checks.de_tax_id_check(body))


def de_pension_number(rng: random.Random, surname: str, born: date) -> str:
    area = rng.choice(
        [
            "02",
            "03",
            "04",
            "08",
            "09",
            "10",
            "12",
            "13",
            "15",
            "17",
            "18",
            "23",
            "24",
            "25",
            "26",
            "28",
            "29",
            "38",
            "39",
            "40",
            "42",
            "53",
            "65",
            "66",
            "80",
            "89",
        ]
    )
    initial = ascii_fold(surname)[:1].upper() or "A"
    body = f"{area}{born:%d%m%y}{initial}{rng.randint(0, 99):02d}"
    return body + str(checks.de_pension_number_check(body))


def uk_nino(rng: random.Random) -> str:
    while True:
        prefix = rng.choice(_NINO_FIRST) + rng.choice(_NINO_SECOND)
        if prefix not in checks._NINO_BAD_PAIRS:
            return prefix + "".join(rng.choices(string.digits, k=6)) + rng.choice("ABCD")


def in_aadhaar(rng: random.Random) -> str:
    body = rng.choice("23456789") + "".join(rng.choices(string.digits, k=10))
    return body + str(checks.verhoeff_check(body))


def in_pan(rng: random.Random, surname: str) -> str:
    # fourth letter P: an individual; fifth: the holder's surname initial
    initial = ascii_fold(surname)[:1].upper() or "A"
    letters = "".join(rng.choices(string.ascii_uppercase, k=3))
    return f"{letters}P{initial}{rng.randint(1, 9999):04d}{rng.choice(string.ascii_uppercase)}"


def group(value: str, sizes: tuple[int, ...], sep: str = " ") -> str:
    out, pos = [], 0
    for size in sizes:
        out.append(value[pos : pos + size])
        pos += size
    if pos < len(value):
        out.append(value[pos:])
    return sep.join(p for p in out if p)


def iban_print(iban: str, rng: random.Random) -> str:
    """IBANs are written compact or in the printed groups of four, as banks show them."""
    return iban if rng.random() < 0.35 else group(iban, (4,) * 9)
