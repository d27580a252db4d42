"""The official google-genai SDK -> Consentry -> a fake Gemini upstream, all on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from google import genai
from google.genai import errors, types
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from proxy.auth import KeyRing
from proxy.config import parse_config
from proxy.providers.base import IncomingRequest
from proxy.providers.gemini import DEFAULT_BASE_URL, GeminiAdapter
from tests.conftest import PROXY_KEY, ProxyFactory, ProxyHarness
from tests.e2e_checks import assert_forwarded_record, assert_masked_upstream, forwarded_requests
from tests.fakes.detectors import FailingDetector
from tests.fakes.gemini_upstream import make_gemini_app
from tests.fakes.server import BackgroundServer, Recorder

GEMINI_UPSTREAM_KEY = "gm-upstream-test"
MODEL = "gemini-2.5-flash"
EMBED_MODEL = "text-embedding-004"
NAME = "Jane Doe"
EMAIL = "jane.doe@example.com"
PROMPT = f"Please write to {NAME} at {EMAIL} about the invoice."
SECRETS = (NAME.encode(), EMAIL.encode())
MASKED_PROMPT = "Please write to <PERSON_1> at <EMAIL_ADDRESS_1> about the invoice."


@pytest.fixture(scope="module")
def gemini_recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def gemini_upstream(gemini_recorder: Recorder) -> Iterator[BackgroundServer]:
    server = BackgroundServer(lambda: make_gemini_app(gemini_recorder, api_key=GEMINI_UPSTREAM_KEY)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, gemini_upstream: BackgroundServer) -> ProxyHarness:
    return make_proxy({"gemini": {"base_url": gemini_upstream.url, "api_key": GEMINI_UPSTREAM_KEY}})


@pytest.fixture()
def upstream(gemini_recorder: Recorder) -> Iterator[Recorder]:
    gemini_recorder.clear()
    yield gemini_recorder


def client(
    proxy: ProxyHarness,
    customer: str | None = "cust-42",
    *,
    api_version: str = "v1beta",
    key: str = PROXY_KEY,
    headers: dict[str, str] | None = None,
) -> genai.Client:
    """Keep the returned client in a variable: a collected genai.Client closes its HTTP client."""
    prefix = f"/c/{customer}" if customer else ""
    return genai.Client(
        api_key=key,
        http_options=types.HttpOptions(
            base_url=f"{proxy.url}{prefix}/gemini",
            api_version=api_version,
            headers=headers,
            retry_options=types.HttpRetryOptions(attempts=1),
            timeout=30_000,
        ),
    )


def assert_masked(upstream: Recorder) -> bytes:
    queries = repr([r.query for r in upstream.requests]).encode()
    seen = assert_masked_upstream(upstream, SECRETS, also_seen=queries)
    assert PROXY_KEY.encode() not in seen, "the proxy key must never go upstream"
    for request in upstream.requests:
        assert request.headers["x-goog-api-key"] == GEMINI_UPSTREAM_KEY
    return seen


def request_id(response: Any) -> str:
    headers = {k.lower(): v for k, v in (response.sdk_http_response.headers or {}).items()}
    return headers["x-consentry-request-id"]


def assert_recorded(
    proxy: ProxyHarness, rid: str, operation: str, streamed: bool, persons: int = 1, customer: str = "cust-42"
) -> None:
    record = assert_forwarded_record(
        proxy,
        rid,
        provider="gemini",
        operation=operation,
        streamed=streamed,
        secrets=SECRETS,
        customer=customer,
        persons=persons,
    )
    assert PROXY_KEY.encode() not in repr(record).encode()


def requests_metric(
    proxy: ProxyHarness, operation: str, decision: str = "forwarded", status: str = "200"
) -> float:
    return forwarded_requests(proxy, "gemini", operation, decision, status)


def sent_body(upstream: Recorder) -> dict[str, Any]:
    return json.loads(upstream.requests[-1].body)


# ---------------------------------------------------------------- generateContent


@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
def test_generate_content_masks_upstream_and_restores_answer(
    proxy: ProxyHarness, upstream: Recorder, api_version: str
) -> None:
    before = requests_metric(proxy, "generate_content")
    entities_before = proxy.metric("consentry_entities_total", entity_type="PERSON", action="mask")
    sdk = client(proxy, api_version=api_version)
    response = sdk.models.generate_content(model=MODEL, contents=PROMPT)

    assert response.text == "Echo: " + PROMPT
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert_masked(upstream)
    assert upstream.requests[-1].path == f"/{api_version}/models/{MODEL}:generateContent"
    assert sent_body(upstream)["contents"] == [{"parts": [{"text": MASKED_PROMPT}], "role": "user"}]
    assert_recorded(proxy, request_id(response), "generate_content", streamed=False)
    assert requests_metric(proxy, "generate_content") == before + 1
    assert (
        proxy.metric("consentry_entities_total", entity_type="PERSON", action="mask") == entities_before + 1
    )


def test_generate_content_system_instruction_and_history(proxy: ProxyHarness, upstream: Recorder) -> None:
    contents = [
        types.Content(role="user", parts=[types.Part(text=f"Who is {NAME}?")]),
        types.Content(role="model", parts=[types.Part(text=f"{NAME} is a customer.")]),
        types.Content(role="user", parts=[types.Part(text=PROMPT)]),
    ]
    sdk = client(proxy)
    response = sdk.models.generate_content(
        model=MODEL,
        contents=contents,
        config=types.GenerateContentConfig(system_instruction=f"You assist {NAME}."),
    )

    assert response.text == "Echo: " + PROMPT
    assert_masked(upstream)
    body = sent_body(upstream)
    assert body["systemInstruction"]["parts"] == [{"text": "You assist <PERSON_1>."}]
    assert body["contents"][0]["parts"][0]["text"] == "Who is <PERSON_1>?"
    assert body["contents"][1]["parts"][0]["text"] == "<PERSON_1> is a customer."
    assert_recorded(proxy, request_id(response), "generate_content", streamed=False, persons=4)


def test_generate_content_tools_function_call_args_masked_and_restored(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    declaration = types.FunctionDeclaration(
        name="send_mail",
        description="Send a mail.",
        parameters=types.Schema(
            type=types.Type.OBJECT, properties={"to": types.Schema(type=types.Type.STRING)}
        ),
    )
    contents = [
        types.Content(role="user", parts=[types.Part(text="mail someone")]),
        types.Content(
            role="model",
            parts=[
                types.Part(function_call=types.FunctionCall(name="send_mail", args={"to": EMAIL, "n": 2}))
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        name="send_mail", response={"result": {"sent_to": [f"{NAME}"], "ok": True}}
                    )
                )
            ],
        ),
        types.Content(role="user", parts=[types.Part(text=PROMPT)]),
    ]
    sdk = client(proxy)
    response = sdk.models.generate_content(
        model=MODEL,
        contents=contents,
        config=types.GenerateContentConfig(tools=[types.Tool(function_declarations=[declaration])]),
    )

    assert response.function_calls is not None
    [call] = response.function_calls
    assert call.name == "send_mail"
    assert call.args == {"echo": "Echo: " + PROMPT}
    assert_masked(upstream)
    body = sent_body(upstream)
    assert body["contents"][1]["parts"][0]["functionCall"]["args"] == {"to": "<EMAIL_ADDRESS_1>", "n": 2}
    assert body["contents"][2]["parts"][0]["functionResponse"]["response"] == {
        "result": {"sent_to": ["<PERSON_1>"], "ok": True}
    }
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "send_mail"


# ---------------------------------------------------------------- streamGenerateContent


@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
def test_generate_content_stream_restores_placeholders_split_across_chunks(
    proxy: ProxyHarness, upstream: Recorder, api_version: str
) -> None:
    sdk = client(proxy, api_version=api_version)
    chunks = list(sdk.models.generate_content_stream(model=MODEL, contents=PROMPT))

    assert "".join(chunk.text or "" for chunk in chunks) == "Echo: " + PROMPT
    # The fake sends 3-character pieces, so placeholders arrive split and the client sees many chunks.
    assert len(chunks) > 10
    final = chunks[-1]
    assert final.candidates is not None and final.candidates[0].finish_reason == types.FinishReason.STOP
    assert_masked(upstream)
    seen = upstream.requests[-1]
    assert seen.path == f"/{api_version}/models/{MODEL}:streamGenerateContent"
    assert seen.query == {"alt": "sse"}
    assert_recorded(proxy, request_id(chunks[0]), "generate_content", streamed=True)


def test_generate_content_stream_function_call_restored(proxy: ProxyHarness, upstream: Recorder) -> None:
    tool = types.Tool(
        function_declarations=[types.FunctionDeclaration(name="send_mail", description="Send.")]
    )
    sdk = client(proxy)
    chunks = list(
        sdk.models.generate_content_stream(
            model=MODEL, contents=PROMPT, config=types.GenerateContentConfig(tools=[tool])
        )
    )

    calls = [call for chunk in chunks for call in chunk.function_calls or []]
    assert [(c.name, c.args) for c in calls] == [("send_mail", {"echo": "Echo: " + PROMPT})]
    assert_masked(upstream)


async def _raw_stream(url: str, body: object, headers: dict[str, str]) -> tuple[int, str, list[bytes]]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers=headers) as response:
        pieces = [piece async for piece in response.content.iter_any()]
        return response.status, response.headers["Content-Type"], pieces


def test_stream_without_alt_sse_is_a_restored_json_array_in_pieces(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    status, content_type, pieces = asyncio.run(
        _raw_stream(
            f"{proxy.url}/c/cust-42/gemini/v1beta/models/{MODEL}:streamGenerateContent",
            {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]},
            {"x-goog-api-key": PROXY_KEY},
        )
    )

    assert status == 200 and content_type.startswith("application/json")
    assert len(pieces) > 1, "the array must be relayed as it arrives, not buffered"
    raw = b"".join(pieces)
    assert raw.startswith(b"[") and raw.rstrip().endswith(b"]")
    items = json.loads(raw)
    assert len(items) > 10
    text = "".join(p.get("text", "") for i in items for p in i["candidates"][0]["content"]["parts"])
    assert text == "Echo: " + PROMPT
    assert items[-1]["candidates"][0]["finishReason"] == "STOP"
    assert_masked(upstream)
    assert upstream.requests[-1].query == {}


def test_stream_without_alt_sse_unmasked_passes_through_in_pieces(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    text = "Summarise the attached report in three bullet points."
    status, _, pieces = asyncio.run(
        _raw_stream(
            f"{proxy.url}/c/cust-42/gemini/v1beta/models/{MODEL}:streamGenerateContent",
            {"contents": [{"parts": [{"text": text}]}]},
            {"x-goog-api-key": PROXY_KEY},
        )
    )

    assert status == 200 and len(pieces) > 1
    items = json.loads(b"".join(pieces))
    assert "".join(i["candidates"][0]["content"]["parts"][0]["text"] for i in items) == "Echo: " + text
    assert sent_body(upstream)["contents"][0]["parts"][0]["text"] == text


def test_midstream_error_reaches_the_sdk_after_restored_text(proxy: ProxyHarness, upstream: Recorder) -> None:
    received: list[str] = []
    sdk = client(proxy)
    with pytest.raises(errors.ServerError) as caught:
        for chunk in sdk.models.generate_content_stream(model="error-midstream", contents=PROMPT):
            received.append(chunk.text or "")

    assert caught.value.code == 503
    assert "".join(received) == "Ech"
    assert_masked(upstream)


# ---------------------------------------------------------------- embeddings and countTokens


@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
def test_embed_content_masked(proxy: ProxyHarness, upstream: Recorder, api_version: str) -> None:
    sdk = client(proxy, api_version=api_version)
    result = sdk.models.embed_content(model=EMBED_MODEL, contents=[PROMPT, "plain words"])

    assert result.embeddings is not None and len(result.embeddings) == 2
    assert all(e.values is not None and len(e.values) == 8 for e in result.embeddings)
    assert_masked(upstream)
    assert upstream.requests[-1].path == f"/{api_version}/models/{EMBED_MODEL}:batchEmbedContents"
    requests = sent_body(upstream)["requests"]
    assert requests[0]["content"]["parts"][0]["text"] == MASKED_PROMPT
    assert requests[1]["content"]["parts"][0]["text"] == "plain words"
    record = proxy.records("cust-42")[-1]
    assert record.operation == "batch_embed_contents" and record.entities["EMAIL_ADDRESS"].count == 1


def test_raw_embed_content_endpoint_masked(proxy: ProxyHarness, upstream: Recorder) -> None:
    status, _, pieces = asyncio.run(
        _raw_stream(
            f"{proxy.url}/c/cust-42/gemini/v1beta/models/{EMBED_MODEL}:embedContent",
            {"content": {"parts": [{"text": PROMPT}]}, "title": f"Notes on {NAME}"},
            {"x-goog-api-key": PROXY_KEY},
        )
    )

    assert status == 200
    assert len(json.loads(b"".join(pieces))["embedding"]["values"]) == 8
    assert_masked(upstream)
    assert sent_body(upstream)["title"] == "Notes on <PERSON_1>"
    assert proxy.records("cust-42")[-1].operation == "embed_content"


@pytest.mark.parametrize("api_version", ["v1", "v1beta"])
def test_count_tokens_masked(proxy: ProxyHarness, upstream: Recorder, api_version: str) -> None:
    sdk = client(proxy, api_version=api_version)
    result = sdk.models.count_tokens(model=MODEL, contents=PROMPT)

    assert result.total_tokens == len(MASKED_PROMPT.split())
    assert_masked(upstream)
    assert sent_body(upstream)["contents"][0]["parts"][0]["text"] == MASKED_PROMPT
    assert proxy.records("cust-42")[-1].operation == "count_tokens"


def test_count_tokens_generate_content_request_masked(proxy: ProxyHarness, upstream: Recorder) -> None:
    body = {
        "generateContentRequest": {
            "model": f"models/{MODEL}",
            "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
            "systemInstruction": {"parts": [{"text": f"You assist {NAME}."}]},
        }
    }
    status, _, pieces = asyncio.run(
        _raw_stream(
            f"{proxy.url}/c/cust-42/gemini/v1alpha/models/{MODEL}:countTokens",
            body,
            {"x-goog-api-key": PROXY_KEY},
        )
    )

    assert status == 200 and json.loads(b"".join(pieces))["totalTokens"] > 0
    assert_masked(upstream)
    inner = sent_body(upstream)["generateContentRequest"]
    assert inner["systemInstruction"]["parts"][0]["text"] == "You assist <PERSON_1>."
    assert upstream.requests[-1].path == f"/v1alpha/models/{MODEL}:countTokens"


# ---------------------------------------------------------------- identity and credentials


def test_key_query_auth_is_never_forwarded_recorded_or_logged(
    proxy: ProxyHarness, upstream: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    status, _, pieces = asyncio.run(
        _raw_stream(
            f"{proxy.url}/c/cust-42/gemini/v1beta/models/{MODEL}:generateContent?key={PROXY_KEY}",
            {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]},
            {},
        )
    )

    assert status == 200
    answer = json.loads(b"".join(pieces))
    assert answer["candidates"][0]["content"]["parts"][0]["text"] == "Echo: " + PROMPT
    assert_masked(upstream)
    seen = upstream.requests[-1]
    assert seen.query == {} and seen.headers["x-goog-api-key"] == GEMINI_UPSTREAM_KEY
    record = proxy.records("cust-42")[-1]
    assert record.decision == "forwarded" and PROXY_KEY not in repr(record)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "request id=" in logged
    for secret in (PROXY_KEY, NAME, EMAIL):
        assert secret not in logged


def test_key_query_on_array_stream_only_alt_forwarded(proxy: ProxyHarness, upstream: Recorder) -> None:
    status, _, pieces = asyncio.run(
        _raw_stream(
            f"{proxy.url}/c/cust-42/gemini/v1beta/models/{MODEL}:streamGenerateContent"
            f"?alt=sse&key={PROXY_KEY}&fields=x",
            {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]},
            {},
        )
    )

    assert status == 200
    raw = b"".join(pieces)
    assert raw.startswith(b"data: ")
    texts = [
        json.loads(line[len(b"data: ") :])["candidates"][0]["content"]["parts"][0]["text"]
        for line in raw.splitlines()
        if line.startswith(b"data: ")
    ]
    assert "".join(texts) == "Echo: " + PROMPT
    assert upstream.requests[-1].query == {"alt": "sse"}
    assert_masked(upstream)


def test_customer_header_instead_of_path(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = client(proxy, customer=None, headers={"X-Customer-Id": "cust-7"})
    response = sdk.models.generate_content(model=MODEL, contents=PROMPT)

    assert response.text == "Echo: " + PROMPT
    assert_masked(upstream)
    assert "x-customer-id" not in {k.lower() for k in upstream.requests[-1].headers}
    assert_recorded(proxy, request_id(response), "generate_content", streamed=False, customer="cust-7")


def test_proto_field_names_are_scanned_too(proxy: ProxyHarness, upstream: Recorder) -> None:
    # Google takes `system_instruction` as well as `systemInstruction`; neither may slip past.
    body = {
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "system_instruction": {"parts": [{"text": f"You assist {NAME}."}]},
    }
    status, _, pieces = asyncio.run(
        _raw_stream(
            f"{proxy.url}/c/cust-42/gemini/v1beta/models/{MODEL}:generateContent",
            body,
            {"x-goog-api-key": PROXY_KEY},
        )
    )

    assert status == 200
    assert json.loads(b"".join(pieces))["candidates"][0]["content"]["parts"][0]["text"] == "Echo: " + PROMPT
    assert_masked(upstream)
    assert sent_body(upstream)["system_instruction"]["parts"][0]["text"] == "You assist <PERSON_1>."


def test_v1alpha_generate_content(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = client(proxy, api_version="v1alpha")
    response = sdk.models.generate_content(model=MODEL, contents=PROMPT)

    assert response.text == "Echo: " + PROMPT
    assert upstream.requests[-1].path == f"/v1alpha/models/{MODEL}:generateContent"
    assert_masked(upstream)


def test_no_pii_prompt_is_forwarded_unchanged(proxy: ProxyHarness, upstream: Recorder) -> None:
    text = "Summarise the attached report in three bullet points."
    sdk = client(proxy)
    response = sdk.models.generate_content(model=MODEL, contents=text)

    assert response.text == "Echo: " + text
    assert sent_body(upstream)["contents"][0]["parts"][0]["text"] == text


def test_hash_and_redact_actions(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = client(proxy, "cust-hash")
    response = sdk.models.generate_content(model=MODEL, contents=PROMPT)

    seen = upstream.all_bytes()
    assert EMAIL.encode() not in seen and NAME.encode() not in seen
    assert b"[PERSON]" in seen and b"[EMAIL_ADDRESS:" in seen
    assert NAME not in (response.text or ""), "irreversible actions are not restored"


# ---------------------------------------------------------------- refusals


def error_info(caught: errors.APIError) -> dict[str, Any]:
    body = caught.details
    assert set(body) == {"error"}
    assert {"code", "message", "status"} <= set(body["error"])
    [info] = body["error"]["details"]
    return info


def test_bad_proxy_key_is_401_unauthenticated(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = client(proxy, key="not-the-right-key-at-all")
    with pytest.raises(errors.ClientError) as caught:
        sdk.models.generate_content(model=MODEL, contents=PROMPT)

    assert caught.value.code == 401 and caught.value.status == "UNAUTHENTICATED"
    assert error_info(caught.value)["reason"] == "invalid_api_key"
    assert upstream.requests == []


def test_bad_proxy_key_on_stream(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = client(proxy, key="not-the-right-key-at-all")
    with pytest.raises(errors.ClientError) as caught:
        list(sdk.models.generate_content_stream(model=MODEL, contents=PROMPT))

    assert caught.value.code == 401
    assert upstream.requests == []


def test_customer_not_allowing_gemini_is_403_with_reason(proxy: ProxyHarness, upstream: Recorder) -> None:
    before = proxy.metric(
        "consentry_blocked_requests_total", provider="gemini", reason="provider_not_allowed"
    )
    sdk = client(proxy, "cust-no-openai")
    with pytest.raises(errors.ClientError) as caught:
        sdk.models.generate_content(model=MODEL, contents=PROMPT)

    assert caught.value.code == 403 and caught.value.status == "PERMISSION_DENIED"
    assert "provider_not_allowed" in (caught.value.message or "")
    assert error_info(caught.value)["reason"] == "provider_not_allowed"
    assert upstream.requests == []
    record = proxy.records("cust-no-openai")[-1]
    assert record.decision == "blocked" and record.reason == "provider_not_allowed"
    assert record.provider == "gemini"
    after = proxy.metric("consentry_blocked_requests_total", provider="gemini", reason="provider_not_allowed")
    assert after == before + 1


@pytest.mark.parametrize(
    ("customer", "reason"),
    [("cust-withdrawn", "consent_withdrawn"), ("cust-restricted", "consent_restricted")],
)
def test_customer_state_refused_on_stream(
    proxy: ProxyHarness, upstream: Recorder, customer: str, reason: str
) -> None:
    sdk = client(proxy, customer)
    with pytest.raises(errors.ClientError) as caught:
        list(sdk.models.generate_content_stream(model=MODEL, contents=PROMPT))

    assert caught.value.code == 403
    assert error_info(caught.value)["reason"] == reason
    assert upstream.requests == []


def test_block_action_names_types_never_values(proxy: ProxyHarness, upstream: Recorder) -> None:
    ssn = "536-90-4399"
    sdk = client(proxy, "cust-block-ssn")
    with pytest.raises(errors.ClientError) as caught:
        sdk.models.generate_content(model=MODEL, contents=f"My social security number is {ssn}, name {NAME}")

    info = error_info(caught.value)
    assert caught.value.code == 403 and info["reason"] == "entity_blocked"
    assert "US_SSN" in info["metadata"]["entity_types"]
    assert ssn not in json.dumps(caught.value.details) and "Jane" not in json.dumps(caught.value.details)
    assert upstream.requests == []


INLINE_IMAGE = types.Part(inline_data=types.Blob(mime_type="image/png", data=b"\x89PNG\r\n\x1a\n"))


def test_inline_data_is_unscannable_403_unless_allowed(proxy: ProxyHarness, upstream: Recorder) -> None:
    contents = [types.Content(role="user", parts=[types.Part(text=PROMPT), INLINE_IMAGE])]
    sdk = client(proxy)
    with pytest.raises(errors.ClientError) as caught:
        sdk.models.generate_content(model=MODEL, contents=contents)

    assert caught.value.code == 403
    assert "unscannable_content" in (caught.value.message or "")
    assert "image" in (caught.value.message or "")
    assert error_info(caught.value)["reason"] == "unscannable_content"
    assert upstream.requests == []

    allowed = client(proxy, "cust-images-ok")
    response = allowed.models.generate_content(model=MODEL, contents=contents)
    assert response.text == "Echo: " + PROMPT
    assert_masked(upstream)
    assert "inlineData" in sent_body(upstream)["contents"][0]["parts"][1]


def test_file_data_is_unscannable(proxy: ProxyHarness, upstream: Recorder) -> None:
    part = types.Part(
        file_data=types.FileData(file_uri="https://example.com/a.pdf", mime_type="application/pdf")
    )
    sdk = client(proxy)
    with pytest.raises(errors.ClientError) as caught:
        sdk.models.count_tokens(model=MODEL, contents=[types.Content(role="user", parts=[part])])

    assert caught.value.code == 403 and error_info(caught.value)["reason"] == "unscannable_content"
    assert upstream.requests == []


def _post_status(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async def go() -> tuple[int, dict[str, Any]]:
        async with aiohttp.ClientSession() as session, session.post(url, data=data, headers=headers) as resp:
            return resp.status, await resp.json(content_type=None)

    return asyncio.run(go())


@pytest.mark.parametrize(
    "path",
    [
        f"/v1beta/models/{MODEL}:predictLongRunning",
        "/v1beta/files",
        f"/v2/models/{MODEL}:generateContent",
        f"/v1beta/tunedModels/{MODEL}:generateContent",
        "/v1beta/models/../files:generateContent",
        f"/v1beta/models/{MODEL}",
    ],
)
def test_unknown_paths_are_404_in_googles_shape(proxy: ProxyHarness, upstream: Recorder, path: str) -> None:
    status, body = _post_status(
        f"{proxy.url}/c/cust-42/gemini{path}", b'{"contents": []}', {"x-goog-api-key": PROXY_KEY}
    )

    assert status == 404
    assert body["error"]["code"] == 404 and body["error"]["status"] == "NOT_FOUND"
    assert upstream.requests == []


def test_malformed_bodies_are_400_invalid_argument(proxy: ProxyHarness, upstream: Recorder) -> None:
    url = f"{proxy.url}/c/cust-42/gemini/v1beta/models/{MODEL}:generateContent"
    for payload in (
        b'{"contents": [',
        b"[1, 2]",
        b'{"contents": [{"role": "jane.doe@example.com", "parts": []}]}',
        b'{"contents": [], "generationConfig": {"responseMimeType": "text\\nplain"}}',
    ):
        status, body = _post_status(url, payload, {"x-goog-api-key": PROXY_KEY})
        assert status == 400, payload
        assert body["error"]["status"] == "INVALID_ARGUMENT"
        assert "jane.doe" not in str(body)
    assert upstream.requests == []


def test_missing_customer_is_400(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = client(proxy, customer=None)
    with pytest.raises(errors.ClientError) as caught:
        sdk.models.generate_content(model=MODEL, contents=PROMPT)

    assert caught.value.code == 400 and error_info(caught.value)["reason"] == "missing_customer"
    assert upstream.requests == []


# ---------------------------------------------------------------- upstream errors


def test_upstream_429_relayed(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = client(proxy)
    with pytest.raises(errors.ClientError) as caught:
        sdk.models.generate_content(model="error-429", contents=PROMPT)

    assert caught.value.code == 429 and caught.value.status == "RESOURCE_EXHAUSTED"
    assert "exceeded your current quota" in (caught.value.message or "")
    assert len(upstream.requests) == 1
    assert_masked(upstream)
    assert proxy.records("cust-42")[-1].upstream_status == 429


def test_upstream_429_relayed_on_stream(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = client(proxy)
    with pytest.raises(errors.ClientError) as caught:
        list(sdk.models.generate_content_stream(model="error-429", contents=PROMPT))

    assert caught.value.code == 429
    assert_masked(upstream)


def test_upstream_500_is_server_error(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = client(proxy)
    with pytest.raises(errors.ServerError) as caught:
        list(sdk.models.generate_content_stream(model="error-500", contents=PROMPT))

    assert caught.value.code == 500 and caught.value.status == "INTERNAL"


def test_detector_failure_fails_closed(
    make_proxy: ProxyFactory, gemini_upstream: BackgroundServer, upstream: Recorder
) -> None:
    broken = make_proxy(
        {"gemini": {"base_url": gemini_upstream.url, "api_key": GEMINI_UPSTREAM_KEY}},
        detector_override=FailingDetector(),
    )
    sdk = client(broken)
    with pytest.raises(errors.ServerError) as caught:
        sdk.models.generate_content(model=MODEL, contents=PROMPT)

    assert caught.value.code == 503 and caught.value.status == "UNAVAILABLE"
    assert upstream.requests == []
    record = broken.records("cust-42")[-1]
    assert record.decision == "failed" and record.reason == "detection_failed"


def test_upstream_timeout_is_504(
    make_proxy: ProxyFactory, gemini_upstream: BackgroundServer, upstream: Recorder
) -> None:
    slow = make_proxy(
        {"gemini": {"base_url": gemini_upstream.url, "api_key": GEMINI_UPSTREAM_KEY, "timeout_s": 1}}
    )
    sdk = client(slow)
    with pytest.raises(errors.ServerError) as caught:
        sdk.models.generate_content(model="hang", contents=PROMPT)

    assert caught.value.code == 504 and caught.value.status == "DEADLINE_EXCEEDED"


# ---------------------------------------------------------------- configuration


def test_passthrough_mode_forwards_callers_key(
    make_proxy: ProxyFactory, gemini_upstream: BackgroundServer, upstream: Recorder
) -> None:
    proxy = make_proxy({"gemini": {"base_url": gemini_upstream.url, "auth_mode": "passthrough"}})
    sdk = client(proxy, key=GEMINI_UPSTREAM_KEY, headers={"X-Consentry-Key": PROXY_KEY})
    response = sdk.models.generate_content(model=MODEL, contents=PROMPT)

    assert response.text == "Echo: " + PROMPT
    assert_masked(upstream)

    wrong = client(proxy, key=GEMINI_UPSTREAM_KEY, headers={"X-Consentry-Key": "not-the-right-key-at-all"})
    upstream.clear()
    with pytest.raises(errors.ClientError) as caught:
        wrong.models.generate_content(model=MODEL, contents=PROMPT)
    assert caught.value.code == 401 and upstream.requests == []


def test_allow_paths_forwards_unscanned_without_the_key_query(
    make_proxy: ProxyFactory, gemini_upstream: BackgroundServer, upstream: Recorder
) -> None:
    proxy = make_proxy(
        {
            "gemini": {
                "base_url": gemini_upstream.url,
                "api_key": GEMINI_UPSTREAM_KEY,
                "allow_paths": ["/v1beta/models/some-model:predict"],
            }
        }
    )
    # The body is not scanned, so it passes only for a customer whose policy allows unscannable content.
    status, body = _post_status(
        f"{proxy.url}/c/cust-images-ok/gemini/v1beta/models/some-model:predict?key={PROXY_KEY}&x=1",
        b"{}",
        {},
    )

    # The fake does not serve :predict; what matters is that it was reached, with our key only.
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"
    seen = upstream.requests[-1]
    assert seen.path == "/v1beta/models/some-model:predict"
    assert seen.query == {"x": "1"} and seen.headers["x-goog-api-key"] == GEMINI_UPSTREAM_KEY


def test_config_env_and_default_base_url() -> None:
    config = parse_config(
        {"providers": {"gemini": {}}, "apps": {"backend": {"key": PROXY_KEY}}, "hash_key": "k"},
        env={"CONSENTRY_GEMINI_API_KEY": "from-env-key"},
    )
    gemini = config.provider("gemini")
    assert gemini.api_key == "from-env-key"
    adapter = GeminiAdapter(gemini, KeyRing(config.apps))
    incoming = IncomingRequest(
        "POST",
        f"/v1/models/{MODEL}:streamGenerateContent",
        MultiDictProxy(MultiDict({"alt": "sse", "key": PROXY_KEY})),
        f"alt=sse&key={PROXY_KEY}",
        CIMultiDictProxy(CIMultiDict()),
    )
    exchange = adapter.open(incoming)
    assert exchange.authenticate(b"") == "backend"
    exchange.parse(b'{"contents": []}')
    outgoing = exchange.upstream_request()
    assert outgoing.url == f"{DEFAULT_BASE_URL}/v1/models/{MODEL}:streamGenerateContent?alt=sse"
    assert outgoing.headers["x-goog-api-key"] == "from-env-key"
    assert exchange.target.model == MODEL and exchange.streamed
