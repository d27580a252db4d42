"""SigV4 for the Bedrock leg: sign what the proxy sends, verify what callers send.

All cryptography and canonicalisation is botocore's (`SigV4Auth`); this module
only parses the caller's Authorization header and feeds botocore the exact
inputs the caller signed.

Path encoding, checked against real boto3 requests (see tests/test_aws_sigv4.py):
boto3 puts a model id on the wire percent-encoded (`...-v1%3A0`, an ARN as
`arn%3Aaws%3Abedrock%3A...%2F...`), and botocore's canonical URI is that wire
path quoted once more (`%3A` -> `%253A`): for every service but S3 the canonical
path is the *encoded* path encoded again. So a verifier must start from the raw
path exactly as received, never a decoded one, and a signer must sign exactly
the path it will put on the wire. aiohttp/yarl decode `%3A` to `:` unless the
URL is built with `yarl.URL(url, encoded=True)`; a request sent that way would
not match a signature computed over `%3A`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import urlsplit

from botocore.auth import SIGV4_TIMESTAMP, UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

__all__ = [
    "ALGORITHM",
    "INCOMPLETE_SIGNATURE",
    "INVALID_SIGNATURE",
    "MISSING_AUTHENTICATION_TOKEN",
    "UNRECOGNIZED_CLIENT",
    "SigV4Error",
    "VerifiedCaller",
    "sign_request",
    "verify_request",
]

ALGORITHM = "AWS4-HMAC-SHA256"

# Error codes as AWS JSON services put them in `x-amzn-ErrorType`; boto3 turns
# the header into `ClientError.response["Error"]["Code"]`.
MISSING_AUTHENTICATION_TOKEN = "MissingAuthenticationTokenException"
INCOMPLETE_SIGNATURE = "IncompleteSignatureException"
INVALID_SIGNATURE = "InvalidSignatureException"
UNRECOGNIZED_CLIENT = "UnrecognizedClientException"

_SIGNATURE_RE = re.compile(r"^[0-9a-f]{64}$")
_HEADER_NAME_RE = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")


class SigV4Error(Exception):
    """A refused caller signature.

    `code` is the AWS error type to send back (HTTP 403, header
    `x-amzn-ErrorType`, body `{"message": ...}`); `reason` is a finer, stable
    label for logs and tests: "missing", "malformed", "scope", "expired",
    "not-yet-valid", "unknown-key", "payload-hash", "mismatch".
    The message never contains secrets or request content.
    """

    status = 403

    def __init__(self, code: str, message: str, reason: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class VerifiedCaller:
    access_key_id: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    request_time: datetime
    session_token: str | None = None


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Credentials,
    region: str,
    service: str = "bedrock",
) -> dict[str, str]:
    """Return `headers` plus Authorization, X-Amz-Date (and X-Amz-Security-Token).

    Sign only headers the proxy itself will send, with the values it will send:
    every header passed here is signed (except botocore's unsigned set such as
    user-agent). Host is signed as derived from `url` and not returned; the
    HTTP client must send that same Host (aiohttp does, default port omitted).
    The path in `url` is signed as written: send it unchanged (with aiohttp,
    `yarl.URL(url, encoded=True)`).
    """
    request = AWSRequest(method=method.upper(), url=url, data=body, headers=dict(headers))
    SigV4Auth(credentials, service, region).add_auth(request)
    return {name: value for name, value in request.headers.items()}


class _SignedHeadersOnly(SigV4Auth):
    """SigV4Auth whose canonical headers are exactly the caller's SignedHeaders.

    botocore would otherwise pick headers itself (dropping e.g. user-agent, adding
    host), which need not match what the caller's signer chose.
    """

    def __init__(self, credentials: Credentials, service: str, region: str, signed: HTTPHeaders) -> None:
        super().__init__(credentials, service, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._signed


def _header_values(headers: Mapping[str, str], name: str) -> list[str]:
    # aiohttp's CIMultiDictProxy keeps repeated headers; SigV4 joins them with ",".
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    for key, value in headers.items():
        if key.lower() == name:
            return [value]
    return []


class _Authorization(NamedTuple):
    key_id: str
    date: str  # YYYYMMDD from the credential scope
    region: str
    service: str
    signed_headers_text: str  # exactly as sent, e.g. "content-type;host;x-amz-date"
    signed_headers: list[str]
    signature: str


def _parse_authorization(value: str) -> _Authorization:
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SigV4Error(
            INCOMPLETE_SIGNATURE, f"Unsupported authorization algorithm, expected {ALGORITHM}.", "malformed"
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, val = part.strip().partition("=")
        if not sep or key in fields:
            raise SigV4Error(INCOMPLETE_SIGNATURE, "Authorization header is malformed.", "malformed")
        fields[key] = val.strip()
    for required in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(required):
            raise SigV4Error(
                INCOMPLETE_SIGNATURE, f"Authorization header requires '{required}' parameter.", "malformed"
            )
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or not all(scope) or scope[4] != "aws4_request":
        raise SigV4Error(
            INCOMPLETE_SIGNATURE,
            "Credential must have the form <key>/<date>/<region>/<service>/aws4_request.",
            "malformed",
        )
    signed = fields["SignedHeaders"].split(";")
    if not all(_HEADER_NAME_RE.match(name) for name in signed):
        raise SigV4Error(INCOMPLETE_SIGNATURE, "SignedHeaders must be lower-case header names.", "malformed")
    signature = fields["Signature"]
    if not _SIGNATURE_RE.match(signature):
        raise SigV4Error(INCOMPLETE_SIGNATURE, "Signature must be 64 lower-case hex digits.", "malformed")
    key_id, date, region, service, _ = scope
    return _Authorization(key_id, date, region, service, fields["SignedHeaders"], signed, signature)


def verify_request(
    method: str,
    raw_path_with_query_as_received: str,
    headers: Mapping[str, str],
    body: bytes,
    secret_lookup: Callable[[str], str | None],
    *,
    now: datetime,
    max_skew_s: int = 300,
    service: str = "bedrock",
    expected_region: str | None = None,
    allow_unsigned_payload: bool = False,
) -> VerifiedCaller:
    """Check a caller's header-based SigV4 signature; raise SigV4Error when it fails.

    `raw_path_with_query_as_received` must be the request target exactly as on
    the wire (aiohttp: `request.raw_path`), percent-encoding untouched.
    `headers` may be a plain mapping or a multidict (repeated headers joined).
    `secret_lookup(access_key_id)` returns the secret or None for unknown keys.
    """
    authorizations = _header_values(headers, "authorization")
    if not authorizations:
        raise SigV4Error(MISSING_AUTHENTICATION_TOKEN, "Missing Authentication Token", "missing")
    if len(authorizations) > 1:
        raise SigV4Error(INCOMPLETE_SIGNATURE, "More than one Authorization header.", "malformed")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    auth_header = _parse_authorization(authorizations[0])
    key_id, region, signed = auth_header.key_id, auth_header.region, auth_header.signed_headers

    if "host" not in signed:
        raise SigV4Error(INCOMPLETE_SIGNATURE, "'Host' must be a signed header.", "malformed")
    amz_dates = _header_values(headers, "x-amz-date")
    if len(amz_dates) != 1:
        # botocore and the AWS SDKs always send X-Amz-Date; the Date-header
        # variant is not worth supporting here.
        raise SigV4Error(
            INCOMPLETE_SIGNATURE,
            "Authorization header requires existence of a 'X-Amz-Date' header.",
            "malformed",
        )
    if "x-amz-date" not in signed:
        raise SigV4Error(INCOMPLETE_SIGNATURE, "'X-Amz-Date' must be a signed header.", "malformed")
    amz_date = amz_dates[0].strip()
    try:
        request_time = datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise SigV4Error(
            INCOMPLETE_SIGNATURE,
            "X-Amz-Date must be in ISO-8601 basic format (YYYYMMDDTHHMMSSZ).",
            "malformed",
        ) from None

    if auth_header.service != service:
        raise SigV4Error(
            INVALID_SIGNATURE, f"Credential should be scoped to correct service: '{service}'.", "scope"
        )
    if expected_region is not None and region != expected_region:
        raise SigV4Error(
            INVALID_SIGNATURE, f"Credential should be scoped to a valid region, not '{region}'.", "scope"
        )
    if auth_header.date != amz_date[:8]:
        raise SigV4Error(
            INVALID_SIGNATURE, "Date in Credential scope does not match YYYYMMDD from X-Amz-Date.", "scope"
        )

    skew = (now - request_time).total_seconds()
    now_text = now.astimezone(UTC).strftime(SIGV4_TIMESTAMP)
    if skew > max_skew_s:
        # Same wording as AWS, which botocore's clock-skew handling recognises.
        raise SigV4Error(
            INVALID_SIGNATURE,
            f"Signature expired: {amz_date} is now earlier than {now_text} - {max_skew_s // 60} min.",
            "expired",
        )
    if skew < -max_skew_s:
        raise SigV4Error(
            INVALID_SIGNATURE,
            f"Signature not yet current: {amz_date} is still later than {now_text} + {max_skew_s // 60} min.",
            "not-yet-valid",
        )

    secret = secret_lookup(key_id)
    if secret is None:
        raise SigV4Error(
            UNRECOGNIZED_CLIENT, "The security token included in the request is invalid.", "unknown-key"
        )

    signed_map = HTTPHeaders()
    for name in signed:
        values = _header_values(headers, name)
        if not values:
            raise SigV4Error(
                INVALID_SIGNATURE, f"Signed header '{name}' is missing from the request.", "mismatch"
            )
        for value in values:
            signed_map[name] = value

    # botocore takes a signed x-amz-content-sha256 header at its word as the
    # payload hash, so check it against the body ourselves: otherwise a client
    # could sign one body and send another.
    content_sha = _header_values(headers, "x-amz-content-sha256")
    if content_sha and "x-amz-content-sha256" in signed:
        claimed = content_sha[0].strip()
        if claimed == UNSIGNED_PAYLOAD:
            if not allow_unsigned_payload:
                raise SigV4Error(INVALID_SIGNATURE, "Unsigned payloads are not accepted.", "payload-hash")
        elif not hmac.compare_digest(claimed.lower(), hashlib.sha256(body).hexdigest()):
            raise SigV4Error(
                INVALID_SIGNATURE,
                "The provided x-amz-content-sha256 does not match the body.",
                "payload-hash",
            )

    host = signed_map.get("host", "localhost")
    # The scheme only matters to botocore when no payload hash header is present
    # (it skips hashing for https with payload signing off); "http" makes it
    # always hash the body we were given.
    request = AWSRequest(
        method=method.upper(), url=f"http://{host}{raw_path_with_query_as_received}", data=body
    )
    if "x-amz-content-sha256" in signed:
        # botocore reads the payload hash from this header when present.
        request.headers["X-Amz-Content-SHA256"] = content_sha[0].strip()
    request.context["timestamp"] = amz_date
    if urlsplit(request.url).netloc != host:
        raise SigV4Error(INCOMPLETE_SIGNATURE, "Host header is malformed.", "malformed")

    auth = _SignedHeadersOnly(Credentials(key_id, secret), service, region, signed_map)
    if auth.signed_headers(signed_map) != auth_header.signed_headers_text:
        # botocore lists signed headers sorted and de-duplicated; a caller whose
        # list is not in that form signed a different canonical request.
        raise SigV4Error(INVALID_SIGNATURE, "SignedHeaders must be sorted and unique.", "mismatch")
    canonical_request = auth.canonical_request(request)
    string_to_sign = auth.string_to_sign(request, canonical_request)
    expected = auth.signature(string_to_sign, request)
    if not hmac.compare_digest(expected, auth_header.signature):
        raise SigV4Error(
            INVALID_SIGNATURE,
            "The request signature we calculated does not match the signature you provided.",
            "mismatch",
        )
    tokens = _header_values(headers, "x-amz-security-token")
    return VerifiedCaller(
        access_key_id=key_id,
        region=region,
        service=service,
        signed_headers=tuple(signed),
        request_time=request_time,
        session_token=tokens[0] if tokens else None,
    )
