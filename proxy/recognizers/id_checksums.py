"""Pure validators for national identifiers: structure, embedded dates and check characters.

Each function takes the identifier in compact form (separators removed, upper case) and returns
whether it could have been issued. They implement the published algorithms:

- Italian codice fiscale: Decreto ministeriale 23/12/1976 (odd/even position tables, sum mod 26),
  with the "omocodia" substitutions (digits replaced by L M N P Q R S T U V) the tax office uses
  when two people would otherwise share a code.
- French NIR (numéro de sécurité sociale): key = 97 - (first 13 digits mod 97); Corsican
  departments 2A and 2B count as 19 and 18 for the key.
- Spanish DNI/NIF and NIE: the letter is "TRWAGMYFPDXBNJZSQVHLCKE"[number mod 23]; an NIE's
  leading X/Y/Z stands for 0/1/2 (Real Decreto 1553/2005, Orden INT/2058/2008).
- Dutch BSN: the "11-proof" (weights 9..2 and -1, sum divisible by 11).
- Polish PESEL: weights 1 3 7 9 1 3 7 9 1 3, check = (10 - sum mod 10) mod 10; the month carries
  the century (+80 for the 1800s, +20 for the 2000s, +40, +60), and the date must exist.
- German Steuer-Identifikationsnummer (IdNr, §139b AO): 11 digits, no leading zero, in the first
  ten exactly one digit appears twice or three times (never three times in a row), the check
  digit is ISO/IEC 7064 MOD 11,10.
- German Rentenversicherungsnummer (VKVV §2): area number, birth date DDMMYY, initial of the birth
  name, serial (00-49 male, 50-99 female), check digit: the letter becomes its two-digit
  alphabet position, digits weighted 2 1 2 5 7 1 2 1 2 1 2 1, cross sums of the products mod 10.
- UK National Insurance number (HMRC NIM39110): two prefix letters (first not D F I Q U V, second
  not D F I O Q U V, not BG GB KN NK NT TN ZZ), six digits, suffix A-D.
- Indian Aadhaar (UIDAI): 12 digits, first digit 2-9, Verhoeff check digit.
- Indian PAN (Income Tax Department): five letters, four digits, one letter; the fourth letter is
  the holder type (P person, C company, H HUF, F firm, A AOP, T trust, B BOI, L local authority,
  J artificial juridical person, G government).
"""

from __future__ import annotations

import datetime

# ------------------------------------------------------------------ Italy: codice fiscale

# value of each character at odd (1st, 3rd, ...) positions; digits count as the letters A-J
_CF_ODD_LETTERS = (
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
)  # fmt: skip
_CF_ODD = {chr(65 + i): value for i, value in enumerate(_CF_ODD_LETTERS)} | {
    str(d): _CF_ODD_LETTERS[d] for d in range(10)
}
_CF_EVEN = {c: (ord(c) - 48 if c.isdigit() else ord(c) - 65) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_OMOCODIA = {letter: str(digit) for digit, letter in enumerate("LMNPQRSTUV")}
_CF_DIGIT_POSITIONS = (6, 7, 9, 10, 12, 13, 14)  # year, day, municipality number
_CF_MONTHS = "ABCDEHLMPRST"


def it_fiscal_code_check_char(first15: str) -> str:
    total = sum((_CF_ODD if i % 2 == 0 else _CF_EVEN)[c] for i, c in enumerate(first15))
    return chr(65 + total % 26)


def valid_it_fiscal_code(code: str) -> bool:
    if len(code) != 16 or not code.isalnum() or not code.isascii():
        return False
    restored = list(code)
    for i in _CF_DIGIT_POSITIONS:
        restored[i] = _OMOCODIA.get(restored[i], restored[i])
    plain = "".join(restored)
    if not (plain[:6].isalpha() and plain[8] in _CF_MONTHS and plain[11].isalpha() and plain[15].isalpha()):
        return False
    if not all(plain[i].isdigit() for i in _CF_DIGIT_POSITIONS):
        return False
    day = int(plain[9:11])
    if not (1 <= day <= 31 or 41 <= day <= 71):  # women: day + 40
        return False
    return it_fiscal_code_check_char(code[:15]) == code[15]


# ------------------------------------------------------------------ France: NIR


def fr_nir_key(first13: str) -> int:
    number = int(first13.replace("2A", "19").replace("2B", "18"))
    return 97 - number % 97


def valid_fr_nir(nir: str) -> bool:
    if len(nir) != 15 or nir[0] not in "1278" or not nir[13:].isdigit():
        return False
    if not (nir[:5].isdigit() and nir[7:13].isdigit()):
        return False
    department = nir[5:7]
    if not (department.isdigit() or department in ("2A", "2B")) or department == "00":
        return False
    month = int(nir[3:5])
    # 01-12; 20-42 and 50-99 are issued when the month of birth is unknown (decree 82-103)
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        return False
    return fr_nir_key(nir[:13]) == int(nir[13:])


# ------------------------------------------------------------------ Spain: DNI/NIF and NIE

_NIF_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_nif_letter(number: str) -> str:
    return _NIF_LETTERS[int(number) % 23]


def valid_es_nif(nif: str) -> bool:
    """DNI numbers (8 digits + letter) and the K/L/M forms for people without a DNI."""
    if len(nif) != 9 or not nif[-1].isalpha():
        return False
    if nif[0] in "KLM" and nif[1:8].isdigit():
        return es_nif_letter(nif[1:8]) == nif[8]
    return nif[:8].isdigit() and es_nif_letter(nif[:8]) == nif[8]


def valid_es_nie(nie: str) -> bool:
    if len(nie) != 9 or nie[0] not in "XYZ" or not nie[1:8].isdigit():
        return False
    return es_nif_letter(str("XYZ".index(nie[0])) + nie[1:8]) == nie[8]


# ------------------------------------------------------------------ Netherlands: BSN


def valid_nl_bsn(bsn: str) -> bool:
    if len(bsn) == 8:  # written without its leading zero
        bsn = "0" + bsn
    if len(bsn) != 9 or not bsn.isdigit() or int(bsn) == 0:
        return False
    total = sum(int(d) * w for d, w in zip(bsn[:8], range(9, 1, -1), strict=True)) - int(bsn[8])
    return total % 11 == 0


# ------------------------------------------------------------------ Poland: PESEL

_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
_PESEL_CENTURY = {0: 1900, 80: 1800, 20: 2000, 40: 2100, 60: 2200}


def pesel_check_digit(first10: str) -> int:
    return (10 - sum(int(d) * w for d, w in zip(first10, _PESEL_WEIGHTS, strict=True)) % 10) % 10


def valid_pl_pesel(pesel: str) -> bool:
    if len(pesel) != 11 or not pesel.isdigit():
        return False
    month = int(pesel[2:4])
    offset = month // 20 * 20
    if offset not in _PESEL_CENTURY:
        return False
    if not _date_exists(_PESEL_CENTURY[offset] + int(pesel[:2]), month - offset, int(pesel[4:6])):
        return False
    return pesel_check_digit(pesel[:10]) == int(pesel[10])


# ------------------------------------------------------------------ Germany: Steuer-ID (IdNr)


def de_tax_id_check_digit(first10: str) -> int:
    """ISO/IEC 7064 MOD 11,10."""
    product = 10
    for digit in first10:
        total = (int(digit) + product) % 10 or 10
        product = total * 2 % 11
    return (11 - product) % 10


def valid_de_tax_id(tax_id: str) -> bool:
    if len(tax_id) != 11 or not tax_id.isdigit() or tax_id[0] == "0":
        return False
    body = tax_id[:10]
    counts = sorted((body.count(d) for d in set(body)), reverse=True)
    # one digit twice (9 distinct) or three times (8 distinct), every other digit once
    if counts[0] not in (2, 3) or counts[1:] != [1] * (10 - counts[0]):
        return False
    if any(body[i] == body[i + 1] == body[i + 2] for i in range(8)):
        return False
    return de_tax_id_check_digit(body) == int(tax_id[10])


# ------------------------------------------------------------------ Germany: Rentenversicherungsnummer

_RVNR_WEIGHTS = (2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1)


def de_pension_check_digit(first11: str) -> int:
    """first11: area (2), birth date (6), letter, serial (2)."""
    digits = first11[:8] + f"{ord(first11[8]) - 64:02d}" + first11[9:11]
    return sum(sum(divmod(int(d) * w, 10)) for d, w in zip(digits, _RVNR_WEIGHTS, strict=True)) % 10


def valid_de_pension_number(number: str) -> bool:
    if len(number) != 12 or not (number[:8].isdigit() and number[9:].isdigit()):
        return False
    if not ("A" <= number[8] <= "Z") or number[:2] == "00":
        return False
    day, month = int(number[2:4]), int(number[4:6])
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return False
    return de_pension_check_digit(number[:11]) == int(number[11])


# ------------------------------------------------------------------ UK: National Insurance number

_NINO_NOT_FIRST = frozenset("DFIQUV")
_NINO_NOT_SECOND = frozenset("DFIOQUV")
_NINO_UNUSED_PREFIXES = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def valid_uk_nino_prefix(prefix: str) -> bool:
    return (
        len(prefix) == 2
        and prefix.isalpha()
        and prefix[0] not in _NINO_NOT_FIRST
        and prefix[1] not in _NINO_NOT_SECOND
        and prefix not in _NINO_UNUSED_PREFIXES
    )


def valid_uk_nino(nino: str) -> bool:
    """With its suffix letter (A-D), or without it (9 or 8 characters)."""
    if len(nino) not in (8, 9) or not nino[2:8].isdigit():
        return False
    return valid_uk_nino_prefix(nino[:2]) and (len(nino) == 8 or nino[8] in "ABCD")


# ------------------------------------------------------------------ India: Aadhaar (Verhoeff)


def _dihedral(i: int, j: int) -> int:
    """Multiplication in the dihedral group D5, elements numbered 0-4 (rotations), 5-9 (reflections)."""
    if i < 5:
        return (i + j) % 5 + (5 if j >= 5 else 0)
    return (i - j) % 5 + (5 if j < 5 else 0)


_VERHOEFF_D = tuple(tuple(_dihedral(i, j) for j in range(10)) for i in range(10))
_VERHOEFF_P1 = (1, 5, 7, 6, 2, 8, 3, 0, 9, 4)
_VERHOEFF_P: list[tuple[int, ...]] = [tuple(range(10))]
for _ in range(7):
    _VERHOEFF_P.append(tuple(_VERHOEFF_P[-1][_VERHOEFF_P1[j]] for j in range(10)))


def verhoeff_valid(digits: str) -> bool:
    check = 0
    for position, digit in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[position % 8][int(digit)]]
    return check == 0


def valid_in_aadhaar(number: str) -> bool:
    return len(number) == 12 and number.isdigit() and number[0] in "23456789" and verhoeff_valid(number)


# ------------------------------------------------------------------ India: PAN

PAN_HOLDER_TYPES = frozenset("PCHFATBLJG")


def valid_in_pan(pan: str) -> bool:
    return (
        len(pan) == 10
        and pan[:5].isalpha()
        and pan[5:9].isdigit()
        and pan[9].isalpha()
        and pan.isascii()
        and pan[3] in PAN_HOLDER_TYPES
    )


# ------------------------------------------------------------------ shared


def _date_exists(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True
