"""The Bedrock adapter without a network: where text is found, what goes upstream, frames in/out."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from proxy.auth import KeyRing
from proxy.aws_sigv4 import sign_request, verify_request
from proxy.codecs.eventstream import EventStreamDecoder, encode_event, encode_exception
from proxy.config import AppConfig, ConfigError, ProviderConfig
from proxy.errors import ProxyError, forbidden
from proxy.formats.answers import PassThrough, StreamAbort
from proxy.formats.bedrock import model_family
from proxy.providers.base import IncomingRequest
from proxy.providers.bedrock import BedrockAdapter, BedrockExchange, bedrock_error_reply
from proxy.restore import Restorer
from proxy.textslots import TextSlots

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
PLACEHOLDERS = {"<PERSON_1>": "Jane Doe", "<EMAIL_ADDRESS_1>": "jane.doe@example.com"}
CALLER = AppConfig("backend", aws_access_key_id="AKIDCALLER", aws_secret_access_key="caller-secret")
PROXY_CREDENTIALS = {"aws_access_key_id": "AKIDPROXY", "aws_secret_access_key": "proxy-secret"}
EVENTSTREAM = {"Content-Type": "application/vnd.amazon.eventstream"}


def adapter(**extra: Any) -> BedrockAdapter:
    config = ProviderConfig(
        "bedrock",
        base_url="https://bedrock.example",
        extra={"region": "eu-west-1", **PROXY_CREDENTIALS, **extra},
    )
    return BedrockAdapter(config, KeyRing([CALLER]))


def encoded(model_id: str) -> str:
    return model_id.replace(":", "%3A").replace("/", "%2F")


def exchange(
    model_id: str, operation: str, body: Any, headers: dict[str, str] | None = None, prefix: str = ""
) -> tuple[BedrockExchange, bytes]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    subpath = f"/model/{encoded(model_id)}/{operation}"
    incoming = incoming_request("POST", subpath, headers or {}, raw_path=f"{prefix}/bedrock{subpath}")
    opened = adapter().open(incoming)
    assert isinstance(opened, BedrockExchange)
    opened.parse(raw)
    return opened, raw


def incoming_request(
    method: str, subpath: str, headers: dict[str, str], raw_path: str = ""
) -> IncomingRequest:
    return IncomingRequest(
        method,
        subpath,
        MultiDictProxy(MultiDict()),
        "",
        CIMultiDictProxy(CIMultiDict(headers)),
        raw_path or "/bedrock" + subpath,
    )


def collected(model_id: str, operation: str, body: Any) -> TextSlots:
    opened, _ = exchange(model_id, operation, body)
    slots = TextSlots()
    opened.collect(slots)
    return slots


# ---------------------------------------------------------------- model ids


@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        (HAIKU, "anthropic"),
        ("eu.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic"),
        ("arn:aws:bedrock:eu-west-1:1:inference-profile/us-gov.anthropic.claude-3-haiku-v1:0", "anthropic"),
        ("arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-70b-instruct-v1:0", "llama"),
        ("global.amazon.nova-pro-v1:0", "nova"),
        ("amazon.titan-text-premier-v1:0", "titan"),
        ("amazon.titan-embed-text-v2:0", "titan-embed"),
        ("mistral.mistral-large-2407-v1:0", "mistral"),
        ("cohere.command-r-plus-v1:0", "cohere"),
        ("cohere.embed-english-v3", "cohere-embed"),
        ("ai21.jamba-1-5-large-v1:0", None),
        ("amazon.titan-image-generator-v2:0", None),
        ("arn:aws:bedrock:us-east-1:1:application-inference-profile/a1b2c3", None),
        ("arn:aws:bedrock:us-east-1:1:provisioned-model/x9y8", None),
    ],
)
def test_model_family(model_id: str, family: str | None) -> None:
    assert model_family(model_id) == family


def test_paths_outside_the_four_operations_are_not_forwarded() -> None:
    for method, subpath in [
        ("GET", f"/model/{encoded(HAIKU)}/converse"),
        ("POST", "/model/a/b/converse"),
        ("POST", f"/model/{encoded(HAIKU)}/count-tokens"),
        ("POST", "/model/%2E%2E/converse"),
        ("GET", "/async-invoke"),
    ]:
        with pytest.raises(ProxyError) as info:
            adapter().open(incoming_request(method, subpath, {}))
        assert info.value.status == 404
    config = ProviderConfig("bedrock", extra=PROXY_CREDENTIALS, allow_paths=("/async-invoke",))
    allowed = BedrockAdapter(config, KeyRing([]))
    opened = allowed.open(incoming_request("GET", "/async-invoke/arn%3Aaws%3Ax", {}))
    assert opened.operation == "passthrough" and not opened.scanned


# ---------------------------------------------------------------- where text is found


def test_converse_blocks() -> None:
    body = {
        "system": [{"text": "sys"}, {"guardContent": {"text": {"text": "guarded sys"}}}, {"cachePoint": {}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "hello"},
                    {"guardContent": {"text": {"text": "guarded", "qualifiers": ["query"]}}},
                    {"toolResult": {"toolUseId": "t", "content": [{"text": "res"}, {"json": {"a": ["x"]}}]}},
                    {"searchResult": {"source": "src", "title": "ttl", "content": [{"text": "found"}]}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "thought", "signature": "sig"}}},
                    {"toolUse": {"toolUseId": "t", "name": "n", "input": {"q": "in", "n": 3}}},
                    {"citationsContent": {"content": [{"text": "cited"}], "citations": [{"title": "ct"}]}},
                ],
            },
        ],
        "promptVariables": {"who": {"text": "var"}},
        "requestMetadata": {"user": "u-1"},
        "additionalModelRequestFields": {"anthropic_beta": ["computer-use-2024-10-22"]},
        "inferenceConfig": {"stopSequences": ["STOP"]},
        "futureField": "new",
    }
    slots = collected(HAIKU, "converse", body)
    assert sorted(slots.segments) == sorted(
        [
            *("hello", "guarded", "res", "x", "src", "ttl", "found", "thought", "in", "cited", "ct"),
            *("sys", "guarded sys", "var", "new", "STOP"),
            *("a", "q", "n", "citations", "title"),  # keys of free-form JSON (tool input, results)
            # fields the format does not name, and model settings: keys and values scanned
            "futureField",
            *("who", "user"),  # names of prompt variables and request metadata
            # (beta flags in additionalModelRequestFields are settings: not scanned)
        ]
    )
    assert not slots.unscannable
    assert [(c, k) for c, k in slots.identifiers] == [({"user": "u-1"}, "user")]


@pytest.mark.parametrize(
    ("block", "kind"),
    [
        ({"image": {"format": "png", "source": {"bytes": "AAAA"}}}, "image"),
        ({"document": {"format": "txt", "name": "n", "source": {"bytes": "AAAA"}}}, "document"),
        ({"video": {"format": "mp4", "source": {"bytes": "AAAA"}}}, "video"),
        ({"audio": {"format": "mp3", "source": {"bytes": "AAAA"}}}, "audio"),
        ({"somethingNew": {"data": "?"}}, "unknown content block"),
        ({"toolResult": {"toolUseId": "t", "content": [{"image": {}}]}}, "image"),
    ],
)
def test_converse_unscannable_blocks(block: dict[str, Any], kind: str) -> None:
    slots = collected(HAIKU, "converse", {"messages": [{"role": "user", "content": [block]}]})
    assert slots.unscannable == {kind}


def test_converse_malformed_body_is_a_validation_error() -> None:
    for body in (b"not json", b"[1]"):
        with pytest.raises(ProxyError) as info:
            exchange(HAIKU, "converse", body)
        assert info.value.status == 400
    with pytest.raises(ProxyError):  # a structural field that does not look structural
        collected(HAIKU, "converse", {"messages": [{"role": "john@example.com"}]})


@pytest.mark.parametrize(
    ("model_id", "body", "texts", "unscannable"),
    [
        (
            HAIKU,
            {
                "anthropic_version": "bedrock-2023-05-31",
                "system": [{"type": "text", "text": "sys"}],
                "messages": [
                    {"role": "user", "content": "plain"},
                    {
                        "role": "assistant",
                        "content": [
                            {"type": "thinking", "thinking": "hmm", "signature": "s"},
                            {"type": "redacted_thinking", "data": "opaque"},
                            {"type": "tool_use", "id": "t", "name": "n", "input": {"q": "in"}},
                        ],
                    },
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": "t",
                                "content": [{"type": "text", "text": "r"}],
                            },
                            {"type": "tool_result", "tool_use_id": "u", "content": "r2"},
                        ],
                    },
                ],
                "metadata": {"user_id": "u-1"},
            },
            ["sys", "plain", "hmm", "q", "in", "r", "r2"],
            set(),
        ),
        (
            HAIKU,
            {"prompt": "\n\nHuman: hi\n\nAssistant:", "max_tokens_to_sample": 9},
            ["\n\nHuman: hi\n\nAssistant:"],
            set(),
        ),
        (
            HAIKU,
            {"messages": [{"role": "user", "content": [{"type": "image", "source": {}}]}], "extra": "x"},
            ["extra", "x"],  # a field the format does not name: key and value scanned
            {"image"},
        ),
        (HAIKU, {"anthropic_version": "v"}, [], {"unrecognised Anthropic body"}),
        (
            "us.amazon.nova-lite-v1:0",
            {"messages": [{"role": "user", "content": [{"text": "hi"}]}], "system": [{"text": "s"}]},
            ["hi", "s"],
            set(),
        ),
        (
            "amazon.nova-canvas-v1:0",
            {"taskType": "TEXT_IMAGE", "textToImageParams": {"text": "a cat"}},
            ["taskType", "TEXT_IMAGE", "textToImageParams", "text", "a cat"],
            {"unrecognised Amazon Nova body"},
        ),
        (
            "amazon.titan-text-express-v1",
            {"inputText": "t", "textGenerationConfig": {"stopSequences": ["x"]}},
            ["t", "x"],  # stop sequences are text
            set(),
        ),
        ("amazon.titan-embed-text-v2:0", {"inputText": "e", "dimensions": 256}, ["e"], set()),
        ("meta.llama3-2-11b-instruct-v1:0", {"prompt": "p", "images": ["AAAA"]}, ["p"], {"image"}),
        (
            "mistral.mistral-7b-instruct-v0:2",
            {"prompt": "<s>[INST] p [/INST]"},
            ["<s>[INST] p [/INST]"],
            set(),
        ),
        (
            "mistral.mistral-large-2407-v1:0",
            {
                "messages": [
                    {"role": "user", "content": "m"},
                    {
                        "role": "assistant",
                        "content": "",
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": '{"to": "a"}'}}],
                    },
                    {"role": "tool", "tool_call_id": "c", "content": "done"},
                ]
            },
            ["m", "to", "a", "done"],
            set(),
        ),
        (
            "cohere.command-r-v1:0",
            {
                "message": "m",
                "preamble": "pre",
                "chat_history": [{"role": "USER", "message": "h"}],
                "documents": [{"title": "dt", "snippet": "ds"}],
                "tool_results": [
                    {"call": {"name": "f", "parameters": {"q": "tp"}}, "outputs": [{"o": "to"}]}
                ],
                "temperature": 0.2,
            },
            [
                *("m", "pre", "role", "USER", "message", "h", "title", "dt", "snippet", "ds"),
                *("call", "name", "f", "parameters", "q", "tp", "outputs", "o", "to"),
            ],
            set(),
        ),
        ("cohere.command-text-v14", {"prompt": "legacy"}, ["legacy"], set()),
        (
            "cohere.embed-english-v3",
            {"texts": ["a", "b"], "input_type": "search_document"},
            ["a", "b"],
            set(),
        ),
        ("cohere.embed-english-v3", {"images": ["data:image/png;base64,AAAA"]}, [], {"image"}),
    ],
)
def test_invoke_model_bodies(
    model_id: str, body: dict[str, Any], texts: list[str], unscannable: set[str]
) -> None:
    slots = collected(model_id, "invoke", body)
    assert sorted(slots.segments) == sorted(texts)
    assert slots.unscannable == unscannable


def test_unknown_family_is_unscannable_and_forwarded_raw() -> None:
    opened, raw = exchange(
        "ai21.jamba-1-5-mini-v1:0", "invoke", b"\x00 not even json", {"Content-Type": "x/y"}
    )
    slots = TextSlots()
    opened.collect(slots)
    assert slots.unscannable == {"InvokeModel body of an unrecognised model family"} and not slots.segments
    sent = opened.upstream_request()
    assert sent.body == raw and sent.headers["Content-Type"] == "x/y"


# ---------------------------------------------------------------- authentication


def signed_headers(
    path: str, body: bytes, extra: dict[str, str] | None = None, secret: str = "caller-secret"
) -> dict[str, str]:
    url = "http://127.0.0.1:8080" + path
    headers = {"Content-Type": "application/json", **(extra or {})}
    signed = sign_request("POST", url, headers, body, Credentials("AKIDCALLER", secret), "us-east-1")
    return {**signed, "Host": "127.0.0.1:8080"}


def test_authenticate_over_the_raw_path_with_customer_prefix() -> None:
    body = json.dumps({"messages": []}).encode()
    subpath = f"/model/{encoded(HAIKU)}/converse"
    raw_path = "/c/cust-42/bedrock" + subpath
    headers = signed_headers(raw_path, body, {"X-Customer-Id": "cust-42"})
    opened = adapter().open(incoming_request("POST", subpath, headers, raw_path=raw_path))
    assert opened.authenticate(body) == "backend"
    # The same signature does not cover another path, another body or another customer.
    for path, data, hdrs in [
        ("/bedrock" + subpath, body, headers),
        (raw_path, body + b" ", headers),
        (raw_path, body, {**headers, "X-Customer-Id": "cust-43"}),
    ]:
        other = adapter().open(incoming_request("POST", subpath, hdrs, raw_path=path))
        with pytest.raises(ProxyError) as info:
            other.authenticate(data)
        assert info.value.status == 403 and info.value.code == "invalid_signature"


def test_authentication_failures_in_bedrock_shape() -> None:
    body = b"{}"
    subpath = f"/model/{encoded(HAIKU)}/converse"
    cases = [
        ({}, "missing_signature", "MissingAuthenticationTokenException"),
        (
            signed_headers("/bedrock" + subpath, body, secret="wrong"),
            "invalid_signature",
            "InvalidSignatureException",
        ),
    ]
    for headers, code, error_type in cases:
        opened = adapter().open(incoming_request("POST", subpath, headers))
        with pytest.raises(ProxyError) as info:
            opened.authenticate(body)
        assert info.value.code == code
        reply = bedrock_error_reply(info.value)
        assert reply.status == 403 and reply.headers["x-amzn-ErrorType"] == error_type
        assert "message" in json.loads(reply.body)


def test_error_reply_shapes() -> None:
    blocked = bedrock_error_reply(
        forbidden("entity_blocked", "no", reason="entity_blocked", entity_types=["US_SSN"])
    )
    assert blocked.status == 403 and blocked.headers["x-amzn-ErrorType"] == "AccessDeniedException"
    assert blocked.headers["X-Consentry-Reason"] == "entity_blocked"
    assert json.loads(blocked.body) == {
        "message": "no",
        "reason": "entity_blocked",
        "entity_types": ["US_SSN"],
    }
    for status, error_type in [
        (400, "ValidationException"),
        (401, "UnrecognizedClientException"),
        (404, "ResourceNotFoundException"),
        (502, "ServiceUnavailableException"),
        (503, "ServiceUnavailableException"),
        (504, "ModelTimeoutException"),
    ]:
        reply = bedrock_error_reply(ProxyError(status, "x", "m"))
        assert reply.headers["x-amzn-ErrorType"] == error_type and reply.status == (
            403 if status == 401 else status
        )


# ---------------------------------------------------------------- the request sent upstream


def test_upstream_request_is_signed_by_the_proxy_over_the_encoded_path() -> None:
    arn = "arn:aws:bedrock:eu-west-1:1:inference-profile/eu.anthropic.claude-3-haiku-v1:0"
    caller_headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-Amzn-Bedrock-GuardrailIdentifier": "gr-1",
        "X-Amzn-Bedrock-Request-Metadata": '{"user": "u-1"}',
        "X-Customer-Id": "cust-42",
        "X-Forwarded-For": "10.0.0.1",
        "User-Agent": "Boto3/1.0",
        "amz-sdk-invocation-id": "abc",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDCALLER/...",
        "X-Amz-Security-Token": "caller-token",
    }
    opened, _ = exchange(arn, "invoke", {"anthropic_version": "v", "messages": []}, caller_headers)
    slots = TextSlots()
    opened.collect(slots)
    slots.write_back(list(slots.segments), lambda value: "anon-" + value[::-1])
    sent = opened.upstream_request()
    url = str(sent.url)
    assert url == f"https://bedrock.example/model/{encoded(arn)}/invoke"
    assert sent.url.raw_path == f"/model/{encoded(arn)}/invoke"  # type: ignore[union-attr]
    names = {name.lower() for name in sent.headers}
    assert names == {
        "content-type",
        "accept",
        "x-amzn-bedrock-guardrailidentifier",
        "x-amzn-bedrock-request-metadata",
        "x-amz-date",
        "authorization",
    }
    assert json.loads(sent.headers["X-Amzn-Bedrock-Request-Metadata"]) == {"user": "anon-1-u"}
    assert (
        "Credential=AKIDPROXY/" in sent.headers["Authorization"]
        and "/eu-west-1/bedrock/" in sent.headers["Authorization"]
    )
    # What the provider will check: the proxy's signature over the path exactly as sent.
    host_headers = {**sent.headers, "Host": "bedrock.example"}
    verify_request(
        "POST",
        sent.url.raw_path,  # type: ignore[union-attr]
        host_headers,
        sent.body or b"",
        {"AKIDPROXY": "proxy-secret"}.get,
        now=datetime.now(UTC),
        expected_region="eu-west-1",
    )


def test_configuration_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError):
        BedrockAdapter(
            ProviderConfig("bedrock", auth_mode="passthrough", extra=PROXY_CREDENTIALS), KeyRing([])
        )
    with pytest.raises(ConfigError):
        BedrockAdapter(ProviderConfig("bedrock", extra={"aws_access_key_id": "AKID"}), KeyRing([]))
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    defaults = BedrockAdapter(ProviderConfig("bedrock", extra=PROXY_CREDENTIALS), KeyRing([]))
    assert defaults.region == "ap-south-1"
    assert defaults.base_url == "https://bedrock-runtime.ap-south-1.amazonaws.com"
    env = {"CONSENTRY_BEDROCK_AWS_ACCESS_KEY_ID": "AKIDENV", "CONSENTRY_BEDROCK_AWS_SECRET_ACCESS_KEY": "s"}
    from_env = BedrockAdapter(ProviderConfig("bedrock", env=env), KeyRing([]))
    assert from_env.signing_credentials().access_key == "AKIDENV"


def test_credential_chain_is_asked_on_first_use_not_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups: list[int] = []
    found: list[Credentials | None] = [None]

    class Session:
        def get_credentials(self) -> Credentials | None:
            lookups.append(1)
            return found[0]

    monkeypatch.setattr("proxy.providers.bedrock.botocore.session.get_session", Session)
    chained = BedrockAdapter(ProviderConfig("bedrock"), KeyRing([]))
    assert lookups == []  # a proxy that never calls Bedrock never probes for AWS credentials
    with pytest.raises(ProxyError) as info:
        chained.signing_credentials()
    assert info.value.status == 503 and lookups == [1]
    found[0] = Credentials("AKIDCHAIN", "s")
    with pytest.raises(ProxyError):
        chained.signing_credentials()  # not asked again straight away
    assert lookups == [1]
    chained._next_chain_lookup = 0.0
    assert chained.signing_credentials().access_key == "AKIDCHAIN"
    assert chained.signing_credentials().access_key == "AKIDCHAIN" and lookups == [1, 1]


# ---------------------------------------------------------------- answers


def botocore_frames(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """botocore is the judge: it checks both CRCs of every frame."""
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return [(message.headers, message.payload) for message in buffer]


def converse_frames(pieces: list[str]) -> list[bytes]:
    frames = [encode_event("messageStart", b'{"role":"assistant","p":"abc"}')]
    for piece in pieces:
        payload = {"contentBlockIndex": 0, "delta": {"text": piece}, "p": "abcdef"}
        frames.append(encode_event("contentBlockDelta", json.dumps(payload).encode()))
    frames.append(encode_event("contentBlockStop", b'{"contentBlockIndex":0}'))
    frames.append(encode_event("messageStop", b'{"stopReason":"end_turn"}'))
    return frames


def run(transformer: Any, data: list[bytes]) -> bytes:
    return b"".join(transformer.feed(chunk) for chunk in data) + transformer.finish()


def converse_stream_transformer(restorer: Restorer | None = None) -> Any:
    opened, _ = exchange(HAIKU, "converse-stream", {"messages": []})
    return opened.response_transformer(200, EVENTSTREAM, restorer or Restorer(PLACEHOLDERS))


@pytest.mark.parametrize("split", ["frames", "bytes"])
def test_converse_stream_restore(split: str) -> None:
    masked = "Hi <PERSON_1>, mail <EMAIL_ADDRESS_1> or <EMAIL"
    frames = converse_frames([masked[i : i + 4] for i in range(0, len(masked), 4)])
    data = frames if split == "frames" else [bytes([b]) for b in b"".join(frames)]
    out = botocore_frames(run(converse_stream_transformer(), data))
    types = [headers[":event-type"] for headers, _ in out]
    assert types[0] == "messageStart" and types[-2:] == ["contentBlockStop", "messageStop"]
    texts = [json.loads(p)["delta"]["text"] for h, p in out if h[":event-type"] == "contentBlockDelta"]
    assert "".join(texts) == "Hi Jane Doe, mail jane.doe@example.com or <EMAIL"
    # One frame out per frame in, plus the held-back "<EMAIL" released before contentBlockStop.
    assert len(out) == len(frames) + 1 and texts[-1] == "<EMAIL"
    assert out[0] == botocore_frames(frames[0])[0]  # untouched frames are relayed as they came


def test_converse_stream_tool_input_is_json_escaped() -> None:
    restorer = Restorer({"<PERSON_1>": 'Jane "JD" Doe'})
    fragments = ['{"echo":"<PER', 'SON_1>"}']
    frames = [
        encode_event(
            "contentBlockDelta",
            json.dumps({"contentBlockIndex": 1, "delta": {"toolUse": {"input": f}}}).encode(),
        )
        for f in fragments
    ]
    out = botocore_frames(run(converse_stream_transformer(restorer), frames))
    joined = "".join(json.loads(p)["delta"]["toolUse"]["input"] for _, p in out)
    assert json.loads(joined) == {"echo": 'Jane "JD" Doe'}


def test_corrupt_frame_aborts_with_an_exception_frame() -> None:
    frames = converse_frames(["Hi <PER", "SON_1>"])
    bad = bytearray(frames[2])
    bad[-1] ^= 0xFF
    transformer = converse_stream_transformer()
    first = transformer.feed(frames[0] + frames[1])
    assert len(botocore_frames(first)) == 2
    with pytest.raises(StreamAbort) as info:
        transformer.feed(bytes(bad))
    assert info.value.reason == "upstream_corrupt_stream" and "corrupt" in info.value.message
    # The frames out so far are whole, so the stream can still end with an exception frame.
    ((headers, payload),) = botocore_frames(transformer.abort(b'{"message":"corrupt stream"}'))
    assert headers[":message-type"] == "exception"
    assert headers[":exception-type"] == "modelStreamErrorException"
    assert json.loads(payload) == {"message": "corrupt stream"}


def test_stream_cut_inside_a_frame_aborts() -> None:
    transformer = converse_stream_transformer(Restorer({}))
    frame = converse_frames(["x"])[1]
    assert transformer.feed(frame[:10]) == b""
    with pytest.raises(StreamAbort) as info:
        transformer.finish()
    assert info.value.reason == "upstream_cut"
    assert botocore_frames(transformer.abort(b'{"message":"cut"}'))[0][0][":message-type"] == "exception"


def test_nothing_masked_still_checks_frames() -> None:
    frames = converse_frames(["<PERSON_1>"])
    transformer = converse_stream_transformer(Restorer({}))
    assert run(transformer, frames) == b"".join(frames)
    bad = bytearray(frames[0])
    bad[5] ^= 0x01
    with pytest.raises(StreamAbort):
        converse_stream_transformer(Restorer({})).feed(bytes(bad))


def test_upstream_exception_frame_is_relayed_after_held_text() -> None:
    frames = [
        *converse_frames(["Hi <PER"])[:2],
        encode_exception("throttlingException", b'{"message":"slow"}'),
    ]
    out = botocore_frames(run(converse_stream_transformer(), frames))
    assert [h[":message-type"] for h, _ in out] == ["event", "event", "event", "exception"]
    assert [json.loads(p)["delta"]["text"] for h, p in out[1:3]] == ["Hi ", "<PER"]


def chunk_frame(chunk: dict[str, Any], padding: str = "xyz") -> bytes:
    data = base64.b64encode(json.dumps(chunk).encode()).decode()
    return encode_event("chunk", json.dumps({"bytes": data, "p": padding}).encode())


def chunks_out(data: bytes) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    out = []
    for _, payload in botocore_frames(data):
        outer = json.loads(payload)
        out.append((outer, json.loads(base64.b64decode(outer["bytes"]))))
    return out


def test_anthropic_invoke_stream_restore() -> None:
    chunks: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"content": []}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "<PERSO"},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "N_1>?"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "to <EMAIL_ADD"}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "RESS_1> <PER"}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}},
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"outputTokenCount": 3}},
    ]
    opened, _ = exchange(HAIKU, "invoke-with-response-stream", {"messages": []})
    transformer = opened.response_transformer(200, EVENTSTREAM, Restorer(PLACEHOLDERS))
    out = chunks_out(run(transformer, [chunk_frame(c) for c in chunks]))
    thinking = "".join(c["delta"].get("thinking", "") for _, c in out if c.get("index") == 0 and "delta" in c)
    text = "".join(c["delta"].get("text", "") for _, c in out if c.get("index") == 1 and "delta" in c)
    assert thinking == "Jane Doe?" and text == "to jane.doe@example.com <PER"
    assert [c["type"] for _, c in out][-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert len(out) == len(chunks) + 1  # "<PER" went out as one more delta before its block's stop
    rewritten = [outer for outer, c in out if c.get("type") == "content_block_delta"]
    assert all(outer["p"] == "xyz" for outer in rewritten[:4])  # padding kept on rewritten frames


@pytest.mark.parametrize(
    ("model_id", "chunks", "extract"),
    [
        (
            "meta.llama3-8b-instruct-v1:0",
            [
                {"generation": "Hi <PER", "stop_reason": None},
                {"generation": "SON_1> <EMA", "stop_reason": "stop"},
            ],
            lambda c: c["generation"],
        ),
        (
            "amazon.titan-text-lite-v1",
            [
                {"outputText": "Hi <PER", "index": 0},
                {"outputText": "SON_1> <EMA", "completionReason": "FINISH"},
            ],
            lambda c: c["outputText"],
        ),
        (
            "mistral.mistral-large-2407-v1:0",
            [
                {"choices": [{"index": 0, "message": {"content": "Hi <PER"}, "stop_reason": None}]},
                {"choices": [{"index": 0, "message": {"content": "SON_1> <EMA"}, "stop_reason": "stop"}]},
            ],
            lambda c: c["choices"][0]["message"]["content"],
        ),
        (
            "cohere.command-r-v1:0",
            [
                {"event_type": "text-generation", "text": "Hi <PER", "is_finished": False},
                {"event_type": "text-generation", "text": "SON_1> <EMA", "is_finished": False},
                {"event_type": "stream-end", "is_finished": True, "response": {"text": "Hi <PERSON_1> <EMA"}},
            ],
            lambda c: c.get("text", "") if c.get("event_type") == "text-generation" else "",
        ),
    ],
)
def test_flat_family_streams(model_id: str, chunks: list[dict[str, Any]], extract: Any) -> None:
    opened, _ = exchange(model_id, "invoke-with-response-stream", {"prompt": "p", "message": "m"})
    transformer = opened.response_transformer(200, EVENTSTREAM, Restorer(PLACEHOLDERS))
    out = [c for _, c in chunks_out(run(transformer, [chunk_frame(c) for c in chunks]))]
    assert "".join(extract(c) for c in out) == "Hi Jane Doe <EMA"
    if model_id.startswith("cohere"):
        assert out[-1]["response"]["text"] == "Hi Jane Doe <EMA"


def test_json_answers_are_restored_everywhere() -> None:
    opened, _ = exchange("mistral.mistral-large-2407-v1:0", "invoke", {"messages": []})
    transformer = opened.response_transformer(
        200, {"Content-Type": "application/json"}, Restorer(PLACEHOLDERS)
    )
    answer = {
        "choices": [
            {
                "message": {
                    "content": "to <PERSON_1>",
                    "tool_calls": [{"function": {"name": "f", "arguments": '{"to": "<PERSON_1>"}'}}],
                }
            }
        ]
    }
    restored = json.loads(run(transformer, [json.dumps(answer).encode()]))
    message = restored["choices"][0]["message"]
    assert message["content"] == "to Jane Doe"
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"to": "Jane Doe"}


def test_error_answers_and_unmasked_answers_pass_through() -> None:
    opened, _ = exchange(HAIKU, "converse-stream", {"messages": []})
    assert isinstance(
        opened.response_transformer(429, {"Content-Type": "application/json"}, Restorer(PLACEHOLDERS)),
        PassThrough,
    )
    opened, _ = exchange(HAIKU, "converse", {"messages": []})
    assert isinstance(
        opened.response_transformer(200, {"Content-Type": "application/json"}, Restorer({})), PassThrough
    )


def test_decoder_round_trip_of_rewritten_frames_is_byte_exact() -> None:
    frames = converse_frames(["plain text"])
    transformer = converse_stream_transformer()
    out = run(transformer, frames)
    decoder = EventStreamDecoder()
    assert [m.encode() for m in decoder.feed(out)] == frames
