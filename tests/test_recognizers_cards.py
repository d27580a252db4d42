"""Payment card numbers: every issuer prefix and length, Luhn, and the numbers that are not cards."""

from __future__ import annotations

import pytest

from proxy.recognizers.cards import CardNumberRecognizer, is_card_number, issuer_allows, luhn_valid

THRESHOLD = 0.4  # the default policy's threshold


@pytest.fixture(scope="module")
def recognizer() -> CardNumberRecognizer:
    return CardNumberRecognizer()


def found(recognizer: CardNumberRecognizer, text: str) -> list[str]:
    return [text[r.start : r.end] for r in recognizer.analyze(text, ["CREDIT_CARD"]) if r.score >= THRESHOLD]


def with_check_digit(partial: str) -> str:
    """Complete a number with the digit that makes its Luhn checksum hold."""
    return next(partial + d for d in "0123456789" if luhn_valid(partial + d))


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("4111111111111111", "Visa 16"),
        ("4222222222222", "Visa 13"),
        (with_check_digit("411111111111111111"), "Visa 19"),
        ("5555555555554444", "Mastercard 51-55"),
        ("2223003122003222", "Mastercard 2-series"),
        ("378282246310005", "American Express"),
        ("30569309025904", "Diners Club 14"),
        ("6011111111111117", "Discover"),
        ("3530111333300000", "JCB 16"),
        (with_check_digit("21310000000000"), "JCB 15 (2131)"),
        (with_check_digit("18000000000000"), "JCB 15 (1800)"),
        (with_check_digit("50380000000"), "Maestro 12"),
        (with_check_digit("675900000000000000"), "Maestro 19"),
        (with_check_digit("620000000000000"), "UnionPay 16"),
    ],
)
def test_issuer_prefixes_and_lengths(recognizer: CardNumberRecognizer, number: str, why: str) -> None:
    assert is_card_number(number), why
    assert found(recognizer, f"Please charge my credit card. Number is {number}") == [number], why


def test_grouped_numbers(recognizer: CardNumberRecognizer) -> None:
    text = "My Visa 4111 1111 1111 1111 expires 12/25, the amex is 3782-822463-10005."
    assert found(recognizer, text) == ["4111 1111 1111 1111", "3782-822463-10005"]


def test_valid_numbers_without_context_still_count(recognizer: CardNumberRecognizer) -> None:
    assert found(recognizer, "ref 2 - 5555555555554444 - thanks") == ["5555555555554444"]


def test_card_number_followed_by_a_year(recognizer: CardNumberRecognizer) -> None:
    assert found(recognizer, "card 4111 1111 1111 1111 2027") == ["4111 1111 1111 1111"]


def test_unknown_prefix_needs_card_words(recognizer: CardNumberRecognizer) -> None:
    number = with_check_digit("350000000000000")  # 3500: no network registered there
    assert not issuer_allows(number)
    assert found(recognizer, f"What's your credit card? {number}") == [number]
    assert found(recognizer, f"The value was {number} yesterday") == []


def test_twelve_digits_need_card_words(recognizer: CardNumberRecognizer) -> None:
    number = with_check_digit("50380000000")
    assert found(recognizer, f"card number {number} is lost") == [number]
    assert found(recognizer, f"batch {number} processed") == []


@pytest.mark.parametrize(
    "text",
    [
        "Random 16 digits 4111111111111112 fail the checksum",
        "1234567812345678 is not a card",
        "Tracking number 4111111111111111 for your parcel",
        "Your order #4111111111111111 has shipped",
        "order id: 5555555555554444",
        "IMEI 490154203237518",
        "ISBN 9783161484100",
        "IBAN GB82WEST12345698765432",
        "The total was 4111111111111111.50 EUR",
        "call +4111111111111111",
        "phone 4111-1111 1111-1111 mixed separators",
    ],
)
def test_hard_negatives(recognizer: CardNumberRecognizer, text: str) -> None:
    assert found(recognizer, text) == []


def test_order_words_do_not_hide_a_card_when_card_words_are_close(recognizer: CardNumberRecognizer) -> None:
    assert found(recognizer, "for order 12, pay with card 4111111111111111") == ["4111111111111111"]
