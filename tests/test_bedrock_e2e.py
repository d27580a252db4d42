"""The official boto3 bedrock-runtime client -> Consentry -> the fake Bedrock runtime, on loopback.

The fake checks the proxy's own SigV4 signature with botocore and answers "Echo: " + the prompt,
streams in 3-character deltas (one event-stream frame each), so placeholders straddle frames.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from tests.conftest import PROXY_KEY, TEST_RULES, ProxyFactory, ProxyHarness
from tests.e2e_checks import assert_forwarded_record, assert_masked_upstream, forwarded_requests
from tests.fakes.bedrock_upstream import make_bedrock_app
from tests.fakes.server import BackgroundServer, Recorder

NAME = "Jane Doe"
EMAIL = "jane.doe@example.com"
PROMPT = f"Please write to {NAME} at {EMAIL} about the invoice."
# Ends in the start of a placeholder, so the stream restorer holds it back until the block ends.
STREAM_PROMPT = PROMPT + " Then <EMAIL"
SECRETS = (NAME.encode(), EMAIL.encode())

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
PROFILE_ARN = (
    "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0"
)
LLAMA = "meta.llama3-1-8b-instruct-v1:0"
UNKNOWN_FAMILY = "ai21.jamba-1-5-mini-v1:0"

UPSTREAM_KEY_ID = "AKIDUPSTREAM"
UPSTREAM_SECRET = "upstream-secret"
CALLER_KEY_ID = "AKIDCONSENTRYBACKEND"
CALLER_SECRET = "caller-secret-0123456789abcdef"
REGION = "eu-west-1"

RULES: dict[str, Any] = {
    **TEST_RULES,
    "customers": {**TEST_RULES["customers"], "cust-no-bedrock": {"providers": ["openai", "azure"]}},
}
APPS = {
    "backend": {
        "key": PROXY_KEY,
        "aws_access_key_id": CALLER_KEY_ID,
        "aws_secret_access_key": CALLER_SECRET,
    }
}
# Everything botocore's credential chain reads; cleared while a proxy starts, then restored.
_AWS_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.fixture(scope="module")
def bedrock_recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def bedrock_upstream(bedrock_recorder: Recorder) -> Iterator[BackgroundServer]:
    server = BackgroundServer(
        lambda: make_bedrock_app(
            bedrock_recorder, access_key=UPSTREAM_KEY_ID, secret_key=UPSTREAM_SECRET, region=REGION
        )
    ).start()
    yield server
    server.stop()


@contextlib.contextmanager
def aws_environment(values: dict[str, str]) -> Iterator[None]:
    """The environment botocore's credential chain reads, set to `values`, restored afterwards."""
    saved = {name: os.environ.get(name) for name in (*_AWS_ENV, *values)}
    for name in _AWS_ENV:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module", autouse=True)
def upstream_credentials_in_environment() -> Iterator[None]:
    # The proxy asks botocore's chain on its first Bedrock request: the environment provider.
    with aws_environment({"AWS_ACCESS_KEY_ID": UPSTREAM_KEY_ID, "AWS_SECRET_ACCESS_KEY": UPSTREAM_SECRET}):
        yield


def start_proxy(make_proxy: ProxyFactory, bedrock: dict[str, Any]) -> ProxyHarness:
    return make_proxy({"bedrock": bedrock}, rules=RULES, extra={"apps": APPS})


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, bedrock_upstream: BackgroundServer) -> ProxyHarness:
    return start_proxy(make_proxy, {"base_url": bedrock_upstream.url, "region": REGION})


@pytest.fixture()
def upstream(bedrock_recorder: Recorder) -> Iterator[Recorder]:
    bedrock_recorder.clear()
    yield bedrock_recorder


def client(
    proxy: ProxyHarness,
    customer: str = "cust-42",
    *,
    header: bool = False,
    key: str = CALLER_KEY_ID,
    secret: str = CALLER_SECRET,
    region: str = REGION,
) -> Any:
    endpoint = f"{proxy.url}/bedrock" if header else f"{proxy.url}/c/{customer}/bedrock"
    sdk = boto3.client(
        "bedrock-runtime",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )
    if header:

        def add_customer(request: Any, **_: Any) -> None:
            request.headers["X-Customer-Id"] = customer

        sdk.meta.events.register("before-sign.bedrock-runtime.*", add_customer)
    return sdk


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def echo(text: str) -> str:
    return "Echo: " + text


def assert_masked(upstream: Recorder) -> bytes:
    seen = assert_masked_upstream(upstream, SECRETS)
    for request in upstream.requests:
        # The proxy's own credentials went upstream; nothing of the caller's request headers.
        assert f"Credential={UPSTREAM_KEY_ID}/" in request.headers["Authorization"]
        assert CALLER_KEY_ID.encode() not in seen and CALLER_SECRET.encode() not in seen
        assert "x-customer-id" not in {k.lower() for k in request.headers}
    return seen


def request_id(response: dict[str, Any]) -> str:
    return str(response["ResponseMetadata"]["HTTPHeaders"]["x-consentry-request-id"])


def assert_recorded(
    proxy: ProxyHarness,
    rid: str,
    operation: str,
    model: str,
    streamed: bool,
    customer: str = "cust-42",
    persons: int = 1,
) -> None:
    record = assert_forwarded_record(
        proxy,
        rid,
        provider="bedrock",
        operation=operation,
        streamed=streamed,
        secrets=SECRETS,
        customer=customer,
        persons=persons,
    )
    assert record.model == model


def forwarded(proxy: ProxyHarness, operation: str) -> float:
    return forwarded_requests(proxy, "bedrock", operation)


def chunks_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(event["chunk"]["bytes"]) for event in response["body"]]


# ---------------------------------------------------------------- Converse


def test_converse_masks_upstream_and_restores_answer(proxy: ProxyHarness, upstream: Recorder) -> None:
    before = forwarded(proxy, "converse")
    answer = client(proxy).converse(
        modelId=HAIKU, system=[{"text": f"You assist {NAME}."}], messages=user(PROMPT)
    )
    assert answer["output"]["message"]["content"] == [{"text": echo(PROMPT)}]
    assert answer["stopReason"] == "end_turn"
    assert_masked(upstream)
    (sent,) = upstream.requests
    assert sent.path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    body = json.loads(sent.body)
    assert body["system"] == [{"text": "You assist <PERSON_1>."}]
    assert_recorded(proxy, request_id(answer), "converse", HAIKU, streamed=False, persons=2)
    assert forwarded(proxy, "converse") == before + 1
    assert proxy.metric("consentry_entities_total", entity_type="EMAIL_ADDRESS", action="mask") >= 1


def test_converse_arn_model_and_signed_customer_header(proxy: ProxyHarness, upstream: Recorder) -> None:
    answer = client(proxy, header=True).converse(modelId=PROFILE_ARN, messages=user(PROMPT))
    assert answer["output"]["message"]["content"][0]["text"] == echo(PROMPT)
    assert_masked(upstream)
    # The ARN stays encoded once on the way up ("%3A", "%2F"), never twice ("%253A").
    path = upstream.requests[-1].path
    assert path.startswith("/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Ainference-profile%2Feu.")
    assert "%25" not in path
    assert_recorded(proxy, request_id(answer), "converse", PROFILE_ARN, streamed=False)


def test_caller_region_does_not_matter(proxy: ProxyHarness, upstream: Recorder) -> None:
    answer = client(proxy, region="us-east-1").converse(modelId=HAIKU, messages=user(PROMPT))
    assert answer["output"]["message"]["content"][0]["text"] == echo(PROMPT)
    assert f"/{REGION}/bedrock/aws4_request" in upstream.requests[-1].headers["Authorization"]


def test_converse_tool_use_and_tool_results(proxy: ProxyHarness, upstream: Recorder) -> None:
    tool = {"toolSpec": {"name": "send_mail", "inputSchema": {"json": {"type": "object"}}}}
    messages = [
        {"role": "user", "content": [{"text": "mail someone"}]},
        {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "t1", "name": "send_mail", "input": {"to": EMAIL}}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": "t1",
                        "content": [{"text": f"sent to {NAME}"}, {"json": {"recipient": NAME}}],
                    }
                },
                {"text": PROMPT},
            ],
        },
    ]
    answer = client(proxy).converse(modelId=HAIKU, messages=messages, toolConfig={"tools": [tool]})
    (block,) = answer["output"]["message"]["content"]
    # The fake echoes the last user turn (tool result text and JSON, then the prompt) as tool input.
    assert block["toolUse"]["input"] == {"echo": f'sent to {NAME}\n{{"recipient":"{NAME}"}}\n{PROMPT}'}
    assert_masked(upstream)
    sent = json.loads(upstream.requests[-1].body)
    assert sent["messages"][1]["content"][0]["toolUse"]["input"] == {"to": "<EMAIL_ADDRESS_1>"}
    result = sent["messages"][2]["content"][0]["toolResult"]["content"]
    assert result == [{"text": "sent to <PERSON_1>"}, {"json": {"recipient": "<PERSON_1>"}}]


def test_converse_stream_restores_placeholders_split_across_frames(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    before = forwarded(proxy, "converse-stream")
    response = client(proxy).converse_stream(modelId=HAIKU, messages=user(STREAM_PROMPT))
    events = list(response["stream"])
    kinds = [next(iter(event)) for event in events]
    assert kinds[0] == "messageStart" and kinds[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]
    assert "".join(deltas) == echo(STREAM_PROMPT)
    # Relayed frame by frame, not buffered into one answer.
    assert len(deltas) > 15
    assert events[-1]["metadata"]["usage"]["outputTokens"] > 0
    assert_masked(upstream)
    assert_recorded(proxy, request_id(response), "converse-stream", HAIKU, streamed=True)
    assert forwarded(proxy, "converse-stream") == before + 1


def test_converse_stream_tool_input(proxy: ProxyHarness, upstream: Recorder) -> None:
    tool = {"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}
    response = client(proxy).converse_stream(
        modelId=HAIKU, messages=user('He said "hi" to ' + PROMPT), toolConfig={"tools": [tool]}
    )
    events = list(response["stream"])
    fragments = [
        e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e
    ]
    assert json.loads("".join(fragments)) == {"echo": 'He said "hi" to ' + PROMPT}
    assert_masked(upstream)


def test_stream_frames_split_across_reads(proxy: ProxyHarness, upstream: Recorder) -> None:
    response = client(proxy).converse_stream(modelId="anthropic.split-frames-v1:0", messages=user(PROMPT))
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in response["stream"] if "contentBlockDelta" in e]
    assert "".join(deltas) == echo(PROMPT)
    assert_masked(upstream)


# ---------------------------------------------------------------- InvokeModel


def test_invoke_model_anthropic(proxy: ProxyHarness, upstream: Recorder) -> None:
    before = forwarded(proxy, "invoke")
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "system": f"You assist {NAME}.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
    }
    response = client(proxy).invoke_model(modelId=PROFILE_ARN, body=json.dumps(body))
    assert response["contentType"] == "application/json"
    payload = json.loads(response["body"].read())
    assert payload["content"] == [{"type": "text", "text": echo(PROMPT)}]
    assert_masked(upstream)
    sent = json.loads(upstream.requests[-1].body)
    assert sent["system"] == "You assist <PERSON_1>." and sent["anthropic_version"] == "bedrock-2023-05-31"
    assert_recorded(proxy, request_id(response), "invoke", PROFILE_ARN, streamed=False, persons=2)
    assert forwarded(proxy, "invoke") == before + 1


def test_invoke_model_anthropic_tool_use(proxy: ProxyHarness, upstream: Recorder) -> None:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "find her"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"who": NAME}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": f"found {EMAIL}"},
                    {"type": "text", "text": PROMPT},
                ],
            },
        ],
    }
    response = client(proxy).invoke_model(modelId=HAIKU, body=json.dumps(body))
    (block,) = json.loads(response["body"].read())["content"]
    assert block["input"] == {"echo": f"found {EMAIL}\n{PROMPT}"}
    assert_masked(upstream)
    sent = json.loads(upstream.requests[-1].body)
    assert sent["messages"][1]["content"][0]["input"] == {"who": "<PERSON_1>"}


FAMILIES: list[tuple[str, Callable[[str], dict[str, Any]], Callable[[dict[str, Any]], str]]] = [
    (LLAMA, lambda p: {"prompt": p, "max_gen_len": 50}, lambda r: r["generation"]),
    ("mistral.mistral-7b-instruct-v0:2", lambda p: {"prompt": p}, lambda r: r["outputs"][0]["text"]),
    ("amazon.titan-text-express-v1", lambda p: {"inputText": p}, lambda r: r["results"][0]["outputText"]),
    ("cohere.command-r-v1:0", lambda p: {"message": p, "chat_history": []}, lambda r: r["text"]),
    (
        "eu.amazon.nova-lite-v1:0",
        lambda p: {"messages": user(p), "system": [{"text": "Be brief."}]},
        lambda r: r["output"]["message"]["content"][0]["text"],
    ),
]


@pytest.mark.parametrize(("model_id", "make_body", "extract"), FAMILIES)
def test_invoke_model_other_families(
    proxy: ProxyHarness,
    upstream: Recorder,
    model_id: str,
    make_body: Callable[[str], dict[str, Any]],
    extract: Callable[[dict[str, Any]], str],
) -> None:
    response = client(proxy).invoke_model(modelId=model_id, body=json.dumps(make_body(PROMPT)))
    assert extract(json.loads(response["body"].read())) == echo(PROMPT)
    assert_masked(upstream)
    assert_recorded(proxy, request_id(response), "invoke", model_id, streamed=False)


def test_invoke_stream_anthropic(proxy: ProxyHarness, upstream: Recorder) -> None:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": STREAM_PROMPT}],
    }
    response = client(proxy).invoke_model_with_response_stream(modelId=HAIKU, body=json.dumps(body))
    chunks = chunks_of(response)
    types = [c["type"] for c in chunks]
    assert types[:2] == ["message_start", "content_block_start"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [c["delta"]["text"] for c in chunks if c["type"] == "content_block_delta"]
    assert "".join(deltas) == echo(STREAM_PROMPT)
    assert len(deltas) > 15
    assert chunks[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] > 0
    assert_masked(upstream)
    assert_recorded(proxy, request_id(response), "invoke-with-response-stream", HAIKU, streamed=True)


def test_invoke_stream_anthropic_tool_input(proxy: ProxyHarness, upstream: Recorder) -> None:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": PROMPT}],
    }
    response = client(proxy).invoke_model_with_response_stream(modelId=PROFILE_ARN, body=json.dumps(body))
    partial = [
        c["delta"]["partial_json"]
        for c in chunks_of(response)
        if c["type"] == "content_block_delta" and c["delta"]["type"] == "input_json_delta"
    ]
    assert json.loads("".join(partial)) == {"echo": PROMPT}
    assert_masked(upstream)


STREAM_FAMILIES: list[tuple[str, Callable[[str], dict[str, Any]], Callable[[dict[str, Any]], str]]] = [
    (LLAMA, lambda p: {"prompt": p}, lambda c: c.get("generation") or ""),
    (
        "mistral.mistral-7b-instruct-v0:2",
        lambda p: {"prompt": p},
        lambda c: c["outputs"][0].get("text") or "",
    ),
    ("amazon.titan-text-express-v1", lambda p: {"inputText": p}, lambda c: c.get("outputText") or ""),
    (
        "cohere.command-r-v1:0",
        lambda p: {"message": p},
        lambda c: c["text"] if c.get("event_type") == "text-generation" else "",
    ),
    (
        "us.amazon.nova-pro-v1:0",
        lambda p: {"messages": user(p)},
        lambda c: c["contentBlockDelta"]["delta"]["text"] if "contentBlockDelta" in c else "",
    ),
]


@pytest.mark.parametrize(("model_id", "make_body", "extract"), STREAM_FAMILIES)
def test_invoke_stream_other_families(
    proxy: ProxyHarness,
    upstream: Recorder,
    model_id: str,
    make_body: Callable[[str], dict[str, Any]],
    extract: Callable[[dict[str, Any]], str],
) -> None:
    response = client(proxy).invoke_model_with_response_stream(
        modelId=model_id, body=json.dumps(make_body(STREAM_PROMPT))
    )
    chunks = chunks_of(response)
    assert "".join(extract(c) for c in chunks) == echo(STREAM_PROMPT)
    assert len(chunks) > 15
    assert_masked(upstream)


def test_cohere_stream_end_carries_the_whole_restored_answer(proxy: ProxyHarness, upstream: Recorder) -> None:
    response = client(proxy).invoke_model_with_response_stream(
        modelId="cohere.command-r-v1:0", body=json.dumps({"message": PROMPT})
    )
    last = chunks_of(response)[-1]
    assert last["event_type"] == "stream-end" and last["response"]["text"] == echo(PROMPT)
    assert_masked(upstream)


# ---------------------------------------------------------------- refusals and failures


def refused(call: Callable[[], Any]) -> ClientError:
    with pytest.raises(ClientError) as info:
        call()
    return info.value


def failed_metric(proxy: ProxyHarness, status: str) -> float:
    return proxy.metric(
        "consentry_requests_total", provider="bedrock", operation="converse", decision="failed", status=status
    )


def test_wrong_secret_is_refused(proxy: ProxyHarness, upstream: Recorder) -> None:
    before = failed_metric(proxy, "403")
    error = refused(
        lambda: client(proxy, secret="not-the-secret").converse(modelId=HAIKU, messages=user(PROMPT))
    )
    assert error.response["Error"]["Code"] == "InvalidSignatureException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert not upstream.requests
    assert failed_metric(proxy, "403") == before + 1


def test_unknown_access_key_is_refused(proxy: ProxyHarness, upstream: Recorder) -> None:
    error = refused(
        lambda: client(proxy, key="AKIDSOMEONEELSE").converse(modelId=HAIKU, messages=user(PROMPT))
    )
    assert error.response["Error"]["Code"] == "UnrecognizedClientException"
    assert not upstream.requests


def test_upstream_key_is_not_a_caller_key(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = client(proxy, key=UPSTREAM_KEY_ID, secret=UPSTREAM_SECRET)
    error = refused(lambda: sdk.converse(modelId=HAIKU, messages=user(PROMPT)))
    assert error.response["Error"]["Code"] == "UnrecognizedClientException"
    assert not upstream.requests


def test_unsigned_customer_header_is_refused(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = boto3.client(
        "bedrock-runtime",
        endpoint_url=f"{proxy.url}/bedrock",
        region_name=REGION,
        aws_access_key_id=CALLER_KEY_ID,
        aws_secret_access_key=CALLER_SECRET,
        config=Config(retries={"total_max_attempts": 1}),
    )

    def after_signing(request: Any, **_: Any) -> None:
        request.headers["X-Customer-Id"] = "cust-42"

    # Set after the signature was made: it could have been changed on the way, so it is refused.
    sdk.meta.events.register("before-send.bedrock-runtime.*", after_signing)
    error = refused(lambda: sdk.converse(modelId=HAIKU, messages=user(PROMPT)))
    assert error.response["Error"]["Code"] == "IncompleteSignatureException"
    assert "before-sign" in error.response["Error"]["Message"]
    assert not upstream.requests


def test_customer_without_openai_may_use_bedrock(proxy: ProxyHarness, upstream: Recorder) -> None:
    answer = client(proxy, "cust-no-openai").converse(modelId=HAIKU, messages=user(PROMPT))
    assert answer["output"]["message"]["content"][0]["text"] == echo(PROMPT)
    assert_masked(upstream)
    assert_recorded(proxy, request_id(answer), "converse", HAIKU, streamed=False, customer="cust-no-openai")


@pytest.mark.parametrize(
    ("customer", "reason"),
    [("cust-withdrawn", "consent_withdrawn"), ("cust-no-bedrock", "provider_not_allowed")],
)
def test_consent_refusals(proxy: ProxyHarness, upstream: Recorder, customer: str, reason: str) -> None:
    blocked = proxy.metric("consentry_blocked_requests_total", provider="bedrock", reason=reason)
    error = refused(lambda: client(proxy, customer).converse(modelId=HAIKU, messages=user(PROMPT)))
    assert error.response["Error"]["Code"] == "AccessDeniedException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    headers = error.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-consentry-reason"] == reason
    assert not upstream.requests
    record = proxy.record(headers["x-consentry-request-id"])
    assert record.decision == "blocked" and record.reason == reason and record.customer_id == customer
    assert proxy.metric("consentry_blocked_requests_total", provider="bedrock", reason=reason) == blocked + 1


def test_consent_refusal_of_a_stream(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = client(proxy, "cust-withdrawn")
    error = refused(lambda: sdk.converse_stream(modelId=HAIKU, messages=user(PROMPT)))
    assert error.response["Error"]["Code"] == "AccessDeniedException"
    assert not upstream.requests


def test_unknown_model_family_is_unscannable(proxy: ProxyHarness, upstream: Recorder) -> None:
    body = json.dumps({"prompt": PROMPT, "max_tokens": 10})
    error = refused(lambda: client(proxy).invoke_model(modelId=UNKNOWN_FAMILY, body=body))
    assert error.response["Error"]["Code"] == "AccessDeniedException"
    assert error.response["ResponseMetadata"]["HTTPHeaders"]["x-consentry-reason"] == "unscannable_content"
    assert not upstream.requests


def test_unknown_model_family_passes_when_customer_allows_unscannable(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    body = json.dumps({"prompt": "hello", "max_tokens": 10}).encode()
    # The fake knows no such family either: its ValidationException comes back as it was sent.
    error = refused(lambda: client(proxy, "cust-images-ok").invoke_model(modelId=UNKNOWN_FAMILY, body=body))
    assert error.response["Error"]["Code"] == "ValidationException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    (sent,) = upstream.requests
    assert sent.body == body  # forwarded byte for byte


def test_image_block_is_unscannable(proxy: ProxyHarness, upstream: Recorder) -> None:
    image = {"image": {"format": "png", "source": {"bytes": b"\x89PNG fake"}}}
    messages = [{"role": "user", "content": [image, {"text": PROMPT}]}]
    error = refused(lambda: client(proxy).converse(modelId=HAIKU, messages=messages))
    assert error.response["ResponseMetadata"]["HTTPHeaders"]["x-consentry-reason"] == "unscannable_content"
    assert not upstream.requests
    answer = client(proxy, "cust-images-ok").converse(modelId=HAIKU, messages=messages)
    assert answer["output"]["message"]["content"][0]["text"] == echo(PROMPT)
    assert_masked(upstream)


def test_upstream_error_is_relayed(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = client(proxy)
    error = refused(lambda: sdk.converse(modelId="anthropic.error-throttle-v1:0", messages=user(PROMPT)))
    assert error.response["Error"]["Code"] == "ThrottlingException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert len(upstream.requests) == 1


def test_unknown_path_is_not_forwarded(proxy: ProxyHarness, upstream: Recorder) -> None:
    error = refused(lambda: client(proxy).list_async_invokes())
    assert error.response["Error"]["Code"] == "ResourceNotFoundException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert not upstream.requests


@pytest.mark.parametrize("operation", ["converse_stream", "invoke_model_with_response_stream"])
def test_corrupt_upstream_stream_raises_in_boto3(
    proxy: ProxyHarness, upstream: Recorder, operation: str
) -> None:
    model = "anthropic.corrupt-stream-v1:0"
    sdk = client(proxy)
    if operation == "converse_stream":
        response = sdk.converse_stream(modelId=model, messages=user(PROMPT))
        stream = response["stream"]
    else:
        body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 9, "messages": user(PROMPT)}
        body["messages"] = [{"role": "user", "content": PROMPT}]
        response = sdk.invoke_model_with_response_stream(modelId=model, body=json.dumps(body))
        stream = response["body"]
    seen: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError) as info:
        for event in stream:
            seen.append(event)
    assert info.value.response["Error"]["Code"] == "modelStreamErrorException"
    # At most the frame before the corrupt one (it is lost when both arrive in one read); never
    # anything after it.
    assert len(seen) <= 1
    record = proxy.record(request_id(response))
    assert record.decision == "failed" and record.reason == "upstream_corrupt_stream"
    assert_masked(upstream)


def test_exception_frame_from_upstream_is_relayed(proxy: ProxyHarness, upstream: Recorder) -> None:
    response = client(proxy).converse_stream(modelId="anthropic.error-midstream-v1:0", messages=user(PROMPT))
    seen: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError) as info:
        for event in response["stream"]:
            seen.append(event)
    assert info.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert [next(iter(e)) for e in seen] == ["messageStart", "contentBlockDelta"]


# ---------------------------------------------------------------- the proxy's own credentials


def test_wrong_upstream_credentials_get_the_providers_403(
    make_proxy: ProxyFactory, bedrock_upstream: BackgroundServer, upstream: Recorder
) -> None:
    configured = {
        "base_url": bedrock_upstream.url,
        "region": REGION,
        "aws_access_key_id": UPSTREAM_KEY_ID,
        "aws_secret_access_key": "not-the-upstream-secret",
    }
    # Configured credentials win over the (right) ones in the environment.
    wrong = start_proxy(make_proxy, configured)
    error = refused(lambda: client(wrong).converse(modelId=HAIKU, messages=user(PROMPT)))
    assert error.response["Error"]["Code"] == "InvalidSignatureException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert_masked(upstream)  # it did go out, masked, and the provider refused it


def test_no_upstream_credentials(
    make_proxy: ProxyFactory, bedrock_upstream: BackgroundServer, upstream: Recorder, tmp_path: Any
) -> None:
    bare = start_proxy(make_proxy, {"base_url": bedrock_upstream.url, "region": REGION})
    # Keep botocore's chain away from this machine's profiles and instance metadata.
    nothing = {
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    with aws_environment(nothing):
        error = refused(lambda: client(bare).converse(modelId=HAIKU, messages=user(PROMPT)))
    assert error.response["Error"]["Code"] == "ServiceUnavailableException"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert not upstream.requests


def test_allowed_extra_path_is_signed_and_forwarded(
    make_proxy: ProxyFactory, bedrock_upstream: BackgroundServer, upstream: Recorder
) -> None:
    bedrock = {"base_url": bedrock_upstream.url, "region": REGION, "allow_paths": ["/async-invoke"]}
    extra_paths = start_proxy(make_proxy, bedrock)
    # The fake has no such route: its 404 (not a 403) shows that the proxy's signature held.
    error = refused(lambda: client(extra_paths).list_async_invokes(maxResults=5))
    assert error.response["Error"]["Code"] == "UnknownOperationException"
    (sent,) = upstream.requests
    assert sent.path == "/async-invoke" and sent.query == {"maxResults": "5"}
