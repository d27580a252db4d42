"""Dry runs: what a request would send upstream, shown instead of sent.

A privacy engineer (or a test of a new integration) sends a request with `X-Consentry-Dry-Run: 1`.
It goes through everything a real request does - authentication, consent, detection, masking,
the provider adapter building the upstream request - and then the proxy answers with that
upstream request instead of sending it: method, URL, headers (credentials shown as
`[credential]`) and the masked body. Nothing reaches the provider and no sharing record is
written, since nothing was shared. Placeholders are shown as sent; their original values are not
in the answer."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import orjson

from proxy.providers.base import UpstreamRequest

DRY_RUN_HEADER = "X-Consentry-Dry-Run"
# Headers whose values are credentials (the proxy's own upstream keys or signatures).
CREDENTIAL_HEADERS = frozenset(
    {"authorization", "api-key", "x-goog-api-key", "x-amz-security-token", "x-api-key", "cookie"}
)


def requested(headers: Mapping[str, str]) -> bool:
    return headers.get(DRY_RUN_HEADER, "").strip().lower() in ("1", "true", "yes")


def _body(body: bytes | None, content_type: str) -> Any:
    if not body:
        return None
    if "json" in content_type:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode()}


def describe(outgoing: UpstreamRequest, summary: Mapping[str, Any]) -> bytes:
    """The answer to a dry run: `summary` (ids, decision, entities) and the upstream request."""
    headers = {
        name: "[credential]" if name.lower() in CREDENTIAL_HEADERS else value
        for name, value in outgoing.headers.items()
    }
    content_type = next((v for k, v in outgoing.headers.items() if k.lower() == "content-type"), "")
    return orjson.dumps(
        {
            "dry_run": True,
            **summary,
            "upstream": {
                "method": outgoing.method,
                "url": str(outgoing.url),
                "headers": headers,
                "body": _body(outgoing.body, content_type),
            },
        }
    )
