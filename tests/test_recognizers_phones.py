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
