"""SigV4 signing and verification against what a real boto3 bedrock-runtime client sends."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import boto3
import pytest
from aiohttp import web
from botocore.config import Config
from botocore.credentials import Credentials
from yarl import URL

from proxy.aws_sigv4 import (
    INCOMPLETE_SIGNATURE,
    INVALID_SIGNATURE,
    MISSING_AUTHENTICATION_TOKEN,
    UNRECOGNIZED_CLIENT,
    SigV4Error,
    VerifiedCaller,
    sign_request,
    verify_request,
)
from tests.fakes.server import BackgroundServer, ReceivedRequest, Recorder

CALLER_KEY = "AKIDCALLEREXAMPLE"
CALLER_SECRET = "caller/secret+key"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
PROFILE_ARN = (
    "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0"
)

CONVERSE_ANSWER = {
    "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2},
    "metrics": {"latencyMs": 1},
}


def secrets(key_id: str) -> str | None:
    return {CALLER_KEY: CALLER_SECRET}.get(key_id)


@pytest.fixture(scope="module")
def capture() -> Iterator[tuple[BackgroundServer, Recorder]]:
    """A loopback server that records each request's raw bytes and answers like Converse."""
    recorder = Recorder()

    async def handler(request: web.Request) -> web.Response:
        await recorder.record(request)
        return web.json_response(CONVERSE_ANSWER)

    def make_app() -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        return app

    server = BackgroundServer(make_app).start()
    yield server, recorder
    server.stop()


def bedrock_client(url: str, secret: str = CALLER_SECRET, token: str | None = None) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=url,
        region_name="eu-west-1",
        aws_access_key_id=CALLER_KEY,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1}),
    )


def converse_via_boto3(
    capture: tuple[BackgroundServer, Recorder], model_id: str, **kwargs: Any
) -> ReceivedRequest:
    server, recorder = capture
    recorder.clear()
    client = bedrock_client(server.url + "/bedrock", **kwargs)
    answer = client.converse(
        modelId=model_id, messages=[{"role": "user", "content": [{"text": "Hi, I am Zoë"}]}]
    )
    assert answer["output"]["message"]["content"][0]["text"] == "ok"
    (received,) = recorder.requests
    return received


def verify(received: ReceivedRequest, **overrides: Any) -> VerifiedCaller:
    args: dict[str, Any] = {
        "method": received.method,
        "raw_path_with_query_as_received": received.path,
        "headers": received.headers,
        "body": received.body,
        "secret_lookup": secrets,
        "now": datetime.now(UTC),
    }
    args.update(overrides)
    return verify_request(
        args.pop("method"),
        args.pop("raw_path_with_query_as_received"),
        args.pop("headers"),
        args.pop("body"),
        args.pop("secret_lookup"),
        **args,
    )


def expect_error(code: str, reason: str, received: ReceivedRequest, **overrides: Any) -> SigV4Error:
    with pytest.raises(SigV4Error) as info:
        verify(received, **overrides)
    assert (info.value.code, info.value.reason) == (code, reason), info.value
    assert info.value.status == 403
    return info.value


@pytest.mark.parametrize("model_id", [HAIKU, PROFILE_ARN])
def test_real_boto3_request_verifies(capture: tuple[BackgroundServer, Recorder], model_id: str) -> None:
    received = converse_via_boto3(capture, model_id)
    # The wire path keeps boto3's percent-encoding of the model id ...
    assert received.path.startswith("/bedrock/model/")
    assert "%3A" in received.path and ":" not in received.path
    if model_id == PROFILE_ARN:
        assert "inference-profile%2Feu.anthropic" in received.path
    caller = verify(received)
    assert caller.access_key_id == CALLER_KEY
    assert caller.region == "eu-west-1" and caller.service == "bedrock"
    assert "host" in caller.signed_headers and "x-amz-date" in caller.signed_headers


def test_decoded_path_does_not_verify(capture: tuple[BackgroundServer, Recorder]) -> None:
    # ... and the signature covers that encoded form (canonicalised as %253A):
    # verifying over a decoded path, as a router's match_info would give, fails.
    received = converse_via_boto3(capture, HAIKU)
    decoded = received.path.replace("%3A", ":")
    expect_error(INVALID_SIGNATURE, "mismatch", received, raw_path_with_query_as_received=decoded)
    # Neither does dropping the prefix the client signed.
    unprefixed = received.path.removeprefix("/bedrock")
    expect_error(INVALID_SIGNATURE, "mismatch", received, raw_path_with_query_as_received=unprefixed)


def test_tampered_body_fails(capture: tuple[BackgroundServer, Recorder]) -> None:
    received = converse_via_boto3(capture, HAIKU)
    # boto3 serialises with ensure_ascii: the name is on the wire as Zo\u00eb.
    tampered = received.body.replace(b"Zo\\u00eb", b"<PERSON_1>")
    assert tampered != received.body
    expect_error(INVALID_SIGNATURE, "mismatch", received, body=tampered)


def test_wrong_secret_fails(capture: tuple[BackgroundServer, Recorder]) -> None:
    received = converse_via_boto3(capture, HAIKU, secret="not-the-secret")
    expect_error(INVALID_SIGNATURE, "mismatch", received)


def test_unknown_key_fails(capture: tuple[BackgroundServer, Recorder]) -> None:
    received = converse_via_boto3(capture, HAIKU)
    expect_error(UNRECOGNIZED_CLIENT, "unknown-key", received, secret_lookup=lambda key: None)


def test_stale_and_future_dates_fail(capture: tuple[BackgroundServer, Recorder]) -> None:
    received = converse_via_boto3(capture, HAIKU)
    sent_at = datetime.strptime(received.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    error = expect_error(INVALID_SIGNATURE, "expired", received, now=sent_at + timedelta(minutes=6))
    assert error.message.startswith("Signature expired")
    expect_error(INVALID_SIGNATURE, "not-yet-valid", received, now=sent_at - timedelta(minutes=6))
    # Inside the window both ways is fine, and the window is configurable.
    verify(received, now=sent_at + timedelta(minutes=4))
    verify(received, now=sent_at - timedelta(minutes=4))
    expect_error(INVALID_SIGNATURE, "expired", received, now=sent_at + timedelta(seconds=61), max_skew_s=60)


def test_scope_checks(capture: tuple[BackgroundServer, Recorder]) -> None:
    received = converse_via_boto3(capture, HAIKU)
    expect_error(INVALID_SIGNATURE, "scope", received, service="s3")
    expect_error(INVALID_SIGNATURE, "scope", received, expected_region="us-east-1")
    assert verify(received, expected_region="eu-west-1").region == "eu-west-1"
    headers = dict(received.headers)
    headers["Authorization"] = headers["Authorization"].replace("/eu-west-1/bedrock/", "/eu-west-1/s3/")
    expect_error(INVALID_SIGNATURE, "scope", received, headers=headers)
    # A date scope that disagrees with X-Amz-Date.
    headers = dict(received.headers)
    day = headers["X-Amz-Date"][:8]
    other_day = (datetime.strptime(day, "%Y%m%d") - timedelta(days=1)).strftime("%Y%m%d")
    headers["Authorization"] = headers["Authorization"].replace(f"/{day}/", f"/{other_day}/")
    expect_error(INVALID_SIGNATURE, "scope", received, headers=headers)


def test_missing_and_malformed_authorization(capture: tuple[BackgroundServer, Recorder]) -> None:
    received = converse_via_boto3(capture, HAIKU)
    without = {k: v for k, v in received.headers.items() if k.lower() != "authorization"}
    expect_error(MISSING_AUTHENTICATION_TOKEN, "missing", received, headers=without)
    scope = "Credential=AKID/20240101/eu-west-1/bedrock/aws4_request"
    for bad in [
        "Bearer abc",
        f"AWS4-HMAC-SHA256 {scope}",  # no SignedHeaders / Signature
        f"AWS4-HMAC-SHA256 {scope.replace('/20240101', '')}, SignedHeaders=host, Signature={'0' * 64}",
        f"AWS4-HMAC-SHA256 {scope}, SignedHeaders=host, Signature=xyz",
        f"AWS4-HMAC-SHA256 {scope}, SignedHeaders=Host, Signature={'0' * 64}",
    ]:
        headers = {**without, "Authorization": bad}
        expect_error(INCOMPLETE_SIGNATURE, "malformed", received, headers=headers)
    # X-Amz-Date missing.
    headers = {k: v for k, v in received.headers.items() if k.lower() != "x-amz-date"}
    expect_error(INCOMPLETE_SIGNATURE, "malformed", received, headers=headers)


def test_header_added_before_signing_is_covered(capture: tuple[BackgroundServer, Recorder]) -> None:
    server, recorder = capture
    recorder.clear()
    client = bedrock_client(server.url)

    def add_customer(request: Any, **_: Any) -> None:
        request.headers["X-Customer-Id"] = "cust-42"

    client.meta.events.register("before-sign.bedrock-runtime.*", add_customer)
    client.converse(modelId=HAIKU, messages=[{"role": "user", "content": [{"text": "hello"}]}])
    (received,) = recorder.requests
    caller = verify(received)
    assert "x-customer-id" in caller.signed_headers
    headers = {**received.headers, "X-Customer-Id": "cust-43"}
    expect_error(INVALID_SIGNATURE, "mismatch", received, headers=headers)
    headers = {k: v for k, v in received.headers.items() if k != "X-Customer-Id"}
    expect_error(INVALID_SIGNATURE, "mismatch", received, headers=headers)


def test_session_token_is_signed_and_returned(capture: tuple[BackgroundServer, Recorder]) -> None:
    received = converse_via_boto3(capture, HAIKU, token="session-token-1")
    caller = verify(received)
    assert caller.session_token == "session-token-1"
    assert "x-amz-security-token" in caller.signed_headers
    headers = {**received.headers, "X-Amz-Security-Token": "session-token-2"}
    expect_error(INVALID_SIGNATURE, "mismatch", received, headers=headers)


UPSTREAM = Credentials("AKIDUPSTREAM", "upstream-secret", "upstream-token")


def upstream_secrets(key_id: str) -> str | None:
    return "upstream-secret" if key_id == "AKIDUPSTREAM" else None


def test_sign_then_verify_round_trip() -> None:
    path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream"
    body = b'{"messages":[{"role":"user","content":[{"text":"Hi <PERSON_1>"}]}]}'
    signed = sign_request(
        "POST",
        "https://bedrock-runtime.eu-west-1.amazonaws.com" + path,
        {"Content-Type": "application/json", "Accept": "application/vnd.amazon.eventstream"},
        body,
        UPSTREAM,
        "eu-west-1",
    )
    assert signed["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDUPSTREAM/")
    assert signed["X-Amz-Security-Token"] == "upstream-token"
    assert signed["Content-Type"] == "application/json"
    # Host is signed from the URL but left for the HTTP client to send.
    assert "Host" not in signed and "SignedHeaders=accept;content-type;host;" in signed["Authorization"]
    wire = {**signed, "Host": "bedrock-runtime.eu-west-1.amazonaws.com", "User-Agent": "aiohttp"}
    caller = verify_request("POST", path, wire, body, upstream_secrets, now=datetime.now(UTC))
    assert caller.access_key_id == "AKIDUPSTREAM" and caller.session_token == "upstream-token"
    with pytest.raises(SigV4Error):
        verify_request("POST", path, wire, body + b" ", upstream_secrets, now=datetime.now(UTC))
    with pytest.raises(SigV4Error):
        verify_request(
            "POST", path, {**wire, "Host": "evil.example"}, body, upstream_secrets, now=datetime.now(UTC)
        )


def test_signed_payload_hash_header_must_match_body() -> None:
    body = b'{"a":1}'
    url = "http://127.0.0.1:9/model/x/invoke"
    headers = {"Content-Type": "application/json", "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
    signed = sign_request("POST", url, headers, body, UPSTREAM, "eu-west-1")
    assert "x-amz-content-sha256" in signed["Authorization"]
    wire = {**signed, "Host": "127.0.0.1:9"}
    verify_request("POST", "/model/x/invoke", wire, body, upstream_secrets, now=datetime.now(UTC))
    # botocore would trust the header as the payload hash; we do not.
    with pytest.raises(SigV4Error) as info:
        verify_request("POST", "/model/x/invoke", wire, b'{"a":2}', upstream_secrets, now=datetime.now(UTC))
    assert info.value.reason == "payload-hash"


def test_aiohttp_must_send_the_signed_path_encoded(capture: tuple[BackgroundServer, Recorder]) -> None:
    """The proxy's outgoing leg: sign, send with aiohttp, and check what arrives verifies."""
    server, recorder = capture
    path = (
        "/model/"
        + "arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Ainference-profile%2Feu.x-v1%3A0"
        + "/converse"
    )
    body = b'{"messages":[]}'
    url = server.url + path
    signed = sign_request("POST", url, {"Content-Type": "application/json"}, body, UPSTREAM, "eu-west-1")

    async def send(target: URL) -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(target, data=body, headers=signed) as resp,
        ):
            assert resp.status == 200

    recorder.clear()
    asyncio.run(send(URL(url, encoded=True)))
    asyncio.run(send(URL(url)))  # yarl's default normalises %3A to ":"
    encoded, normalised = recorder.requests
    assert encoded.path == path
    verify_request(
        "POST", encoded.path, encoded.headers, encoded.body, upstream_secrets, now=datetime.now(UTC)
    )
    assert ":" in normalised.path
    with pytest.raises(SigV4Error):
        verify_request(
            "POST",
            normalised.path,
            normalised.headers,
            normalised.body,
            upstream_secrets,
            now=datetime.now(UTC),
        )
