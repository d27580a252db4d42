"""The fake Bedrock upstream, driven directly by a real boto3 bedrock-runtime client.

boto3's own parsers are the judge of the fake's wire format: if boto3 decodes
the answers, the proxy will see what real Bedrock sends.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import boto3
import botocore.eventstream
import pytest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, EventStreamError
from yarl import URL

from proxy.aws_sigv4 import sign_request
from proxy.codecs.eventstream import EventStreamDecoder, EventStreamMessage
from proxy.codecs.eventstream import EventStreamError as CodecError
from tests.fakes.bedrock_upstream import make_bedrock_app, model_family
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


def raw_stream(server: BackgroundServer, model_id: str, operation: str, body: dict[str, Any]) -> list[bytes]:
    """POST a signed request with aiohttp and return the body's reads as they arrived."""
    path = f"/model/{model_id.replace(':', '%3A').replace('/', '%2F')}/{operation}"
    url = server.url + path
    data = json.dumps(body).encode()
    credentials = Credentials("AKIDUPSTREAM", "upstream-secret")
    headers = sign_request("POST", url, {"Content-Type": "application/json"}, data, credentials, "eu-west-1")

    async def fetch() -> list[bytes]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(URL(url, encoded=True), data=data, headers=headers) as response,
        ):
            assert response.status == 200, await response.text()
            assert response.headers["Content-Type"] == "application/vnd.amazon.eventstream"
            return [chunk async for chunk in response.content.iter_any()]

    return asyncio.run(fetch())


def test_converse_stream_frames_on_the_wire(upstream: tuple[BackgroundServer, Recorder]) -> None:
    server, _ = upstream
    reads = raw_stream(server, HAIKU, "converse-stream", {"messages": user(PROMPT)})
    decoder = EventStreamDecoder()
    messages: list[EventStreamMessage] = [m for chunk in reads for m in decoder.feed(chunk)]
    decoder.close()
    for message in messages:
        assert message.message_type == "event" and message.content_type == "application/json"
        assert "p" in json.loads(message.payload)  # real Bedrock's padding field
    assert [m.event_type for m in messages][:2] == ["messageStart", "contentBlockDelta"]


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
    decoder = EventStreamDecoder()
    messages = [m for chunk in reads for m in decoder.feed(chunk)]
    assert {m.event_type for m in messages} == {"chunk"}
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
