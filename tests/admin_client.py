"""Talking to a test proxy's admin listener: tokens, a client, and the OpenAPI check every
answer goes through."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from proxy.admin.openapi import openapi_document

ADMIN_TOKEN = "admin-token-0123456789abcdefghij"
READER_TOKEN = "reader-token-0123456789abcdefghij"
ADMIN_SETTINGS: dict[str, Any] = {
    "tokens": {
        "privacy-officer": {"role": "admin", "token": ADMIN_TOKEN},
        "auditor": {"role": "reader", "token": READER_TOKEN},
    }
}

# One line of JSON Lines is validated as the object the document names for that media type.
_SPEC = OpenAPI.from_dict(
    openapi_document(),
    config=Config(
        extra_media_type_deserializers={
            "application/x-ndjson": orjson.loads,
            "text/csv": lambda raw: raw.decode() if isinstance(raw, bytes) else raw,
        }
    ),
)


def check_against_openapi(request: httpx.Request, response: httpx.Response) -> None:
    """Validates a real answer (status, content type, headers, body) against /admin/openapi.json."""
    content_type = response.headers.get("content-type", "").split(";")[0]
    if content_type == "application/x-ndjson":
        # One schema per line: validate each line as the documented object.
        lines = [line for line in response.content.split(b"\n") if line]
        for line in lines:
            _validate(request, response, line, "application/x-ndjson")
        return
    _validate(request, response, response.content, content_type)


def _validate(request: httpx.Request, response: httpx.Response, body: bytes, content_type: str) -> None:
    mock_request = MockRequest(
        "http://localhost",
        request.method.lower(),
        request.url.path,
        args=dict(request.url.params),
        headers={k: v for k, v in request.headers.items() if k.lower() not in ("content-length",)},
        data=request.content or None,
        content_type=request.headers.get("content-type", "application/json"),
    )
    mock_response = MockResponse(
        body, status_code=response.status_code, headers=dict(response.headers), content_type=content_type
    )
    _SPEC.validate_response(mock_request, mock_response)


class AdminClient:
    def __init__(self, base_url: str, token: str | None = ADMIN_TOKEN, check: bool = True) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=base_url, headers=headers, timeout=30)
        self._check = check

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._client.request(method, path, **kwargs)
        if self._check:
            check_against_openapi(response.request, response)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def close(self) -> None:
        self._client.close()
