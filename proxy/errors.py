"""Errors the proxy itself raises; each adapter renders them in its provider's own shape."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class ProxyError(Exception):
    """A refusal with an HTTP status and a stable, machine-readable code.

    `message` must never contain request text or detected values.
    """

    status: int
    code: str
    message: str
    details: Mapping[str, object] = field(default_factory=dict)
    # Seconds a caller should wait before retrying (sent as Retry-After); None: not retryable advice.
    retry_after_s: int | None = None

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def bad_request(message: str, code: str = "invalid_request") -> ProxyError:
    return ProxyError(400, code, message)


def unauthorized(message: str = "invalid or missing proxy API key") -> ProxyError:
    return ProxyError(401, "invalid_api_key", message)


def forbidden(code: str, message: str, **details: object) -> ProxyError:
    return ProxyError(403, code, message, details)


def not_found(message: str) -> ProxyError:
    return ProxyError(404, "not_found", message)


def too_large(limit: int) -> ProxyError:
    return ProxyError(413, "request_too_large", f"request body exceeds {limit} bytes")


def bad_gateway(message: str) -> ProxyError:
    return ProxyError(502, "upstream_unavailable", message)


def upstream_redirect(status: int) -> ProxyError:
    return ProxyError(
        502,
        "upstream_redirect",
        f"the provider answered with a redirect ({status}), which Consentry neither follows nor relays",
    )


ANSWER_TOO_LARGE = "upstream_answer_too_large"


def answer_too_large(limit: int) -> ProxyError:
    return ProxyError(
        502,
        ANSWER_TOO_LARGE,
        f"the provider's answer is larger than {limit} bytes; nothing of it was relayed",
    )


def gateway_timeout(message: str) -> ProxyError:
    return ProxyError(504, "upstream_timeout", message)


def detection_unavailable(message: str, retry_after_s: float | None = None) -> ProxyError:
    return ProxyError(503, "detection_unavailable", message, retry_after_s=_seconds(retry_after_s))


def detection_overloaded(retry_after_s: float) -> ProxyError:
    return ProxyError(
        429,
        "detection_overloaded",
        "personal-data detection is busy; nothing was sent. Retry after the time in Retry-After.",
        retry_after_s=_seconds(retry_after_s),
    )


def text_over_budget(cost: int, fields: int, limit: int) -> ProxyError:
    """413 for a request with more text than one request may send through detection: not retryable."""
    return ProxyError(
        413,
        "text_too_long",
        f"the request carries {cost} characters of text to scan (counting its {fields} text fields); "
        f"the limit is {limit} per request (detection.max_chars). Send less text in one request: "
        "this request will be refused again.",
    )


def ledger_unavailable() -> ProxyError:
    return ProxyError(
        503,
        "ledger_unavailable",
        "the sharing ledger cannot record requests right now; nothing was sent",
        retry_after_s=5,
    )


def shutting_down() -> ProxyError:
    return ProxyError(503, "shutting_down", "the proxy is shutting down; retry", retry_after_s=1)


def _seconds(value: float | None) -> int | None:
    """Whole seconds for Retry-After, at least 1."""
    return None if value is None else max(1, math.ceil(value))
