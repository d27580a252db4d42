"""Written-out e-mail addresses: the forms people use, and the prose and code that look like them."""

from __future__ import annotations

import pytest
import tldextract

from proxy.recognizers.emails import COUNTRY_TLDS, GENERIC_TLDS, ObfuscatedEmailRecognizer

THRESHOLD = 0.4  # the default policy's threshold


@pytest.fixture(scope="module")
def recognizer() -> ObfuscatedEmailRecognizer:
    return ObfuscatedEmailRecognizer()


def found(recognizer: ObfuscatedEmailRecognizer, text: str) -> list[str]:
    return [
        text[r.start : r.end] for r in recognizer.analyze(text, ["EMAIL_ADDRESS"]) if r.score >= THRESHOLD
    ]


@pytest.mark.parametrize(
    "address",
    [
        "tobias dot brandt at gmail dot com",
        "tobias.brandt at gmail dot com",
        "t_brandt at posteo dot de",
        "wilma(at)hofer-bau(dot)at",
        "wilma (at) hofer-bau (dot) at",
        "wilma [at] hofer-bau [dot] co [dot] uk",
        "wilma{at}hofer-bau{dot}ch",
        "wilma<at>hofer-bau<dot>ch",
        "kontakt AT hofer-bau DOT ch",
        "WILMA AT HOFERBAU DOT DE",
        "wilma.hofer @ hofer-bau.ch",
        "wilma.hofer@ hofer-bau.ch",
        "wilma.hofer @hofer-bau.ch",
        "wilma(at)hofer-bau.ch",
        "wilma@hofer-bau(dot)ch",
        "wilma.hofer@hofer-bau .ch",
        "wilma underscore hofer at gmx dot net",
        "wilma underscore hofer AT hofer-bau DOT it",
    ],
)
def test_written_forms_are_found_whole(recognizer: ObfuscatedEmailRecognizer, address: str) -> None:
    assert found(recognizer, f"You can write to {address} if needed.") == [address]


def test_lower_case_spelled_form_with_an_email_word_before(recognizer: ObfuscatedEmailRecognizer) -> None:
    assert found(recognizer, "My e-mail is oskar at lindqvist dot se.") == ["oskar at lindqvist dot se"]
    assert found(recognizer, "Contact: oskar at lindqvist dot se") == ["oskar at lindqvist dot se"]


def test_lower_case_spelled_form_with_a_mail_provider(recognizer: ObfuscatedEmailRecognizer) -> None:
    assert found(recognizer, "it is oskar at yahoo dot com, I think") == ["oskar at yahoo dot com"]


def test_the_domain_ends_at_its_last_real_tld(recognizer: ObfuscatedEmailRecognizer) -> None:
    assert found(recognizer, "mail oskar at lindqvist dot se dot hello") == ["oskar at lindqvist dot se"]
    # A full stop ends the sentence, not a label.
    assert found(recognizer, "Mail me: oskar [at] lindqvist [dot] se.Thanks") == [
        "oskar [at] lindqvist [dot] se"
    ]


def test_a_function_word_tld_needs_evidence(recognizer: ObfuscatedEmailRecognizer) -> None:
    assert found(recognizer, "scrivimi: piero at libero dot it") == ["piero at libero dot it"]
    assert found(recognizer, "it was piero at noon dot it") == []
    # A later "dot in" does not extend an address that already ended in a real TLD.
    assert found(recognizer, "email bob at acme dot com dot in the morning") == ["bob at acme dot com"]


def test_a_space_after_a_full_stop_is_not_a_dot(recognizer: ObfuscatedEmailRecognizer) -> None:
    assert found(recognizer, "mail wilma @ hofer-bau.ch. It is urgent") == ["wilma @ hofer-bau.ch"]


def test_plain_addresses_are_left_to_presidio(recognizer: ObfuscatedEmailRecognizer) -> None:
    assert found(recognizer, "mail oskar.lindqvist@example.se today") == []


@pytest.mark.parametrize(
    "text",
    [
        "meet me at the station dot",
        "I am at home",
        "look at this dot com bubble",
        "we met at acme dot com offices",
        "the meeting at noon dot com",
        "open main dot py at line 3",
        "he is at this dot in time",
        "the cursor is at column dot com",
        "I work at google.com now",
        "she arrived at example.org yesterday",
        "Sarah works at Initech dot com",
        "a red dot at the top, a blue dot at the bottom",
        "y = weights @ self.data",
        "result = a @ b.ch",
        "@app.route('/users')",
        "class Foo:\n    @functools.cache\n    def bar(self): ...",
        "ping me at 10 dot 30",
        "rates are at 3 dot 5 percent",
        "email me at gmail dot notatld",
    ],
)
def test_prose_and_code_are_not_addresses(recognizer: ObfuscatedEmailRecognizer, text: str) -> None:
    assert found(recognizer, text) == []


def test_other_entities_are_not_analysed(recognizer: ObfuscatedEmailRecognizer) -> None:
    assert recognizer.analyze("wilma(at)hofer-bau(dot)ch", ["PHONE_NUMBER"]) == []


def test_tld_lists_are_real_public_suffixes() -> None:
    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    known = set(extractor.tlds)
    assert known >= COUNTRY_TLDS
    assert known >= GENERIC_TLDS
