"""Phone numbers: international and national formats, context, and the numbers that are not phones."""

from __future__ import annotations

import pytest

from proxy.recognizers.phones import PhoneNumberRecognizer

THRESHOLD = 0.3  # the default policy's threshold for PHONE_NUMBER


@pytest.fixture(scope="module")
def recognizer() -> PhoneNumberRecognizer:
    return PhoneNumberRecognizer()


def found(recognizer: PhoneNumberRecognizer, text: str) -> list[str]:
    return [text[r.start : r.end] for r in recognizer.analyze(text, ["PHONE_NUMBER"]) if r.score >= THRESHOLD]


@pytest.mark.parametrize(
    "number",
    [
        "+41 44 668 18 00",
        "+44 20 7946 0958",
        "+447700900123",
        "0041 44 668 18 00",
        "+41 (0)44 668 18 00",
        "+49 (0)30 901820",
        "+1 (415) 555-2671",
        "+33 1 42 68 53 00",
    ],
)
def test_international_numbers_need_no_context(recognizer: PhoneNumberRecognizer, number: str) -> None:
    assert found(recognizer, f"See {number} for details") == [number]


@pytest.mark.parametrize(
    "number",
    [
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "415.555.2671x778",
        "(415)555-2671 ext. 12",
        "(07700) 900 123",
        "020 7946 0958",
        "030 901820-0",
        "01.42.68.53.00",
        "53-55-05-64",
    ],
)
def test_national_formats(recognizer: PhoneNumberRecognizer, number: str) -> None:
    assert found(recognizer, f"It is {number}, I think") == [number]


@pytest.mark.parametrize(
    "text",
    [
        "Phone: 389 673 172",
        "You can call 463 436 698",
        "I would like to stop receiving messages to 21 232 464 5513",
        "Mobile:\n9357 8533",
        "3987542834 (mobile)",
        "780 775 0277 office",
        "reach me on 22 806277",
    ],
)
def test_weak_shapes_with_phone_context(recognizer: PhoneNumberRecognizer, text: str) -> None:
    assert len(found(recognizer, text)) == 1


def test_labels_after_numbers_in_a_signature_block(recognizer: PhoneNumberRecognizer) -> None:
    text = "Jane Roe\n780-775-0277-Office\\,3987542834-Fax"
    assert found(recognizer, text) == ["780-775-0277", "3987542834"]


def test_escaped_line_breaks(recognizer: PhoneNumberRecognizer) -> None:
    text = "Personal Info:\\nPhone:\\n070 4493 5104\\n\\nE-mail:"
    assert found(recognizer, text) == ["070 4493 5104"]


def test_regions_are_configurable(recognizer: PhoneNumberRecognizer) -> None:
    assert PhoneNumberRecognizer(regions=("US",)).regions == ("US",)
    assert "DE" in recognizer.regions


@pytest.mark.parametrize(
    "text",
    [
        "order 1234567 shipped",
        "Your order #98765432 will ship tomorrow",
        "invoice no. 20240115 is overdue",
        "tracking number 1234 5678 9012",
        "version 2.13.1045 released",
        "upgrade to 10.15.7 first",
        "logged at 2024-01-15 10:30:00",
        "elapsed 10:30:45.123",
        "on 15.01.2024 and 2024/01/15",
        "server 192.168.10.254 is down",
        "ISBN 978-3-16-148410-0",
        "the total is 1 234 567 EUR",
        "paid $1,234,567.00",
        "we have 1234567 users",
        "Address: 0554 1585 Yonge St",
        "6561 2103 Venture Place",
        "pages 1200-1350",
        "4111 1111 1111 1111",
    ],
)
def test_hard_negatives(recognizer: PhoneNumberRecognizer, text: str) -> None:
    assert found(recognizer, text) == []


def test_card_numbers_are_left_to_the_card_recognizer(recognizer: PhoneNumberRecognizer) -> None:
    assert found(recognizer, "card number 5555555555554444") == []


def test_score_rises_with_context(recognizer: PhoneNumberRecognizer) -> None:
    bare = recognizer.analyze("It is 0494 26 46 14.", [])
    labelled = recognizer.analyze("Phone: 0494 26 46 14.", [])
    assert bare and labelled and labelled[0].score > bare[0].score


def test_configured_regions_reach_the_recognizer() -> None:
    from proxy.recognizers import consentry_recognizers

    phones = [r for r in consentry_recognizers(["CH"]) if isinstance(r, PhoneNumberRecognizer)]
    assert phones and phones[0].regions == ("CH",)


# ------------------------------------------------------------------ European regions and forms

EU_MEMBER_STATES = (
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
)  # fmt: skip


def test_default_regions_cover_the_eu_and_the_named_countries() -> None:
    from proxy.recognizers.phones import DEFAULT_REGIONS

    assert set(EU_MEMBER_STATES) | {"GB", "US", "CA", "IN", "AU", "BR", "JP", "CH", "NO"} <= set(
        DEFAULT_REGIONS
    )


@pytest.mark.parametrize(
    ("label", "number"),
    [
        ("Telefon:", "030 / 1234 5678"),
        ("Ruf an:", "0221/445566"),
        ("Handy", "0151 23456789"),
        ("téléphone", "01 42 68 53 00"),
        ("portable :", "06 12 34 56 78"),
        ("teléfono", "912 34 56 78"),
        ("móvil", "612 34 56 78"),
        ("cellulare", "347 123 4567"),
        ("telefono", "06 1234 5678"),
        ("telefoonnummer", "020 123 4567"),
        ("mobiel", "06-12345678"),
        ("komórka", "512 345 678"),
        ("telefon", "22 123 45 67"),
        ("cellulare:", "347/1234567"),
    ],
)
def test_national_numbers_with_context_words_in_european_languages(
    recognizer: PhoneNumberRecognizer, label: str, number: str
) -> None:
    assert found(recognizer, f"{label} {number}") == [number]


@pytest.mark.parametrize(
    "number",
    [
        "+49 (0) 176 - 234 567 89",
        "+48 512 345 678",
        "+420 601 123 456",
        "+46 70 123 45 67",
        "+81 3-1234-5678",
        "(+49) 0176 - 2345 6789",
        "(+44) 20 7946 0958",
    ],
)
def test_international_forms_of_the_new_regions(recognizer: PhoneNumberRecognizer, number: str) -> None:
    assert found(recognizer, f"Bitte an {number} schreiben") == [number]


@pytest.mark.parametrize(
    "text",
    [
        "Jahre 2019 - 2023 im Vergleich",
        "Auflösung 1920/1080 Pixel",
        "in 2021/2022 we grew",
        "Bestellnummer: 0301234567",
        "Rechnung 0221 / 445566",
        "n° de commande 0612345678",
        "Datum 01/05/2024 10:30",
        "vedi 347/1234567",
        "Umsatz 512 345 678 zł",
        "Przychód 512 345 678 PLN",
    ],
)
def test_slashes_and_spaced_dashes_only_join_phone_groups(
    recognizer: PhoneNumberRecognizer, text: str
) -> None:
    assert found(recognizer, text) == []


def test_prefilter_agrees_with_the_matcher_on_national_numbers() -> None:
    """The numbering-plan prefilter only skips regions where phonenumbers' matcher finds nothing."""
    import random

    from phonenumbers import Leniency, PhoneNumberMatcher

    recognizer = PhoneNumberRecognizer(regions=("DE", "PL", "FR", "GB", "JP", "BR", "SE", "IT"))
    rng = random.Random(11)
    agreed = valid = 0
    for _ in range(300):
        number = rng.choice(["0", "", "00"]) + "".join(
            rng.choice("0123456789") for _ in range(rng.randint(7, 11))
        )
        digits = len(number)
        matcher_says = any(
            sum(c.isdigit() for c in m.raw_string) == digits
            for region in recognizer.regions
            for m in PhoneNumberMatcher(number, region, leniency=Leniency.VALID, max_tries=1)
        )
        valid += matcher_says
        agreed += recognizer._whole_number_valid(number) == matcher_says
    assert valid > 30  # the sample holds valid numbers, so the comparison means something
    assert agreed == 300


@pytest.mark.parametrize(
    "text",
    [
        "Proszę o kontakt pod numerem 512 345 678",
        "Potete richiamarmi al 347 123 456",
        "Je kunt me bereiken op 612 345 678",
        "Erreichen Sie mich unter 612 345 678",
        "Vous pouvez me rappeler au 612 345 678",
        "Puede contactarme en el 612 345 678",
    ],
)
def test_inflected_context_words_lift_numbers_that_read_as_amounts(
    recognizer: PhoneNumberRecognizer, text: str
) -> None:
    number = text[-11:]
    assert found(recognizer, text) == [number]
    assert found(recognizer, f"Wert {number}") == []  # the same digits without a phone word


@pytest.mark.parametrize(
    "text",
    [
        "The query returned 48219337 rows in 2.1 s.",
        "Request 123456789: please summarise the incident.",
        "BenchmarkParse-8   	 5123456	       231 ns/op",
    ],
)
def test_short_bare_digit_runs_without_a_phone_word_are_no_phones(
    recognizer: PhoneNumberRecognizer, text: str
) -> None:
    assert found(recognizer, text) == []


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("call me on 48219337 after six", "48219337"),
        ("reach her at 9876543210 tomorrow", "9876543210"),
        ("mobile 07911123456", "07911123456"),
    ],
)
def test_bare_runs_with_a_phone_word_a_trunk_zero_or_ten_digits_stay_phones(
    recognizer: PhoneNumberRecognizer, text: str, number: str
) -> None:
    assert number in found(recognizer, text)


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("Phone: 0151 496 0000 / 07700 900123", ["0151 496 0000", "07700 900123"]),
        ("Tel 030 1234567 / 0170 1234567", ["030 1234567", "0170 1234567"]),
        ("Call 020 7946 0958 - 0161 496 0000", ["020 7946 0958", "0161 496 0000"]),
        ("Reach me: 415-555-0132 / 415-555-0199", ["415-555-0132", "415-555-0199"]),
    ],
)
def test_two_numbers_joined_by_a_slash_or_dash_are_both_found(
    recognizer: PhoneNumberRecognizer, text: str, numbers: list[str]
) -> None:
    assert found(recognizer, text) == numbers


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("Mon numéro : 0 6 1 2 3 4 5 6 7 8", "0 6 1 2 3 4 5 6 7 8"),
        ("call me on 0 7 7 0 0 9 0 0 1 2 3", "0 7 7 0 0 9 0 0 1 2 3"),
    ],
)
def test_numbers_typed_digit_by_digit(recognizer: PhoneNumberRecognizer, text: str, number: str) -> None:
    assert number in found(recognizer, text)


@pytest.mark.parametrize("text", ["values 1 2 3 4 5 6 7 8 9 10", "grid 0 0 0 0 0 0 0 0 0 1"])
def test_spaced_digits_without_a_phone_shape_or_word(recognizer: PhoneNumberRecognizer, text: str) -> None:
    assert found(recognizer, text) == []
