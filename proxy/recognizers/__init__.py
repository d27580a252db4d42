"""Consentry's own recognizers, built on Presidio's extension points (PatternRecognizer,
EntityRecognizer). Each module holds one family; `consentry_recognizers()` is the one list the
detector registers, next to Presidio's defaults."""

from __future__ import annotations

from collections.abc import Sequence

from presidio_analyzer import EntityRecognizer

from proxy.recognizers.addresses import StreetAddressRecognizer
from proxy.recognizers.cards import CardNumberRecognizer
from proxy.recognizers.dates import CodeAwareDateRecognizer
from proxy.recognizers.emails import ObfuscatedEmailRecognizer
from proxy.recognizers.fields import FieldRecognizer
from proxy.recognizers.handles import UserHandleRecognizer
from proxy.recognizers.iban import IbanRecognizer
from proxy.recognizers.ip_addresses import AddressableIpRecognizer
from proxy.recognizers.names import NerRecognizer, PersonRecognizer
from proxy.recognizers.national_ids import national_id_recognizers
from proxy.recognizers.phones import PhoneNumberRecognizer
from proxy.recognizers.secrets import SecretRecognizer
from proxy.recognizers.urls import CodeAwareUrlRecognizer


def consentry_recognizers(phone_regions: Sequence[str] | None = None) -> list[EntityRecognizer]:
    return [
        PhoneNumberRecognizer(regions=phone_regions) if phone_regions else PhoneNumberRecognizer(),
        CardNumberRecognizer(),
        PersonRecognizer(),
        NerRecognizer(),
        StreetAddressRecognizer(),
        SecretRecognizer(),
        FieldRecognizer(),
        IbanRecognizer(),
        AddressableIpRecognizer(),
        *national_id_recognizers(),
        ObfuscatedEmailRecognizer(),
        UserHandleRecognizer(),
        CodeAwareUrlRecognizer(),
        CodeAwareDateRecognizer(),
    ]


# Presidio default recognizers that a Consentry recognizer replaces (same entity, better validation).
REPLACED_DEFAULTS: frozenset[str] = frozenset(
    {
        "PhoneRecognizer",  # phones.PhoneNumberRecognizer: more regions and formats, same validity floor
        "CreditCardRecognizer",  # cards.CardNumberRecognizer: every issuer prefix and length, Luhn
        "IpRecognizer",  # ip_addresses.AddressableIpRecognizer: no loopback, unspecified or netmask
        "IbanRecognizer",  # iban.IbanRecognizer: ends at the country's registered length (no next word)
        "SpacyRecognizer",  # names.NerRecognizer (no product names) + names.PersonRecognizer (PERSON)
        "UrlRecognizer",  # urls.CodeAwareUrlRecognizer: whole tokens, real TLDs, not identifiers of code
        "DateRecognizer",  # dates.CodeAwareDateRecognizer: the same patterns, not timestamps in code and logs
    }
)
