"""Adversarial input costs each pattern recognizer time linear in its length, with a small constant:
32 KB of any of these shapes analyses well under a second (a quadratic path took 21 s here)."""

from __future__ import annotations

import random
import time

import pytest
from presidio_analyzer import EntityRecognizer

from proxy.recognizers.addresses import StreetAddressRecognizer
from proxy.recognizers.cards import CardNumberRecognizer
from proxy.recognizers.phones import PhoneNumberRecognizer

SIZE = 32 * 1024
LIMIT_S = 4.0  # catastrophic backtracking takes minutes; each case takes well under 0.5 s alone


def repeat(unit: str, size: int = SIZE) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def random_digit_groups(shape: str, seed: int = 1) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    while sum(map(len, parts)) < SIZE:
        parts.append("".join(str(rng.randint(0, 9)) if c == "d" else c for c in shape))
    return "".join(parts)[:SIZE]


ADVERSARIAL = {
    "one-digit groups": repeat("1 "),
    "dashed one-digit groups": repeat("1-"),
    "two-digit groups": repeat("12 "),
    "random digit groups": random_digit_groups("d "),
    "random two-digit groups": random_digit_groups("dd "),
    "letter dots": repeat("a."),
    "angle brackets": repeat("<"),
    "one long line": repeat("word "),
    "50 KB of digits": "1" * 50 * 1024,
    "corner of": repeat("corner of "),
    "corner of, then and": repeat("corner of " * 7 + "and . "),
    "post office boxes": repeat("PO Box 1 "),
    "street names and numbers": repeat("Lindenstraat 12 "),
}

RECOGNIZERS: dict[str, EntityRecognizer] = {
    "cards": CardNumberRecognizer(),
    "phones": PhoneNumberRecognizer(),
    "addresses": StreetAddressRecognizer(),
}


@pytest.mark.parametrize("recognizer", list(RECOGNIZERS))
@pytest.mark.parametrize("shape", list(ADVERSARIAL))
def test_adversarial_input_is_analysed_quickly(recognizer: str, shape: str) -> None:
    found = RECOGNIZERS[recognizer]
    text = ADVERSARIAL[shape]
    started = time.perf_counter()
    found.analyze(text, found.supported_entities, None)
    elapsed = time.perf_counter() - started
    assert elapsed < LIMIT_S, f"{recognizer} took {elapsed:.2f}s on 32 KB of {shape}"


def test_card_in_a_long_run_of_groups_is_still_found() -> None:
    # The bounded search still finds a card at either end of a long run of digit groups.
    cards = CardNumberRecognizer()
    text = "card 4111 1111 1111 1111 " + "1 " * 2000
    found = cards.analyze(text, ["CREDIT_CARD"], None)
    assert [(text[r.start : r.end]) for r in found] == ["4111 1111 1111 1111"]
    tail = "card: " + "7 " * 2000 + "4111 1111 1111 1111"
    found = cards.analyze(tail, ["CREDIT_CARD"], None)
    assert [(tail[r.start : r.end]) for r in found] == ["4111 1111 1111 1111"]


def test_repeated_numbers_are_validated_once_per_text() -> None:
    phones = PhoneNumberRecognizer()
    calls = 0
    validate = phones._whole_number_valid

    def counting(number: str) -> bool:
        nonlocal calls
        calls += 1
        return validate(number)

    phones._whole_number_valid = counting  # type: ignore[method-assign]
    text = "call 5551234 or 5551234, else 5551234 ok"
    assert len(phones.analyze(text, ["PHONE_NUMBER"], None)) == 3
    assert calls == 1
