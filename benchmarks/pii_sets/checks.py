"""Published check-digit rules of the national ids and IBANs in the evaluation sets.

The generator uses these to reject or complete values, and tests/test_pii_sets.py to verify the
committed files. Each function takes the value as written (spaces and separators allowed) and
says whether it is well-formed. Sources: the issuing authorities' format descriptions (Agenzia
delle Entrate for the codice fiscale, INSEE for the NIR, BOE for NIF/NIE, the Dutch 11-proof for
the BSN, the PESEL statute, the BZSt for the Steuer-ID (ISO 7064 MOD 11,10), the Deutsche
Rentenversicherung for the Versicherungsnummer, HMRC for the NINO prefixes, UIDAI (Verhoeff) for
Aadhaar, the Income Tax Department for the PAN layout, ISO 13616 for IBANs).
"""

from __future__ import annotations

import re
import string

_CF_ODD = dict(
    zip(
        string.digits + string.ascii_uppercase,
        # digits, then letters A-Z, at odd positions (1st, 3rd, ...)
        (
            1,
            0,
            5,
            7,
            9,
            13,
            15,
            17,
            19,
            21,
            1,
            0,
            5,
            7,
            9,
            13,
            15,
            17,
            19,
            21,
            2,
            4,
            18,
            20,
            11,
            3,
            6,
            8,
            12,
            14,
            16,
            10,
            22,
            25,
            24,
            23,
        ),
        strict=True,
    )
)
_CF_EVEN = {**{d: int(d) for d in string.digits}, **{c: i for i, c in enumerate(string.ascii_uppercase)}}
_NIF_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_VERHOEFF_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_VERHOEFF_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]
_VERHOEFF_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]
# HMRC: neither prefix letter is D, F, I, Q, U or V; the second is not O; these pairs are not issued
_NINO_BAD_PAIRS = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def compact(value: str) -> str:
    return re.sub(r"[\s./-]", "", value).upper()


def it_fiscal_code_check(first15: str) -> str:
    total = sum((_CF_ODD if i % 2 == 0 else _CF_EVEN)[c] for i, c in enumerate(first15.upper()))
    return string.ascii_uppercase[total % 26]


def valid_it_fiscal_code(value: str) -> bool:
    v = compact(value)
    return bool(
        re.fullmatch(
            r"[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-EHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]", v
        )
    ) and (it_fiscal_code_check(v[:15]) == v[15])


def valid_fr_nir(value: str) -> bool:
    v = compact(value)
    if not re.fullmatch(r"[12][0-9]{4}(?:[0-9]{2}|2A|2B)[0-9]{8}", v):
        return False
    body = v[:13].replace("2A", "19").replace("2B", "18")
    return 97 - int(body) % 97 == int(v[13:])


def valid_es_nif(value: str) -> bool:
    v = compact(value)
    return bool(re.fullmatch(r"[0-9]{8}[A-Z]", v)) and _NIF_LETTERS[int(v[:8]) % 23] == v[8]


def valid_es_nie(value: str) -> bool:
    v = compact(value)
    if not re.fullmatch(r"[XYZ][0-9]{7}[A-Z]", v):
        return False
    return _NIF_LETTERS[int(str("XYZ".index(v[0])) + v[1:8]) % 23] == v[8]


def valid_nl_bsn(value: str) -> bool:
    v = compact(value)
    if not re.fullmatch(r"[0-9]{9}", v) or v == "000000000":
        return False
    total = sum(int(d) * w for d, w in zip(v[:8], range(9, 1, -1), strict=True)) - int(v[8])
    return total % 11 == 0


def valid_pl_pesel(value: str) -> bool:
    v = compact(value)
    if not re.fullmatch(r"[0-9]{11}", v):
        return False
    total = sum(int(d) * w for d, w in zip(v[:10], (1, 3, 7, 9) * 3, strict=False))
    return (10 - total % 10) % 10 == int(v[10])


def de_tax_id_check(first10: str) -> int:
    product = 10
    for digit in first10:
        total = (int(digit) + product) % 10 or 10
        product = total * 2 % 11
    check = 11 - product
    return 0 if check == 10 else check


def valid_de_tax_id(value: str) -> bool:
    v = compact(value)
    if not re.fullmatch(r"[1-9][0-9]{10}", v):
        return False
    counts = sorted((v[:10].count(d) for d in set(v[:10])), reverse=True)
    # since 2016: exactly one digit occurs two or three times in the first ten, the rest once
    if counts[0] not in (2, 3) or (len(counts) > 1 and counts[1] != 1):
        return False
    return de_tax_id_check(v[:10]) == int(v[10])


def de_pension_number_check(first11: str) -> int:
    digits = first11[:8] + f"{ord(first11[8].upper()) - 64:02d}" + first11[9:11]
    weights = (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1)
    return sum(sum(map(int, str(int(d) * w))) for d, w in zip(digits, weights, strict=True)) % 10


def valid_de_pension_number(value: str) -> bool:
    v = compact(value)
    if not re.fullmatch(r"[0-9]{8}[A-Z][0-9]{3}", v):
        return False
    return 2 <= int(v[:2]) <= 89 and de_pension_number_check(v[:11]) == int(v[11])


def valid_uk_nino(value: str) -> bool:
    v = compact(value)
    if not re.fullmatch(r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]", v):
        return False
    return v[:2] not in _NINO_BAD_PAIRS


def verhoeff_check(digits: str) -> int:
    c = 0
    for i, d in enumerate(reversed(digits)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[(i + 1) % 8][int(d)]]
    return _VERHOEFF_INV[c]


def valid_in_aadhaar(value: str) -> bool:
    v = compact(value)
    if not re.fullmatch(r"[2-9][0-9]{11}", v):
        return False
    c = 0
    for i, d in enumerate(reversed(v)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][int(d)]]
    return c == 0


def valid_in_pan(value: str) -> bool:
    # the tenth character is a check letter whose algorithm is not published: only the layout
    return bool(re.fullmatch(r"[A-Z]{3}[ABCFGHJLPT][A-Z][0-9]{4}[A-Z]", compact(value)))


def valid_iban(value: str) -> bool:
    v = compact(value)
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{10,30}", v):
        return False
    moved = v[4:] + v[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


VALIDATORS = {
    "IT_FISCAL_CODE": valid_it_fiscal_code,
    "FR_NIR": valid_fr_nir,
    "ES_NIF": valid_es_nif,
    "ES_NIE": valid_es_nie,
    "NL_BSN": valid_nl_bsn,
    "PL_PESEL": valid_pl_pesel,
    "DE_TAX_ID": valid_de_tax_id,
    "DE_PENSION_NUMBER": valid_de_pension_number,
    "UK_NINO": valid_uk_nino,
    "IN_AADHAAR": valid_in_aadhaar,
    "IN_PAN": valid_in_pan,
}
