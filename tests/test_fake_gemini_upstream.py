"""The fake Gemini upstream must satisfy the official google-genai SDK.

Every proxy test that involves Gemini trusts this fake, so here the SDK talks to
it directly (no proxy): if the SDK parses the fake's answers, the fake is
shaped like Google's API, and the recorder shows what the SDK puts on the wire.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import aiohttp
import orjson
import pytest
from google import genai
from google.genai import errors, types

from tests.fakes.gemini_upstream import make_gemini_app
from tests.fakes.server import BackgroundServer, ReceivedRequest, Recorder

API_KEY = "gm-upstream-test"
MODEL = "gemini-2.5-flash"
EMBED_MODEL = "text-embedding-004"


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def server(recorder: Recorder) -> Iterator[BackgroundServer]:
    background = BackgroundServer(lambda: make_gemini_app(recorder)).start()
    yield background
    background.stop()


@pytest.fixture(autouse=True)
def _fresh_recorder(recorder: Recorder) -> None:
    # The server is shared by the module; each test asserts on its own requests.
    recorder.clear()


def _client(server: BackgroundServer, *, api_version: str = "v1beta", api_key: str = API_KEY) -> genai.Client:
    """A direct SDK client. Keep it in a variable while calling `client.models`: a
    `genai.Client` that is garbage-collected closes its HTTP client, and
    `_client(...).models.generate_content(...)` then fails with "client has been closed"."""
    return genai.Client(
        api_key=api_key,
        http_options=types.HttpOptions(
            base_url=server.url,
            api_version=api_version,
            # One attempt: a retried 429/500 would hide how many requests the
            # fake really saw, and would make error tests slow.
            retry_options=types.HttpRetryOptions(attempts=1),
            timeout=10_000,  # milliseconds
        ),
    )


def _only_request(recorder: Recorder) -> ReceivedRequest:
    assert len(recorder.requests) == 1, [r.path for r in recorder.requests]
    return recorder.requests[0]


def _raw_post(
    url: str, body: object, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """POST without the SDK, returning status, headers and body even for errors."""
    request = urllib.request.Request(
        url,
        data=orjson.dumps(body),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.parametrize("api_version", ["v1beta", "v1"])
def test_generate_content_echoes_last_user_text(
    server: BackgroundServer, recorder: Recorder, api_version: str
) -> None:
    client = _client(server, api_version=api_version)
    response = client.models.generate_content(model=MODEL, contents="Hello from Ada Lovelace")

    assert response.text == "Echo: Hello from Ada Lovelace"
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.model_version == MODEL
    assert response.response_id
    assert response.usage_metadata is not None
    assert response.usage_metadata.prompt_token_count == 4
    assert response.usage_metadata.candidates_token_count == 5
    assert response.usage_metadata.total_token_count == 9

    seen = _only_request(recorder)
    assert seen.method == "POST"
    assert seen.path == f"/{api_version}/models/{MODEL}:generateContent"
    assert seen.query == {}
    assert seen.headers["x-goog-api-key"] == API_KEY
    assert json.loads(seen.body)["contents"] == [
        {"parts": [{"text": "Hello from Ada Lovelace"}], "role": "user"}
    ]


def test_generate_content_with_system_instruction_and_history(
    server: BackgroundServer, recorder: Recorder
) -> None:
    contents = [
        types.Content(role="user", parts=[types.Part(text="first question")]),
        types.Content(role="model", parts=[types.Part(text="first answer")]),
        types.Content(role="user", parts=[types.Part(text="second"), types.Part(text="question")]),
    ]
    client = _client(server)
    response = client.models.generate_content(
        model=MODEL,
        contents=contents,
        config=types.GenerateContentConfig(system_instruction="You are terse.", temperature=0.0),
    )

    # Only the last user turn is echoed, its text parts joined with a space.
    assert response.text == "Echo: second question"
    body = json.loads(_only_request(recorder).body)
    assert body["systemInstruction"]["parts"] == [{"text": "You are terse."}]
    assert body["generationConfig"] == {"temperature": 0.0}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]


def test_generate_content_with_tools_returns_function_call(
    server: BackgroundServer, recorder: Recorder
) -> None:
    declaration = types.FunctionDeclaration(
        name="lookup_customer",
        description="Find a customer record.",
        parameters=types.Schema(
            type=types.Type.OBJECT, properties={"name": types.Schema(type=types.Type.STRING)}
        ),
    )
    client = _client(server)
    response = client.models.generate_content(
        model=MODEL,
        contents="Find Grace Hopper",
        config=types.GenerateContentConfig(tools=[types.Tool(function_declarations=[declaration])]),
    )

    assert response.function_calls is not None
    [call] = response.function_calls
    assert call.name == "lookup_customer"
    assert call.args == {"echo": "Echo: Find Grace Hopper"}
    body = json.loads(_only_request(recorder).body)
    assert body["tools"][0]["functionDeclarations"][0]["name"] == "lookup_customer"


@pytest.mark.parametrize("api_version", ["v1beta", "v1"])
def test_generate_content_stream_reassembles(
    server: BackgroundServer, recorder: Recorder, api_version: str
) -> None:
    client = _client(server, api_version=api_version)
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Stream for Alan Turing"))

    expected = "Echo: Stream for Alan Turing"
    assert "".join(chunk.text or "" for chunk in chunks) == expected
    assert len(chunks) == math.ceil(len(expected) / 3)  # chunk_size defaults to 3 characters
    final = chunks[-1]
    assert final.candidates is not None
    assert final.candidates[0].finish_reason == types.FinishReason.STOP
    assert all(c.candidates and c.candidates[0].finish_reason is None for c in chunks[:-1])
    assert final.usage_metadata is not None
    assert final.usage_metadata.candidates_token_count == 5

    seen = _only_request(recorder)
    assert seen.path == f"/{api_version}/models/{MODEL}:streamGenerateContent"
    assert seen.query == {"alt": "sse"}
    assert seen.headers["x-goog-api-key"] == API_KEY
    assert b"Stream for Alan Turing" in seen.body


def test_generate_content_stream_function_call(server: BackgroundServer) -> None:
    tool = types.Tool(
        function_declarations=[types.FunctionDeclaration(name="send_email", description="Send.")]
    )
    client = _client(server)
    chunks = list(
        client.models.generate_content_stream(
            model=MODEL, contents="Mail Linus", config=types.GenerateContentConfig(tools=[tool])
        )
    )

    calls = [call for chunk in chunks for call in chunk.function_calls or []]
    assert [(call.name, call.args) for call in calls] == [("send_email", {"echo": "Echo: Mail Linus"})]


def test_sse_wire_framing(server: BackgroundServer) -> None:
    status, headers, raw = _raw_post(
        f"{server.url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        {"x-goog-api-key": API_KEY},
    )

    assert status == 200
    assert headers["Content-Type"].startswith("text/event-stream")
    # Google frames every event as one `data: ` line ended by a blank line,
    # both with CRLF, and sends no [DONE] sentinel.
    assert raw.startswith(b"data: {")
    assert raw.endswith(b"}\r\n\r\n")
    events = raw.split(b"\r\n\r\n")[:-1]
    texts = [
        orjson.loads(e.removeprefix(b"data: "))["candidates"][0]["content"]["parts"][0]["text"]
        for e in events
    ]
    assert "".join(texts) == "Echo: hi"
    assert b"[DONE]" not in raw


def test_stream_without_alt_sse_is_a_json_array_sent_in_pieces(
    server: BackgroundServer, recorder: Recorder
) -> None:
    async def fetch() -> tuple[int, str, list[bytes]]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                # Auth by query string this time.
                f"{server.url}/v1beta/models/{MODEL}:streamGenerateContent?key={API_KEY}",
                json={"contents": [{"role": "user", "parts": [{"text": "array please"}]}]},
            ) as response,
        ):
            pieces = [piece async for piece in response.content.iter_any()]
            return response.status, response.headers["Content-Type"], pieces

    status, content_type, pieces = asyncio.run(fetch())

    assert status == 200
    assert content_type.startswith("application/json")
    assert len(pieces) > 1
    raw = b"".join(pieces)
    assert raw.startswith(b"[{\n")
    assert b"\n,\r\n{" in raw  # Google's separator between array elements
    assert raw.endswith(b"\n]")
    items = json.loads(raw)
    assert isinstance(items, list)
    assert len(items) == math.ceil(len("Echo: array please") / 3)
    assert "".join(i["candidates"][0]["content"]["parts"][0]["text"] for i in items) == "Echo: array please"
    assert items[-1]["candidates"][0]["finishReason"] == "STOP"
    seen = _only_request(recorder)
    assert seen.query == {"key": API_KEY}
    assert "x-goog-api-key" not in {k.lower() for k in seen.headers}


def test_embed_content_single_uses_batch_endpoint(server: BackgroundServer, recorder: Recorder) -> None:
    client = _client(server)
    result = client.models.embed_content(model=EMBED_MODEL, contents="Ada Lovelace")

    assert result.embeddings is not None
    [embedding] = result.embeddings
    assert embedding.values is not None
    assert len(embedding.values) == 8
    # The Gemini Developer API path of the SDK always calls batchEmbedContents.
    seen = _only_request(recorder)
    assert seen.path == f"/v1beta/models/{EMBED_MODEL}:batchEmbedContents"
    assert seen.headers["x-goog-api-key"] == API_KEY
    assert json.loads(seen.body) == {
        "requests": [
            {
                "content": {"parts": [{"text": "Ada Lovelace"}], "role": "user"},
                "model": f"models/{EMBED_MODEL}",
            }
        ]
    }


def test_embed_content_several_is_deterministic(server: BackgroundServer, recorder: Recorder) -> None:
    client = _client(server, api_version="v1")
    config = types.EmbedContentConfig(output_dimensionality=5)
    first = client.models.embed_content(model=EMBED_MODEL, contents=["alpha", "beta", "alpha"], config=config)
    again = client.models.embed_content(model=EMBED_MODEL, contents=["alpha"], config=config)

    assert first.embeddings is not None and again.embeddings is not None
    vectors = [e.values for e in first.embeddings]
    assert len(vectors) == 3
    assert all(v is not None and len(v) == 5 for v in vectors)
    assert vectors[0] == vectors[2] != vectors[1]
    assert again.embeddings[0].values == vectors[0]
    assert {r.path for r in recorder.requests} == {f"/v1/models/{EMBED_MODEL}:batchEmbedContents"}
    assert len(json.loads(recorder.requests[0].body)["requests"]) == 3


def test_raw_embed_content_endpoint_matches_batch(server: BackgroundServer) -> None:
    # The SDK never calls :embedContent against the Developer API, but other
    # clients (REST, older SDKs) do, so the fake serves it with the same vectors.
    body = {"content": {"parts": [{"text": "gamma"}]}}
    status, _, raw = _raw_post(
        f"{server.url}/v1beta/models/{EMBED_MODEL}:embedContent", body, {"x-goog-api-key": API_KEY}
    )
    _, _, batch_raw = _raw_post(
        f"{server.url}/v1beta/models/{EMBED_MODEL}:batchEmbedContents",
        {"requests": [{"model": f"models/{EMBED_MODEL}", **body}]},
        {"x-goog-api-key": API_KEY},
    )

    assert status == 200
    single = orjson.loads(raw)["embedding"]["values"]
    assert len(single) == 8
    assert orjson.loads(batch_raw)["embeddings"][0]["values"] == single


def test_count_tokens(server: BackgroundServer, recorder: Recorder) -> None:
    client = _client(server)
    result = client.models.count_tokens(model=MODEL, contents="one two three four five")

    assert result.total_tokens == 5
    seen = _only_request(recorder)
    assert seen.path == f"/v1beta/models/{MODEL}:countTokens"
    assert json.loads(seen.body) == {
        "contents": [{"parts": [{"text": "one two three four five"}], "role": "user"}]
    }


def test_bad_api_key_is_client_error_400(server: BackgroundServer, recorder: Recorder) -> None:
    client = _client(server, api_key="wrong-key")
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents="hi")

    assert caught.value.code == 400
    assert caught.value.status == "INVALID_ARGUMENT"
    assert caught.value.message == "API key not valid. Please pass a valid API key."
    assert _only_request(recorder).headers["x-goog-api-key"] == "wrong-key"


def test_bad_api_key_on_stream_is_client_error_400(server: BackgroundServer) -> None:
    client = _client(server, api_key="wrong-key")
    with pytest.raises(errors.ClientError) as caught:
        list(client.models.generate_content_stream(model=MODEL, contents="hi"))

    assert caught.value.code == 400


def test_missing_api_key_is_403(server: BackgroundServer) -> None:
    status, headers, raw = _raw_post(f"{server.url}/v1beta/models/{MODEL}:generateContent", {"contents": []})

    assert status == 403
    assert headers["Content-Type"] == "application/json; charset=UTF-8"
    assert orjson.loads(raw)["error"]["status"] == "PERMISSION_DENIED"


def test_error_on_array_stream_is_wrapped_in_array(server: BackgroundServer) -> None:
    status, _, raw = _raw_post(
        f"{server.url}/v1beta/models/{MODEL}:streamGenerateContent",
        {"contents": []},
        {"x-goog-api-key": "nope"},
    )

    assert status == 400
    [error] = orjson.loads(raw)
    assert error["error"]["code"] == 400


def test_rate_limit_model_is_client_error_429_without_retry(
    server: BackgroundServer, recorder: Recorder
) -> None:
    client = _client(server)
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model="error-429", contents="hi")

    assert caught.value.code == 429
    assert caught.value.status == "RESOURCE_EXHAUSTED"
    _only_request(recorder)


def test_internal_error_model_is_server_error_500(server: BackgroundServer) -> None:
    client = _client(server)
    with pytest.raises(errors.ServerError) as caught:
        list(client.models.generate_content_stream(model="error-500", contents="hi"))

    assert caught.value.code == 500
    assert caught.value.status == "INTERNAL"


def test_midstream_error_reaches_the_sdk(server: BackgroundServer) -> None:
    received: list[str] = []
    client = _client(server)
    with pytest.raises(errors.ServerError) as caught:
        for chunk in client.models.generate_content_stream(model="error-midstream", contents="hi"):
            received.append(chunk.text or "")

    # One good chunk, then an in-band `data: {"error": ...}` event.
    assert received == ["Ech"]
    assert caught.value.code == 503


def test_unknown_method_is_404(server: BackgroundServer) -> None:
    status, _, raw = _raw_post(
        f"{server.url}/v1beta/models/{MODEL}:predictLongRunning", {}, {"x-goog-api-key": API_KEY}
    )

    assert status == 404
    assert orjson.loads(raw)["error"]["status"] == "NOT_FOUND"


def test_hang_is_released_when_the_server_stops() -> None:
    # A private server: stopping it must not wait out the 30 s hang.
    recorder = Recorder()
    background = BackgroundServer(lambda: make_gemini_app(recorder)).start()
    outcome: list[str] = []

    def call() -> None:
        try:
            _raw_post(
                f"{background.url}/v1beta/models/hang:generateContent",
                {"contents": [{"parts": [{"text": "wait"}]}]},
                {"x-goog-api-key": API_KEY},
            )
            outcome.append("answered")
        except OSError as error:
            outcome.append(type(error).__name__)

    caller = threading.Thread(target=call, daemon=True)
    caller.start()
    deadline = time.monotonic() + 5
    while not recorder.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.requests, "the hanging request never arrived"
    assert not outcome  # still waiting

    started = time.monotonic()
    background.stop()
    caller.join(5)

    assert time.monotonic() - started < 5
    assert outcome
