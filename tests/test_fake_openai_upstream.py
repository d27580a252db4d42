"""The fake OpenAI upstream must satisfy the official SDK's parsers, or proxy tests prove nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import openai
import orjson
import pytest
from openai import AzureOpenAI, OpenAI

from tests.fakes.openai_upstream import EMBEDDING_DIMENSIONS, fake_embedding, make_openai_app
from tests.fakes.server import BackgroundServer, ReceivedRequest, Recorder

API_KEY = "sk-upstream-test"
API_VERSION = "2024-10-21"
PROMPT = "Hello, my name is <PERSON_1> and I live in <LOCATION_1>."
ECHO = "Echo: " + PROMPT
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_person",
        "parameters": {"type": "object", "properties": {"echo": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def server(recorder: Recorder) -> Iterator[BackgroundServer]:
    background = BackgroundServer(lambda: make_openai_app(recorder)).start()
    yield background
    background.stop()


@pytest.fixture(autouse=True)
def _fresh_recorder(recorder: Recorder) -> None:
    recorder.clear()


@pytest.fixture()
def client(server: BackgroundServer) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.url + "/v1", api_key=API_KEY, max_retries=0) as sdk:
        yield sdk


@pytest.fixture()
def azure(server: BackgroundServer) -> Iterator[AzureOpenAI]:
    with AzureOpenAI(
        azure_endpoint=server.url, api_key=API_KEY, api_version=API_VERSION, max_retries=0
    ) as sdk:
        yield sdk


def only_request(recorder: Recorder) -> ReceivedRequest:
    assert len(recorder.requests) == 1
    return recorder.requests[0]


def only_body(recorder: Recorder) -> dict[str, object]:
    body = orjson.loads(only_request(recorder).body)
    assert isinstance(body, dict)
    return body


# ---- chat completions ----------------------------------------------------


def test_chat_plain(client: OpenAI, recorder: Recorder) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "an earlier question"},
            {"role": "assistant", "content": "an earlier answer"},
            {"role": "user", "content": PROMPT},
        ],
    )
    assert completion.choices[0].message.content == ECHO
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    received = only_request(recorder)
    assert received.path == "/v1/chat/completions"
    assert received.headers["Authorization"] == f"Bearer {API_KEY}"
    assert orjson.loads(received.body)["messages"][-1]["content"] == PROMPT


def test_chat_text_parts_are_joined(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "first part"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "text", "text": "second part"},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "Echo: first part second part"


def test_chat_stream_with_usage(client: OpenAI, recorder: Recorder) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert all(len(c.choices[0].delta.content or "") <= 3 for c in content_chunks)
    assert "".join(c.choices[0].delta.content or "" for c in content_chunks) == ECHO
    assert len(content_chunks) == -(-len(ECHO) // 3)
    finishing = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finishing] == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert only_body(recorder)["stream"] is True


def test_chat_stream_without_usage_has_no_usage_chunk(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True
        )
    )
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_chat_stream_helper_accumulates(client: OpenAI) -> None:
    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        completion = stream.get_final_completion()
    assert completion.choices[0].message.content == ECHO


def test_chat_tools_plain(client: OpenAI, recorder: Recorder) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], tools=[WEATHER_TOOL]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None and len(choice.message.tool_calls) == 1
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "lookup_person"
    assert json.loads(call.function.arguments) == {"echo": PROMPT}
    assert only_body(recorder)["tools"] == [WEATHER_TOOL]


def test_chat_tools_streamed(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": PROMPT}],
            tools=[WEATHER_TOOL],
            stream=True,
        )
    )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id and calls[0].type == "function"
    assert calls[0].function is not None and calls[0].function.name == "lookup_person"
    assert all(tc.index == 0 for tc in calls)
    assert all(tc.id is None for tc in calls[1:])
    fragments = [tc.function.arguments or "" for tc in calls if tc.function is not None]
    assert len(fragments) > 2
    assert json.loads("".join(fragments)) == {"echo": PROMPT}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_chat_tools_stream_helper(client: OpenAI) -> None:
    with client.chat.completions.stream(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], tools=[WEATHER_TOOL]
    ) as stream:
        completion = stream.get_final_completion()
    tool_calls = completion.choices[0].message.tool_calls
    assert tool_calls is not None
    assert json.loads(tool_calls[0].function.arguments) == {"echo": PROMPT}


# ---- responses -----------------------------------------------------------


def test_responses_plain(client: OpenAI, recorder: Recorder) -> None:
    response = client.responses.create(model="gpt-4o-mini", input=PROMPT, instructions="Ignore me.")
    assert response.output_text == ECHO
    assert response.status == "completed"
    assert response.usage is not None and response.usage.total_tokens > 0
    received = only_request(recorder)
    assert received.path == "/v1/responses"
    assert orjson.loads(received.body)["input"] == PROMPT


def test_responses_item_list_input(client: OpenAI) -> None:
    response = client.responses.create(
        model="gpt-4o-mini",
        input=[
            {"role": "user", "content": "an earlier question"},
            {"type": "function_call_output", "call_id": "call_1", "output": "tool says hi"},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "part one"},
                    {"type": "input_text", "text": "two"},
                ],
            },
        ],
    )
    assert response.output_text == "Echo: part one two"


def test_responses_create_stream(client: OpenAI) -> None:
    events = list(client.responses.create(model="gpt-4o-mini", input=PROMPT, stream=True))
    types = [e.type for e in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert len(deltas) == -(-len(ECHO) // 3)
    assert "".join(deltas) == ECHO
    done = [e for e in events if e.type == "response.output_text.done"]
    assert done[0].text == ECHO
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == ECHO


def test_responses_stream_helper(client: OpenAI, recorder: Recorder) -> None:
    with client.responses.stream(model="gpt-4o-mini", input=PROMPT) as stream:
        snapshots = [e.snapshot for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert snapshots[-1] == ECHO
    assert final.output_text == ECHO
    assert only_body(recorder)["stream"] is True


def test_responses_function_call(client: OpenAI) -> None:
    tools = [{"type": "function", "name": "lookup_person", "parameters": {"type": "object"}}]
    response = client.responses.create(model="gpt-4o-mini", input=PROMPT, tools=tools)  # type: ignore[arg-type]
    call = response.output[0]
    assert call.type == "function_call"
    assert call.name == "lookup_person"
    assert json.loads(call.arguments) == {"echo": PROMPT}
    with client.responses.stream(model="gpt-4o-mini", input=PROMPT, tools=tools) as stream:  # type: ignore[arg-type]
        streamed = stream.get_final_response()
    assert streamed.output[0].type == "function_call"
    assert json.loads(streamed.output[0].arguments) == {"echo": PROMPT}


# ---- embeddings ----------------------------------------------------------


def test_embeddings_default_base64(client: OpenAI, recorder: Recorder) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=["alpha", PROMPT])
    assert only_body(recorder)["encoding_format"] == "base64"  # the SDK's default
    assert [d.index for d in result.data] == [0, 1]
    assert result.data[0].embedding == fake_embedding("alpha")
    assert result.data[1].embedding == fake_embedding(PROMPT)
    assert len(result.data[0].embedding) == EMBEDDING_DIMENSIONS
    assert result.data[0].embedding != result.data[1].embedding


def test_embeddings_float(client: OpenAI, recorder: Recorder) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=PROMPT, encoding_format="float")
    assert only_body(recorder) == {
        "model": "text-embedding-3-small",
        "input": PROMPT,
        "encoding_format": "float",
    }
    assert result.data[0].embedding == fake_embedding(PROMPT)
    assert result.usage.total_tokens > 0


def test_embeddings_token_arrays(client: OpenAI) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=[[1, 2, 3], [4, 5]])
    assert [d.embedding for d in result.data] == [fake_embedding([1, 2, 3]), fake_embedding([4, 5])]


# ---- legacy completions --------------------------------------------------


def test_completions_plain(client: OpenAI, recorder: Recorder) -> None:
    completion = client.completions.create(model="gpt-3.5-turbo-instruct", prompt=PROMPT)
    assert completion.choices[0].text == ECHO
    assert completion.choices[0].finish_reason == "stop"
    assert only_body(recorder)["prompt"] == PROMPT


def test_completions_stream(client: OpenAI) -> None:
    chunks = list(
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt=[PROMPT, "ignored"], stream=True)
    )
    assert all(c.object == "text_completion" for c in chunks)
    assert "".join(c.choices[0].text for c in chunks) == ECHO
    assert max(len(c.choices[0].text) for c in chunks) == 3
    assert chunks[-1].choices[0].finish_reason == "stop"


# ---- models --------------------------------------------------------------


def test_models_list(client: OpenAI, recorder: Recorder) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == ["gpt-4o-mini", "text-embedding-3-small"]
    assert only_request(recorder).method == "GET"


# ---- Azure ---------------------------------------------------------------


def test_azure_chat_plain(azure: AzureOpenAI, recorder: Recorder) -> None:
    completion = azure.chat.completions.create(
        model="my-gpt4o", messages=[{"role": "user", "content": PROMPT}]
    )
    assert completion.choices[0].message.content == ECHO
    extra = completion.model_dump()
    assert extra["prompt_filter_results"][0]["content_filter_results"]["hate"]["filtered"] is False
    assert extra["choices"][0]["content_filter_results"]["violence"]["severity"] == "safe"
    received = only_request(recorder)
    assert received.path == "/openai/deployments/my-gpt4o/chat/completions"
    assert received.query == {"api-version": API_VERSION}
    assert received.headers["api-key"] == API_KEY
    assert orjson.loads(received.body)["messages"][0]["content"] == PROMPT


def test_azure_chat_stream(azure: AzureOpenAI) -> None:
    chunks = list(
        azure.chat.completions.create(
            model="my-gpt4o",
            messages=[{"role": "user", "content": PROMPT}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices == []
    assert chunks[0].model_dump()["prompt_filter_results"]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ECHO
    assert chunks[-1].usage is not None


def test_azure_chat_stream_helper(azure: AzureOpenAI) -> None:
    with azure.chat.completions.stream(
        model="my-gpt4o", messages=[{"role": "user", "content": PROMPT}]
    ) as stream:
        completion = stream.get_final_completion()
    assert completion.choices[0].message.content == ECHO


def test_azure_embeddings(azure: AzureOpenAI, recorder: Recorder) -> None:
    result = azure.embeddings.create(model="my-embedder", input=PROMPT)
    assert result.data[0].embedding == fake_embedding(PROMPT)
    assert only_request(recorder).path == "/openai/deployments/my-embedder/embeddings"


def test_azure_v1_routes(server: BackgroundServer, recorder: Recorder) -> None:
    with OpenAI(base_url=server.url + "/openai/v1", api_key=API_KEY, max_retries=0) as sdk:
        chat = sdk.chat.completions.create(model="my-gpt4o", messages=[{"role": "user", "content": PROMPT}])
        response = sdk.responses.create(model="my-gpt4o", input=PROMPT)
    assert chat.choices[0].message.content == ECHO
    assert response.output_text == ECHO
    assert [r.path for r in recorder.requests] == ["/openai/v1/chat/completions", "/openai/v1/responses"]


def test_azure_responses(azure: AzureOpenAI, recorder: Recorder) -> None:
    assert azure.responses.create(model="my-gpt4o", input=PROMPT).output_text == ECHO
    assert only_request(recorder).path == "/openai/responses"


def test_azure_missing_api_version_is_404(server: BackgroundServer) -> None:
    request = urllib.request.Request(
        server.url + "/openai/deployments/my-gpt4o/chat/completions",
        data=orjson.dumps({"messages": [{"role": "user", "content": "hi"}]}),
        headers={"api-key": API_KEY, "Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 404
    assert orjson.loads(caught.value.read()) == {"error": {"code": "404", "message": "Resource not found"}}


# ---- auth and faults -----------------------------------------------------


def test_bad_key_is_authentication_error(server: BackgroundServer, recorder: Recorder) -> None:
    with (
        OpenAI(base_url=server.url + "/v1", api_key="sk-wrong", max_retries=0) as sdk,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}])
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert len(recorder.requests) == 1


def test_azure_bad_key_is_authentication_error(server: BackgroundServer) -> None:
    with (
        AzureOpenAI(
            azure_endpoint=server.url, api_key="wrong", api_version=API_VERSION, max_retries=0
        ) as sdk,
        pytest.raises(openai.AuthenticationError),
    ):
        sdk.embeddings.create(model="my-embedder", input="x")


def test_error_429_is_rate_limit_error(client: OpenAI, recorder: Recorder) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="error-429", messages=[{"role": "user", "content": PROMPT}])
    assert caught.value.code == "rate_limit_exceeded"
    assert only_body(recorder)["model"] == "error-429"


def test_error_500_is_internal_server_error(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        client.embeddings.create(model="error-500", input="x")


def test_garbage_body_fails_to_parse(client: OpenAI) -> None:
    # The SDK does not wrap this: a JSON content-type with a non-JSON body surfaces as json's own error.
    with pytest.raises(json.JSONDecodeError):
        client.chat.completions.create(model="garbage", messages=[{"role": "user", "content": PROMPT}])


def test_hang_times_out(client: OpenAI) -> None:
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.5).responses.create(model="hang", input=PROMPT)


@pytest.mark.parametrize("operation", ["chat", "responses", "completions"])
def test_stream_cut_raises_mid_stream(client: OpenAI, operation: str) -> None:
    received: list[object] = []
    with pytest.raises(openai.APIConnectionError):
        if operation == "chat":
            stream: object = client.chat.completions.create(
                model="stream-cut", messages=[{"role": "user", "content": PROMPT}], stream=True
            )
        elif operation == "responses":
            stream = client.responses.create(model="stream-cut", input=PROMPT, stream=True)
        else:
            stream = client.completions.create(model="stream-cut", prompt=PROMPT, stream=True)
        for event in stream:  # type: ignore[attr-defined]
            received.append(event)
    assert received


def test_stream_cut_without_stream_answers_normally(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model="stream-cut", messages=[{"role": "user", "content": PROMPT}]
    )
    assert completion.choices[0].message.content == ECHO
