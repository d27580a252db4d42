"""IBANs: every registered country length, mod-97, the printed and compact forms, upper and lower
case, and the word after an IBAN never becoming part of it."""

from __future__ import annotations

import pytest

from proxy.recognizers.iban import IBAN_LENGTHS, IbanRecognizer, iban_valid

# Worked examples published in the IBAN registry for these countries.
PUBLISHED = [
    "DE89 3704 0044 0532 0130 00",
    "GB29 NWBK 6016 1331 9268 19",
    "ES91 2100 0418 4502 0005 1332",
    "FR14 2004 1010 0505 0001 3M02 606",
    "NL91 ABNA 0417 1643 00",
    "BE68 5390 0754 7034",
    "NO93 8601 1117 947",
]


@pytest.fixture(scope="module")
def recognizer() -> IbanRecognizer:
    return IbanRecognizer()


def found(recognizer: IbanRecognizer, text: str) -> list[str]:
    return [text[r.start : r.end] for r in recognizer.analyze(text, ["IBAN_CODE"])]


def make_iban(country: str, length: int) -> str:
    """A valid IBAN of that length: ISO 7064 MOD 97-10 check digits, 98 - (BBAN + country + 00) mod 97."""
    bban = ("1234567890" * 4)[: length - 4]
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def grouped(iban: str) -> str:
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


@pytest.mark.parametrize("iban", PUBLISHED)
@pytest.mark.parametrize(
    "word", ["from", "fail", "und", "bitte", "merci", "por", "grazie", "dank", "dzięki", "Bank"]
)
def test_the_next_word_is_never_part_of_the_iban(recognizer: IbanRecognizer, iban: str, word: str) -> None:
    assert found(recognizer, f"IBAN {iban} {word} the account") == [iban]


@pytest.mark.parametrize("iban", PUBLISHED)
def test_lower_case_and_compact_forms(recognizer: IbanRecognizer, iban: str) -> None:
    compact = iban.replace(" ", "")
    for form in (iban.lower(), compact, compact.lower(), iban.replace(" ", "-")):
        assert found(recognizer, f"pay to {form}, thanks") == [form]


@pytest.mark.parametrize(("country", "length"), sorted(IBAN_LENGTHS.items()))
def test_each_registered_country_length(recognizer: IbanRecognizer, country: str, length: int) -> None:
    iban = make_iban(country, length)
    assert iban_valid(iban)
    assert found(recognizer, f"Konto {grouped(iban)} danke") == [grouped(iban)]
    assert found(recognizer, f"Konto {iban} danke") == [iban]
    # one character short or long is not that country's IBAN
    assert not iban_valid(iban[:-1]) and not iban_valid(iban + "0")


def test_wrong_check_digits_unknown_country_and_glued_text(recognizer: IbanRecognizer) -> None:
    assert found(recognizer, "DE88 3704 0044 0532 0130 00 here") == []
    assert found(recognizer, "QQ89 3704 0044 0532 0130 00 here") == []
    assert found(recognizer, "DE89370400440532013000X") == []
    assert found(recognizer, "xDE89370400440532013000") == []
    # a glued word after the compact form is not cut off to make an IBAN
    assert found(recognizer, "DE89370400440532013000fail") == []


def test_several_ibans_in_one_text(recognizer: IbanRecognizer) -> None:
    text = f"from {PUBLISHED[0]} to {PUBLISHED[1].lower()} today"
    assert found(recognizer, text) == [PUBLISHED[0], PUBLISHED[1].lower()]
