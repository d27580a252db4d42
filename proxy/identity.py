"""Who a request is for and where it goes: provider prefix and customer id from the path or header."""

from __future__ import annotations

import re
from dataclasses import dataclass

from proxy.errors import bad_request

CUSTOMER_HEADER = "X-Customer-Id"
# Opaque account ids only: no '@' or spaces, so an e-mail address cannot become a customer id.
_CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


@dataclass(frozen=True)
class RoutedPath:
    provider: str
    subpath: str  # below the provider prefix, percent-encoding kept
    customer_from_path: str | None


def split_path(raw_path: str) -> RoutedPath:
    """`/c/{customer}/{provider}/rest` or `/{provider}/rest`."""
    path = raw_path.split("?", 1)[0]
    customer = None
    if path.startswith("/c/"):
        customer, _, path = path[3:].partition("/")
        path = "/" + path
    provider, _, rest = path[1:].partition("/")
    return RoutedPath(provider, "/" + rest, customer)


def valid_customer_id(value: str) -> bool:
    return bool(_CUSTOMER_ID.fullmatch(value))


def resolve_customer(from_path: str | None, from_header: str | None) -> str:
    if from_path is not None and from_header is not None and from_path != from_header:
        raise bad_request("the customer id in the path and in X-Customer-Id differ", "customer_mismatch")
    customer = from_path if from_path is not None else from_header
    if not customer:
        raise bad_request(
            "no customer: send the X-Customer-Id header or use the /c/{customer_id}/ path prefix",
            "missing_customer",
        )
    if not valid_customer_id(customer):
        raise bad_request(
            "invalid customer id: 1-128 characters of letters, digits, '.', '_', ':' or '-'",
            "invalid_customer",
        )
    return customer
