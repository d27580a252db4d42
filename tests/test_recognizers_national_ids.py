"""National identifiers: checksums from the published algorithms, written forms, the context rule
for digit-only identifiers, and the numbers that are not identifiers.

Values are made up; where an authority or a standard publishes a worked example (Verhoeff's
"236" + 3, the codice fiscale of "Mario Rossi", the NIR and Rentenversicherungsnummer examples of
the French and German social-security documentation), that example anchors the algorithm."""

from __future__ import annotations

import asyncio

import pytest

from proxy.detection import PresidioDetector
from proxy.recognizers import REPLACED_DEFAULTS, consentry_recognizers
from proxy.recognizers import id_checksums as checks
from proxy.recognizers.national_ids import NationalIdRecognizer, national_id_recognizers

THRESHOLD = 0.4  # the default policy's threshold


@pytest.fixture(scope="module")
def recognizers() -> list[NationalIdRecognizer]:
    return national_id_recognizers()


def found(recognizers: list[NationalIdRecognizer], text: str) -> list[tuple[str, str]]:
    """(entity type, matched text) of every result at or above the default threshold."""
    return [
        (r.entity_type, text[r.start : r.end])
        for recognizer in recognizers
        for r in recognizer.analyze(text, [])
        if r.score >= THRESHOLD
    ]


# ------------------------------------------------------------------ validators


@pytest.mark.parametrize(
    ("validator", "valid", "invalid"),
    [
        (checks.valid_it_fiscal_code, "RSSMRA85T10A562S", "RSSMRA85T10A562T"),
        (checks.valid_it_fiscal_code, "RSSMRA85T10A56NH", "RSSMRA85T10A56NS"),  # omocodia
        (
            checks.valid_it_fiscal_code,
            "BNCLRA92E52F205Y",
            "BNCLRA92E92F205Y",
        ),  # woman: day + 40; 92 is no day
        (checks.valid_fr_nir, "255081416802538", "255081416802539"),
        (checks.valid_fr_nir, "185052A12345633", "185052B12345633"),  # Corsica 2A counts as 19
        (checks.valid_fr_nir, "185052B12345660", "385052B12345660"),  # 2B as 18; sex digit 3 invalid
        (checks.valid_es_nif, "12345678Z", "12345678A"),
        (checks.valid_es_nif, "87654321X", "87654321T"),
        (checks.valid_es_nif, "K1234567L", "K1234567M"),
        (checks.valid_es_nie, "X1234567L", "X1234567T"),
        (checks.valid_es_nie, "Y7654321G", "Z7654321G"),  # the letter encodes the prefix too
        (checks.valid_nl_bsn, "111222333", "111222334"),
        (checks.valid_nl_bsn, "123456782", "123456789"),
        (checks.valid_pl_pesel, "44051401359", "44051401358"),
        (checks.valid_pl_pesel, "02270512342", "02270512343"),  # month 27: July 2002
        (checks.valid_pl_pesel, "02270512342", "85133212344"),  # month 13 and day 32 do not exist
        (checks.valid_de_tax_id, "86095742719", "86095742718"),
        (checks.valid_de_tax_id, "29350718426", "33114567891"),  # two digits repeated
        (checks.valid_de_tax_id, "33134567890", "33314567895"),  # a digit three times in a row
        (checks.valid_de_tax_id, "57283910456", "07283910456"),  # leading zero
        (checks.valid_de_pension_number, "15070649C103", "15070649C104"),
        (checks.valid_de_pension_number, "53010180M046", "53013380M046"),  # month 33
        (checks.valid_de_pension_number, "12150485W518", "12150485W519"),
        (checks.valid_uk_nino, "AB123456C", "AB123456E"),  # suffix A-D only
        (checks.valid_uk_nino, "AB123456C", "QQ123456C"),  # Q never first
        (checks.valid_uk_nino, "AB123456C", "GB123456A"),  # unallocated prefix
        (checks.valid_uk_nino, "AB123456C", "AO123456A"),  # O never second
        (checks.valid_in_aadhaar, "234567890124", "234567890125"),
        (checks.valid_in_aadhaar, "987654321012", "187654321012"),  # never starts with 0 or 1
        (checks.valid_in_pan, "ABCPE1234F", "ABCXE1234F"),  # X is no holder type
    ],
)
def test_validators_accept_valid_and_reject_changed_values(validator, valid: str, invalid: str) -> None:
    assert validator(valid)
    assert not validator(invalid)


# Verhoeff's tables as printed in the literature, typed out here (the module derives them).
_D = [
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
_P = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
]


def _printed_verhoeff_valid(digits: str) -> bool:
    check = 0
    for i, d in enumerate(reversed(digits)):
        check = _D[check][_P[i % 8][int(d)]]
    return check == 0


def test_verhoeff_matches_the_printed_tables() -> None:
    assert checks.verhoeff_valid("2363") and not checks.verhoeff_valid("2364")
    for n in range(20000, 40000, 7):
        assert checks.verhoeff_valid(str(n)) == _printed_verhoeff_valid(str(n))


# ------------------------------------------------------------------ written forms, no context needed


@pytest.mark.parametrize(
    ("entity", "value"),
    [
        ("IT_FISCAL_CODE", "RSSMRA85T10A562S"),
        ("IT_FISCAL_CODE", "rssmra85t10a562s"),
        ("IT_FISCAL_CODE", "RSSMRA 85T10 A562S"),
        ("IT_FISCAL_CODE", "RSSMRA85T10A56NH"),
        ("FR_NIR", "2 55 08 14 168 025 38"),
        ("FR_NIR", "2.55.08.14.168.025.38"),
        ("FR_NIR", "1 85 05 2A 123 456 33"),
        ("ES_NIF", "12345678Z"),
        ("ES_NIF", "12345678-Z"),
        ("ES_NIF", "12.345.678-Z"),
        ("ES_NIF", "12345678z"),
        ("ES_NIE", "X1234567L"),
        ("ES_NIE", "X-1234567-L"),
        ("ES_NIE", "y7654321g"),
        ("DE_PENSION_NUMBER", "15 070649 C 103"),
        ("DE_PENSION_NUMBER", "15070649C103"),
        ("DE_PENSION_NUMBER", "53010180m046"),
        ("UK_NINO", "AB 12 34 56 C"),
        ("UK_NINO", "AB123456C"),
        ("IN_PAN", "ABCPE1234F"),
    ],
)
def test_distinctive_forms_found_without_context(recognizers, entity: str, value: str) -> None:
    assert found(recognizers, f"Here it is: {value}, thanks") == [(entity, value)]


@pytest.mark.parametrize(
    "value",
    [
        "RSSMRA85T10A562T",  # wrong check character
        "2 55 08 14 168 025 39",
        "12345678A",
        "X1234567T",
        "15 070649 C 104",
        "QQ 12 34 56 C",
        "ABCXE1234F",
    ],
)
def test_invalid_checksums_are_not_reported(recognizers, value: str) -> None:
    assert found(recognizers, f"Here it is: {value}, thanks") == []


# ------------------------------------------------------------------ digit-only forms need context


@pytest.mark.parametrize(
    ("entity", "text", "value"),
    [
        ("NL_BSN", "Mijn BSN is 111222333.", "111222333"),
        ("NL_BSN", "burgerservicenummer: 1112.22.333", "1112.22.333"),
        ("NL_BSN", "123 456 782 (BSN)", "123 456 782"),
        ("PL_PESEL", "Numer PESEL: 44051401359", "44051401359"),
        ("DE_TAX_ID", "Steuer-ID: 86 095 742 719", "86 095 742 719"),
        ("DE_TAX_ID", "Meine Steueridentifikationsnummer lautet 29350718426.", "29350718426"),
        ("DE_TAX_ID", "IdNr. 57283910456", "57283910456"),
        ("IN_AADHAAR", "Aadhaar: 2345 6789 0124", "2345 6789 0124"),
        ("IN_AADHAAR", "UID 987654321012", "987654321012"),
        ("FR_NIR", "numéro de sécurité sociale : 255081416802538", "255081416802538"),
        ("FR_NIR", "N° SS 2550814168025 38", "2550814168025 38"),
        ("UK_NINO", "National Insurance number ab123456c", "ab123456c"),
        ("UK_NINO", "NI: AB123456", "AB123456"),
        ("IN_PAN", "PAN card abcpe1234f", "abcpe1234f"),
        ("ES_NIF", "DNI 12345678 Z", "12345678 Z"),
    ],
)
def test_digit_only_and_weak_forms_found_with_context(
    recognizers, entity: str, text: str, value: str
) -> None:
    assert found(recognizers, text) == [(entity, value)]


@pytest.mark.parametrize(
    "value",
    [
        "111222333",  # valid BSN
        "44051401359",  # valid PESEL
        "86095742719",  # valid Steuer-ID
        "234567890124",  # valid Aadhaar
        "2345 6789 0124",
        "255081416802538",  # NIR without its grouping
        "ab123456c",  # lower-case NINO
        "AB123456",  # NINO without suffix
        "abcpe1234f",  # lower-case PAN
    ],
)
def test_digit_only_and_weak_forms_need_context(recognizers, value: str) -> None:
    assert found(recognizers, f"Order {value} shipped yesterday") == []
    assert found(recognizers, f"value={value}") == []


@pytest.mark.parametrize(
    "text",
    [
        "Timestamp 1700000000123 and again 1700000000",
        "Order #20241129001 was refunded",
        "Card 4111 1111 1111 1111 expires 12/27",
        "Call +49 30 12345678 tomorrow",
        "id: 8f14e45fceea167a5a36dedd4bea2543",
        "paid 12345678 a month ago",
        "SHA 2a7b3c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f7",
    ],
)
def test_no_hit_on_numbers_that_are_not_identifiers(recognizers, text: str) -> None:
    assert found(recognizers, text) == []


def test_context_word_in_another_language_does_not_count(recognizers) -> None:
    # "PESEL" is the Polish context for an 11-digit value; a Dutch BSN word does not make it one
    assert found(recognizers, "BSN 44051401359") == []


def test_identifier_glued_to_a_longer_number_is_not_reported(recognizers) -> None:
    assert found(recognizers, "BSN 1112223339") == []
    assert found(recognizers, "ref 912345678Z1") == []


def test_one_result_per_value(recognizers) -> None:
    """The NINO with its suffix, not also the shorter form inside it."""
    assert found(recognizers, "NI number AB 12 34 56 C") == [("UK_NINO", "AB 12 34 56 C")]


def test_registered_and_scored_above_a_phone_reading() -> None:
    """A BSN with its context word outranks the same digits read as a phone number, so the merged
    span takes the identifier's type (proxy.transform.resolve_overlaps keeps the higher score)."""
    text = "BSN 111 222 333"
    results = {r.entity_type: r.score for rec in consentry_recognizers() for r in rec.analyze(text, [])}
    assert results.get("NL_BSN", 0) > results.get("PHONE_NUMBER", 0)
    names = {rec.name for rec in consentry_recognizers()}
    assert {"ConsentryNlBsnRecognizer", "ConsentryIbanRecognizer"} <= names
    assert "IbanRecognizer" in REPLACED_DEFAULTS


def test_detector_masks_identifiers_under_their_own_types(detector: PresidioDetector) -> None:
    """Through the real detector and the bundled policy: registered, above the default threshold,
    and the identifier's type wins where a phone reading of the same digits overlaps it."""
    from rules import load_rules

    consent = load_rules().consent_for("any-customer")
    texts = [
        "Mi DNI es 12345678Z y mi IBAN ES91 2100 0418 4502 0005 1332 gracias",
        "Meine Steuer-ID ist 86 095 742 719.",
        "BSN 111 222 333",
        "Order 111222333 shipped",
    ]
    found = asyncio.run(detector.detect(texts, consent))
    spans = [
        {(text[s.start : s.end], s.entity_type) for s in row} for text, row in zip(texts, found, strict=True)
    ]
    assert {("12345678Z", "ES_NIF"), ("ES91 2100 0418 4502 0005 1332", "IBAN_CODE")} <= spans[0]
    assert ("86 095 742 719", "DE_TAX_ID") in spans[1]
    assert ("111 222 333", "NL_BSN") in spans[2]
    assert not any(t == "NL_BSN" for _, t in spans[3])
