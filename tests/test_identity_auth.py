"""Who is calling (proxy keys) and for whom (customer id from path or header)."""

from __future__ import annotations

import pytest

from proxy.auth import KeyRing, bearer_token
from proxy.config import AppConfig
from proxy.errors import ProxyError
from proxy.identity import RoutedPath, resolve_customer, split_path, valid_customer_id

# --- split_path ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/openai/v1/chat/completions", RoutedPath("openai", "/v1/chat/completions", None)),
        ("/openai/v1/chat/completions?stream=true", RoutedPath("openai", "/v1/chat/completions", None)),
        ("/c/acme/openai/v1/models", RoutedPath("openai", "/v1/models", "acme")),
        (
            "/c/acme-42.eu/azure/openai/deployments/x",
            RoutedPath("azure", "/openai/deployments/x", "acme-42.eu"),
        ),
        (
            "/gemini/v1beta/models/gemini-2.0-flash%3AgenerateContent?alt=sse",
            RoutedPath("gemini", "/v1beta/models/gemini-2.0-flash%3AgenerateContent", None),
        ),
        (
            "/bedrock/model/anthropic.claude-3%3A0/invoke",
            RoutedPath("bedrock", "/model/anthropic.claude-3%3A0/invoke", None),
        ),
        ("/openai", RoutedPath("openai", "/", None)),
        ("/c/acme", RoutedPath("", "/", "acme")),
        ("/c/user%40mail.com/openai/v1/models", RoutedPath("openai", "/v1/models", "user%40mail.com")),
    ],
)
def test_split_path(raw: str, expected: RoutedPath) -> None:
    assert split_path(raw) == expected


def test_query_string_does_not_leak_into_customer() -> None:
    assert split_path("/c/acme?x=/evil/openai").customer_from_path == "acme"


# --- resolve_customer ------------------------------------------------------------------------


def test_customer_from_path_or_header() -> None:
    assert resolve_customer("acme", None) == "acme"
    assert resolve_customer(None, "acme") == "acme"
    assert resolve_customer("acme", "acme") == "acme"


def expect_400(code: str, from_path: str | None, from_header: str | None) -> ProxyError:
    with pytest.raises(ProxyError) as info:
        resolve_customer(from_path, from_header)
    assert info.value.status == 400
    assert info.value.code == code
    return info.value


def test_missing_customer() -> None:
    expect_400("missing_customer", None, None)
    expect_400("missing_customer", None, "")
    expect_400("missing_customer", "", None)


def test_customer_mismatch() -> None:
    error = expect_400("customer_mismatch", "acme", "globex")
    # The refusal does not echo the ids back.
    assert "acme" not in error.message
    assert "globex" not in error.message


@pytest.mark.parametrize(
    "customer",
    [
        "john.smith@example.com",
        "user%40mail.com",
        "acme corp",
        "-leading-dash",
        ".hidden",
        "a" * 129,
        "acme\n",
        "acme/evil",
        "zoë",
        "\uff46\uff55\uff4c\uff4cwidth",
        "٣٤٥",
    ],
)
def test_invalid_customer(customer: str) -> None:
    assert not valid_customer_id(customer)
    error = expect_400("invalid_customer", None, customer)
    assert customer not in error.message
    expect_400("invalid_customer", customer, None)


@pytest.mark.parametrize("customer", ["a", "acme", "ACME-42", "org:team_1.eu", "0" * 128, "9b2f-uuid-like"])
def test_valid_customer(customer: str) -> None:
    assert valid_customer_id(customer)
    assert resolve_customer(None, customer) == customer
    assert resolve_customer(customer, customer) == customer


def test_path_and_header_from_a_split_path() -> None:
    routed = split_path("/c/acme/openai/v1/chat/completions")
    assert resolve_customer(routed.customer_from_path, "acme") == "acme"
    expect_400("customer_mismatch", routed.customer_from_path, "globex")
    expect_400("invalid_customer", split_path("/c/a%40b.com/openai/v1/x").customer_from_path, None)


# --- bearer_token ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer sk-abc", "sk-abc"),
        ("bearer sk-abc", "sk-abc"),
        ("BEARER sk-abc", "sk-abc"),
        ("Bearer   sk-abc  ", "sk-abc"),
        ("Bearer ", None),
        ("Bearer", None),
        ("Basic dXNlcjpwYXNz", None),
        ("sk-abc", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


# --- KeyRing ---------------------------------------------------------------------------------

APPS = [
    AppConfig("billing", "billing-key-0123456789"),
    AppConfig("support", "support-key-0123456789"),
    AppConfig("keyless", ""),
]


def test_app_for_known_keys() -> None:
    ring = KeyRing(APPS)
    assert ring.app_for("billing-key-0123456789") == "billing"
    assert ring.app_for("support-key-0123456789") == "support"


@pytest.mark.parametrize(
    "presented",
    [
        None,
        "",
        "billing-key-012345678",
        "billing-key-01234567890",
        "BILLING-KEY-0123456789",
        " billing-key-0123456789",
    ],
)
def test_app_for_unknown_keys(presented: str | None) -> None:
    assert KeyRing(APPS).app_for(presented) is None


def test_app_without_key_cannot_be_reached() -> None:
    ring = KeyRing([AppConfig("keyless", "")])
    assert ring.app_for("") is None
    assert ring.app_for("anything-long-enough") is None


def test_bearer_and_keyring_together() -> None:
    ring = KeyRing(APPS)
    assert ring.app_for(bearer_token("Bearer support-key-0123456789")) == "support"
    assert ring.app_for(bearer_token("Basic support-key-0123456789")) is None
