"""The fake Bedrock upstream, driven directly by a real boto3 bedrock-runtime client.

boto3's own parsers are the judge of the fake's wire format: if boto3 decodes
the answers, the proxy will see what real Bedrock sends.
"""

from __future__ import annotations

import ast
import asyncio
import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import botocore.eventstream
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, EventStreamError
from yarl import URL

from proxy.codecs.eventstream import EventStreamDecoder
from proxy.codecs.eventstream import EventStreamError as CodecError
from tests.fakes import bedrock_upstream
from tests.fakes.bedrock_upstream import encode_event, encode_exception, make_bedrock_app, model_family
from tests.fakes.server import BackgroundServer, Recorder

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
PROFILE_ARN = (
    "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0"
)
LLAMA = "meta.llama3-1-8b-instruct-v1:0"
PROMPT = "Hello, I am <PERSON_1> from <CITY_1>"
ECHO = "Echo: " + PROMPT


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[BackgroundServer, Recorder]]:
    recorder = Recorder()
    server = BackgroundServer(lambda: make_bedrock_app(recorder)).start()
    yield server, recorder
    server.stop()


def client_for(
    server: BackgroundServer,
    *,
    key: str = "AKIDUPSTREAM",
    secret: str = "upstream-secret",
    retries: dict[str, Any] | None = None,
) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=server.url,
        region_name="eu-west-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries=retries or {"max_attempts": 1}),
    )


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


@pytest.mark.parametrize("model_id", [HAIKU, PROFILE_ARN])
def test_converse(upstream: tuple[BackgroundServer, Recorder], model_id: str) -> None:
    server, recorder = upstream
    recorder.clear()
    answer = client_for(server).converse(
        modelId=model_id,
        system=[{"text": "Be brief."}],
        messages=[*user("first"), {"role": "assistant", "content": [{"text": "ok"}]}, *user(PROMPT)],
    )
    assert answer["output"]["message"] == {"role": "assistant", "content": [{"text": ECHO}]}
    assert answer["stopReason"] == "end_turn"
    assert answer["usage"]["totalTokens"] == answer["usage"]["inputTokens"] + answer["usage"]["outputTokens"]
    assert answer["metrics"]["latencyMs"] >= 0
    (received,) = recorder.requests
    assert "%3A" in received.path  # the fake saw boto3's encoding, and decoded it itself


def test_converse_with_tools_answers_tool_use(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, _ = upstream
    tool = {"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}
    answer = client_for(server).converse(modelId=HAIKU, messages=user(PROMPT), toolConfig={"tools": [tool]})
    (block,) = answer["output"]["message"]["content"]
    assert block["toolUse"]["name"] == "lookup"
    assert block["toolUse"]["input"] == {"echo": PROMPT}
    assert block["toolUse"]["toolUseId"].startswith("tooluse_")
    assert answer["stopReason"] == "tool_use"


def test_converse_stream(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, _ = upstream
    answer = client_for(server).converse_stream(modelId=PROFILE_ARN, messages=user(PROMPT))
    events = list(answer["stream"])
    kinds = [next(iter(event)) for event in events]
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    deltas = [event["contentBlockDelta"] for event in events if "contentBlockDelta" in event]
    assert len(deltas) == len(kinds) - 4 and len(deltas) > 3
    assert all(len(delta["delta"]["text"]) <= 3 and delta["contentBlockIndex"] == 0 for delta in deltas)
    assert "".join(delta["delta"]["text"] for delta in deltas) == ECHO
    assert events[0]["messageStart"] == {"role": "assistant"}
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    assert events[-1]["metadata"]["usage"]["outputTokens"] > 0


def test_converse_stream_tool_use(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, _ = upstream
    tool = {"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}
    answer = client_for(server).converse_stream(
        modelId=HAIKU, messages=user(PROMPT), toolConfig={"tools": [tool]}
    )
    events = list(answer["stream"])
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"]["name"] == "lookup"
    fragments = [
        e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e
    ]
    assert json.loads("".join(fragments)) == {"echo": PROMPT}
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"


def model_path(model_id: str, operation: str) -> str:
    return f"/model/{model_id.replace(':', '%3A').replace('/', '%2F')}/{operation}"


def botocore_signed(
    method: str,
    url: str,
    body: bytes,
    *,
    secret: str = "upstream-secret",
    region: str = "eu-west-1",
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers signed by botocore itself, so these tests share no code with the proxy."""
    request = AWSRequest(
        method=method, url=url, data=body, headers={"Content-Type": "application/json", **(headers or {})}
    )
    SigV4Auth(Credentials("AKIDUPSTREAM", secret), "bedrock", region).add_auth(request)
    return dict(request.headers.items())


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    reads: list[bytes]


def send(method: str, url: str, headers: dict[str, str], body: bytes) -> Reply:
    """Send exactly this path and body (aiohttp, path not re-encoded); the body's reads as they arrived."""

    async def fetch() -> Reply:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, URL(url, encoded=True), data=body, headers=headers) as response,
        ):
            reads = [chunk async for chunk in response.content.iter_any()]
            return Reply(response.status, dict(response.headers), reads)

    return asyncio.run(fetch())


def raw_stream(server: BackgroundServer, model_id: str, operation: str, body: dict[str, Any]) -> list[bytes]:
    """POST a signed request and return the body's reads as they arrived."""
    url = server.url + model_path(model_id, operation)
    data = json.dumps(body).encode()
    reply = send("POST", url, botocore_signed("POST", url, data), data)
    assert reply.status == 200, b"".join(reply.reads)
    assert reply.headers["Content-Type"] == "application/vnd.amazon.eventstream"
    return reply.reads


def botocore_frames(reads: list[bytes]) -> list[botocore.eventstream.EventStreamMessage]:
    """Frames as boto3's own event-stream parser reads them (it checks both CRCs)."""
    buffer = botocore.eventstream.EventStreamBuffer()
    messages = []
    for chunk in reads:
        buffer.add_data(chunk)
        messages.extend(buffer)
    return messages


def test_converse_stream_frames_on_the_wire(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, _ = upstream
    reads = raw_stream(server, HAIKU, "converse-stream", {"messages": user(PROMPT)})
    messages = botocore_frames(reads)
    for message in messages:
        assert message.headers[":message-type"] == "event"
        assert message.headers[":content-type"] == "application/json"
        assert "p" in json.loads(message.payload)  # real Bedrock's padding field
    assert [m.headers[":event-type"] for m in messages][:2] == ["messageStart", "contentBlockDelta"]


def test_invoke_model_anthropic(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, _ = upstream
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
    }
    answer = client_for(server).invoke_model(modelId=PROFILE_ARN, body=json.dumps(body))
    assert answer["contentType"] == "application/json"
    payload = json.loads(answer["body"].read())
    assert payload["type"] == "message" and payload["role"] == "assistant"
    assert payload["content"] == [{"type": "text", "text": ECHO}]
    assert payload["stop_reason"] == "end_turn" and payload["usage"]["output_tokens"] > 0


def test_invoke_model_anthropic_requires_version(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, _ = upstream
    with pytest.raises(ClientError) as info:
        client_for(server).invoke_model(modelId=HAIKU, body=json.dumps({"messages": []}))
    assert info.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize(
    ("model_id", "body", "extract"),
    [
        (LLAMA, {"prompt": PROMPT, "max_gen_len": 50}, lambda r: r["generation"]),
        ("mistral.mistral-7b-instruct-v0:2", {"prompt": PROMPT}, lambda r: r["outputs"][0]["text"]),
        ("amazon.titan-text-express-v1", {"inputText": PROMPT}, lambda r: r["results"][0]["outputText"]),
        ("cohere.command-r-v1:0", {"message": PROMPT}, lambda r: r["text"]),
        (
            "eu.amazon.nova-lite-v1:0",
            {"messages": user(PROMPT), "inferenceConfig": {"maxTokens": 50}},
            lambda r: r["output"]["message"]["content"][0]["text"],
        ),
    ],
)
def test_invoke_model_other_families(
    upstream: tuple[BackgroundServer, Recorder], model_id: str, body: dict[str, Any], extract: Any
) -> None:
    server, _ = upstream
    answer = client_for(server).invoke_model(modelId=model_id, body=json.dumps(body))
    assert extract(json.loads(answer["body"].read())) == ECHO


def stream_chunks(answer: dict[str, Any]) -> list[dict[str, Any]]:
    chunks = []
    for event in answer["body"]:
        # boto3 already base64-decodes the "bytes" blob member.
        chunks.append(json.loads(event["chunk"]["bytes"]))
    return chunks


def test_invoke_with_response_stream_anthropic(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, _ = upstream
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    answer = client_for(server).invoke_model_with_response_stream(modelId=HAIKU, body=json.dumps(body))
    assert answer["contentType"] == "application/json"
    chunks = stream_chunks(answer)
    types = [chunk["type"] for chunk in chunks]
    assert types[:2] == ["message_start", "content_block_start"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [chunk["delta"] for chunk in chunks if chunk["type"] == "content_block_delta"]
    assert all(delta["type"] == "text_delta" and len(delta["text"]) <= 3 for delta in deltas)
    assert "".join(delta["text"] for delta in deltas) == ECHO
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] > 0


def test_invoke_with_response_stream_llama(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, _ = upstream
    answer = client_for(server).invoke_model_with_response_stream(
        modelId=LLAMA, body=json.dumps({"prompt": PROMPT})
    )
    chunks = stream_chunks(answer)
    assert "".join(chunk["generation"] for chunk in chunks) == ECHO
    assert chunks[-1]["stop_reason"] == "stop"


def test_invoke_stream_chunk_payload_is_base64_json(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, _ = upstream
    reads = raw_stream(server, LLAMA, "invoke-with-response-stream", {"prompt": PROMPT})
    messages = botocore_frames(reads)
    assert {m.headers[":event-type"] for m in messages} == {"chunk"}
    first = json.loads(messages[0].payload)
    assert json.loads(base64.b64decode(first["bytes"]))["generation"] == ECHO[:3]


def test_wrong_secret_is_refused(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, recorder = upstream
    recorder.clear()
    with pytest.raises(ClientError) as info:
        client_for(server, secret="wrong").converse(modelId=HAIKU, messages=user(PROMPT))
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert recorder.requests  # recorded before the check


def test_unknown_key_is_refused(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, _ = upstream
    with pytest.raises(ClientError) as info:
        client_for(server, key="AKIDSOMEONEELSE").converse(modelId=HAIKU, messages=user(PROMPT))
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_stale_signature_is_refused() -> None:
    recorder = Recorder()
    late = BackgroundServer(
        lambda: make_bedrock_app(recorder, clock=lambda: datetime.now(UTC) + timedelta(minutes=20))
    ).start()
    try:
        with pytest.raises(ClientError) as info:
            client_for(late, retries={"total_max_attempts": 1}).converse(modelId=HAIKU, messages=user("x"))
        assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
        assert "Signature expired" in info.value.response["Error"]["Message"]
    finally:
        late.stop()


def test_throttle(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, recorder = upstream
    recorder.clear()
    client = client_for(server, retries={"total_max_attempts": 1})
    with pytest.raises(ClientError) as info:
        client.converse(modelId="anthropic.error-throttle-v1:0", messages=user(PROMPT))
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert len(recorder.requests) == 1


def test_corrupt_stream(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, _ = upstream
    answer = client_for(server).converse_stream(
        modelId="anthropic.corrupt-stream-v1:0", messages=user(PROMPT)
    )
    stream = iter(answer["stream"])
    assert "messageStart" in next(stream)
    with pytest.raises(botocore.eventstream.ChecksumMismatch):
        next(stream)
    # Our decoder rejects the same bytes.
    reads = raw_stream(server, "anthropic.corrupt-stream-v1:0", "converse-stream", {"messages": user(PROMPT)})
    with pytest.raises(CodecError, match="message CRC"):
        decoder = EventStreamDecoder()
        for chunk in reads:
            decoder.feed(chunk)


def test_error_midstream(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, _ = upstream
    answer = client_for(server).converse_stream(
        modelId="anthropic.error-midstream-v1:0", messages=user(PROMPT)
    )
    seen: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError) as info:
        for event in answer["stream"]:
            seen.append(event)
    assert info.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert [next(iter(event)) for event in seen] == ["messageStart", "contentBlockDelta"]


def test_split_frames_still_decode(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, _ = upstream
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 9,
        "messages": [{"role": "user", "content": PROMPT}],
    }
    answer = client_for(server).invoke_model_with_response_stream(
        modelId="anthropic.split-frames-v1:0", body=json.dumps(body)
    )
    chunks = stream_chunks(answer)
    assert "".join(c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta") == ECHO


def test_model_family() -> None:
    assert model_family(HAIKU) == "anthropic"
    assert model_family(PROFILE_ARN) == "anthropic"
    assert (
        model_family("arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-70b-instruct-v1:0") == "llama"
    )
    assert model_family("us.amazon.nova-pro-v1:0") == "nova"
    assert model_family("global.anthropic.claude-sonnet-4-v1:0") == "anthropic"
    assert model_family("amazon.titan-embed-text-v2:0") == "unknown"


# ---------------------------------------------------------------- independence from the proxy


def test_fake_shares_no_code_with_the_proxy() -> None:
    # The fake judges the proxy's signing and framing; importing the proxy's own
    # verifier or codec would let one bug hide behind itself.
    tree = ast.parse(Path(bedrock_upstream.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] in {"proxy", "models", "rules"}}


CONVERSE_BODY = json.dumps({"messages": user(PROMPT)}).encode()


def tampered(server: BackgroundServer, case: str) -> tuple[str, dict[str, str], bytes]:
    """A converse request signed by botocore, then changed the way `case` says."""
    url = server.url + model_path(HAIKU, "converse")
    if case == "untouched":
        return url, botocore_signed("POST", url, CONVERSE_BODY), CONVERSE_BODY
    if case == "wrong-secret":
        return url, botocore_signed("POST", url, CONVERSE_BODY, secret="not-the-secret"), CONVERSE_BODY
    if case == "wrong-region":
        return url, botocore_signed("POST", url, CONVERSE_BODY, region="us-east-1"), CONVERSE_BODY
    if case == "body":
        other = json.dumps({"messages": user("Hello, I am Jane Doe")}).encode()
        return url, botocore_signed("POST", url, CONVERSE_BODY), other
    if case == "path":
        # Signed for one model, sent to another: both routes exist, only the signature differs.
        elsewhere = server.url + model_path(LLAMA, "converse")
        return elsewhere, botocore_signed("POST", url, CONVERSE_BODY), CONVERSE_BODY
    if case == "query":
        headers = botocore_signed("POST", url + "?trace=1", CONVERSE_BODY)
        return url + "?trace=2", headers, CONVERSE_BODY
    if case == "signed-header":
        headers = botocore_signed("POST", url, CONVERSE_BODY)
        return url, {**headers, "Content-Type": "text/plain"}, CONVERSE_BODY
    if case == "payload-hash":
        # botocore signs a sent payload hash as given; the fake must still compare it with the body.
        claimed = {"X-Amz-Content-SHA256": hashlib.sha256(CONVERSE_BODY).hexdigest()}
        headers = botocore_signed("POST", url, CONVERSE_BODY, headers=claimed)
        return url, headers, json.dumps({"messages": user("something else")}).encode()
    if case == "date-unsigned":
        headers = botocore_signed("POST", url, CONVERSE_BODY)
        headers["Authorization"] = headers["Authorization"].replace(";x-amz-date", "")
        return url, headers, CONVERSE_BODY
    if case == "no-authorization":
        headers = botocore_signed("POST", url, CONVERSE_BODY)
        del headers["Authorization"]
        return url, headers, CONVERSE_BODY
    raise AssertionError(case)


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("untouched", 200, None),
        ("wrong-secret", 403, "InvalidSignatureException"),
        ("wrong-region", 403, "InvalidSignatureException"),
        ("body", 403, "InvalidSignatureException"),
        ("path", 403, "InvalidSignatureException"),
        ("query", 403, "InvalidSignatureException"),
        ("signed-header", 403, "InvalidSignatureException"),
        ("payload-hash", 403, "InvalidSignatureException"),
        ("date-unsigned", 403, "IncompleteSignatureException"),
        ("no-authorization", 403, "MissingAuthenticationTokenException"),
    ],
)
def test_signature_is_recomputed_over_what_arrived(
    upstream: tuple[BackgroundServer, Recorder], case: str, status: int, code: str | None
) -> None:
    server, recorder = upstream
    recorder.clear()
    url, headers, body = tampered(server, case)
    reply = send("POST", url, headers, body)
    assert reply.status == status, b"".join(reply.reads)
    assert reply.headers.get("x-amzn-ErrorType") == code
    if code is not None:
        assert "Echo" not in b"".join(reply.reads).decode()
    assert len(recorder.requests) == 1


def test_signed_query_and_session_token_are_accepted(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, recorder = upstream
    recorder.clear()
    sdk = boto3.client(
        "bedrock-runtime",
        endpoint_url=server.url,
        region_name="eu-west-1",
        aws_access_key_id="AKIDUPSTREAM",
        aws_secret_access_key="upstream-secret",
        aws_session_token="session-token-from-sts",
        config=Config(retries={"total_max_attempts": 1}),
    )
    # The fake has no such route: a 404 (not a 403) means the signature over the query held.
    with pytest.raises(ClientError) as info:
        sdk.list_async_invokes(maxResults=5)
    assert info.value.response["Error"]["Code"] == "UnknownOperationException"
    assert recorder.requests[-1].query == {"maxResults": "5"}
    answer = sdk.converse(modelId=HAIKU, messages=user(PROMPT))
    assert answer["output"]["message"]["content"][0]["text"] == ECHO


def test_boto3_parses_the_fakes_own_frames() -> None:
    payload = json.dumps({"delta": {"text": "Zoë ✓"}, "p": "abc"}, ensure_ascii=False).encode()
    event = encode_event("contentBlockDelta", payload)
    failure = encode_exception("modelStreamErrorException", b'{"message":"boom"}')
    assert int.from_bytes(event[:4], "big") == len(event)
    # One byte at a time: boto3's buffer must find every boundary from the lengths alone.
    messages = botocore_frames([bytes([b]) for b in event + failure])
    assert [m.headers for m in messages] == [
        {":event-type": "contentBlockDelta", ":content-type": "application/json", ":message-type": "event"},
        {
            ":exception-type": "modelStreamErrorException",
            ":content-type": "application/json",
            ":message-type": "exception",
        },
    ]
    assert messages[0].payload == payload and messages[1].payload == b'{"message":"boom"}'
    for position in (9, len(event) - 10):  # inside the prelude, inside the payload
        broken = bytearray(event)
        broken[position] ^= 0x01
        with pytest.raises(botocore.eventstream.ChecksumMismatch):
            botocore_frames([bytes(broken)])
