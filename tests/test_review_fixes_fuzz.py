"""Hostile JSON in place of each field of a valid request body, for every adapter's collector.

Whatever a caller puts in place of a field, the adapter either refuses the body (400) or forwards it
with every piece of text in it registered for scanning: never an internal error, and never a
string that went upstream unread. Forwarding is simulated by masking every registered segment,
which is what detection and masking would do to a segment that is all personal data.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from proxy.auth import KeyRing
from proxy.config import AppConfig, ProviderConfig
from proxy.errors import ProxyError
from proxy.providers.azure import AzureOpenAIAdapter
from proxy.providers.base import IncomingRequest, ProviderAdapter
from proxy.providers.bedrock import BedrockAdapter
from proxy.providers.gemini import GeminiAdapter
from proxy.providers.openai import OpenAIAdapter
from proxy.textslots import TextSlots

MARKER = "jane.doe@example.com"
KEY = "fuzz-proxy-key-0123456789"
# Fields that name or tag things (roles, ids, enums, model names) rather than carry text: what a
# caller puts there goes upstream as it came, so they are fuzzed for crashes only.
STRUCTURAL = frozenset(
    {
        "model",
        "role",
        "type",
        "id",
        "call_id",
        "tool_call_id",
        "tool_use_id",
        "toolUseId",
        "name",
        "language",
        "outcome",
        "anthropic_version",
        "max_tokens",
        "input_type",
        "status",
        "languageCode",
        "stream",
        "signature",
    }
)
# Containers of the application's settings and tool declarations, not of user text: replacing
# one whole is fuzzed for crashes only (text fields inside them, such as a location, are checked).
SETTINGS = frozenset({("tools",), ("tools", 0), ("toolConfig",), ("toolConfig", "retrievalConfig")})

ARGS = json.dumps({"to": "someone", "n": 1})

OPENAI_BODIES: dict[str, dict[str, Any]] = {
    "chat/completions": {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}], "name": "n"},
            {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": ARGS}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "result"},
        ],
        "prediction": {"type": "content", "content": "predicted"},
        "web_search_options": {"user_location": {"type": "approximate", "approximate": {"city": "c"}}},
        "user": "u",
        "metadata": {"k": "v"},
    },
    "responses": {
        "model": "gpt-4o",
        "instructions": "ins",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": ARGS},
            {"type": "function_call_output", "call_id": "c", "output": "out"},
            {"type": "reasoning", "id": "r", "summary": [{"type": "summary_text", "text": "s"}]},
        ],
        "prompt": {"id": "p", "variables": {"v": "val"}},
        "tools": [{"type": "web_search", "user_location": {"type": "approximate", "city": "c"}}],
    },
    "embeddings": {"model": "e", "input": ["a", "b"]},
    "completions": {"model": "m", "prompt": "p", "suffix": "s"},
}

GEMINI_BODIES: dict[str, dict[str, Any]] = {
    "generateContent": {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "hi"},
                    {"functionCall": {"name": "f", "args": {"a": "b"}}},
                    {"functionResponse": {"name": "f", "response": {"r": "x"}}},
                    {"executableCode": {"language": "PYTHON", "code": "c"}},
                    {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "o"}},
                ],
            }
        ],
        "systemInstruction": {"parts": [{"text": "sys"}]},
        "toolConfig": {"retrievalConfig": {"languageCode": "en"}},
    },
    "embedContent": {"content": {"parts": [{"text": "t"}]}, "title": "ti"},
    "batchEmbedContents": {"requests": [{"model": "models/x", "content": {"parts": [{"text": "t"}]}}]},
    "countTokens": {
        "generateContentRequest": {"model": "models/x", "contents": [{"parts": [{"text": "t"}]}]}
    },
}

BEDROCK_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("anthropic.claude-3-haiku-20240307-v1:0", "converse"): {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "hello"},
                    {"toolResult": {"toolUseId": "t", "content": [{"text": "res"}, {"json": {"k": "v"}}]}},
                    {"guardContent": {"text": {"text": "guarded"}}},
                    {"searchResult": {"source": "src", "title": "ttl", "content": [{"text": "found"}]}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "thought", "signature": "sig"}}},
                    {"toolUse": {"toolUseId": "t", "name": "n", "input": {"q": "in"}}},
                    {"citationsContent": {"content": [{"text": "cited"}], "citations": [{"title": "ct"}]}},
                ],
            },
        ],
        "system": [{"text": "sys"}],
        "promptVariables": {"who": {"text": "var"}},
        "requestMetadata": {"user": "u-1"},
    },
    ("anthropic.claude-3-haiku-20240307-v1:0", "invoke"): {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 10,
        "system": "s",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "r"}]},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {"a": "b"}}],
            },
        ],
        "metadata": {"user_id": "u"},
    },
    ("amazon.nova-lite-v1:0", "invoke"): {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "system": [{"text": "s"}],
    },
    ("mistral.mistral-large-2407-v1:0", "invoke"): {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "user", "content": [{"type": "text", "text": "part"}]},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "x", "function": {"name": "f", "arguments": ARGS}}],
            },
        ]
    },
    ("cohere.command-r-v1:0", "invoke"): {
        "message": "m",
        "chat_history": [{"role": "USER", "message": "h"}],
        "documents": [{"t": "d"}],
    },
    ("cohere.embed-english-v3", "invoke"): {"texts": ["a"], "input_type": "search_document"},
    ("amazon.titan-text-express-v1", "invoke"): {"inputText": "t"},
    ("meta.llama3-1-8b-instruct-v1:0", "invoke"): {"prompt": "p"},
}

_KEYS = ("text", "content", "parts", "type", "args", "input", "output", "arguments", "response", "x")


def json_values() -> st.SearchStrategy[Any]:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 3),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.sampled_from([MARKER, "", "text", "input_text", "image_url", "{", "[1]"]),
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=3), st.dictionaries(st.sampled_from(_KEYS), children, max_size=3)
        ),
        max_leaves=6,
    )


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every position in a JSON value (not the root)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield (*prefix, key)
        yield from paths(item, (*prefix, key))


def replaced(body: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    copied = copy.deepcopy(body)
    holder: Any = copied
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    return copied


def incoming(method: str, subpath: str, headers: dict[str, str], query: dict[str, str]) -> IncomingRequest:
    return IncomingRequest(
        method,
        subpath,
        MultiDictProxy(MultiDict(query)),
        "&".join(f"{k}={v}" for k, v in query.items()),
        CIMultiDictProxy(CIMultiDict(headers)),
        subpath,
    )


KEYS = KeyRing([AppConfig("backend", key=KEY)])
OPENAI = OpenAIAdapter(ProviderConfig("openai", base_url="https://up.example/v1", api_key="sk"), KEYS)
AZURE = AzureOpenAIAdapter(
    ProviderConfig(
        "azure", extra={"resources": {"res": {"endpoint": "https://res.example", "api_key": "az"}}}
    ),
    KEYS,
)
GEMINI = GeminiAdapter(ProviderConfig("gemini", base_url="https://g.example", api_key="g"), KEYS)
BEDROCK = BedrockAdapter(
    ProviderConfig(
        "bedrock",
        base_url="https://b.example",
        extra={"region": "eu-west-1", "aws_access_key_id": "AKIDPROXY", "aws_secret_access_key": "s"},
    ),
    KEYS,
)


def check(
    adapter: ProviderAdapter, request: IncomingRequest, body: dict[str, Any], path: tuple[Any, ...]
) -> None:
    exchange = adapter.open(request)
    if isinstance(adapter, AzureOpenAIAdapter):
        exchange.authenticate(b"")
    try:
        exchange.parse(json.dumps(body).encode())
        slots = TextSlots()
        exchange.collect(slots)
    except ProxyError as error:
        assert error.status == 400, error
        return
    slots.write_back(["M"] * len(slots.segments), lambda _: "P")
    sent = exchange.upstream_request()
    if slots.unscannable or path[-1] in STRUCTURAL or path in SETTINGS:
        return  # refused by the default policy / not a text field
    assert MARKER not in repr(sent.headers) + str(sent.url)
    assert MARKER not in unscanned_strings(json.loads(sent.body or b"{}")), (path, body)


def unscanned_strings(value: Any) -> Iterator[str]:
    """Every key and string in a JSON value, except the values of structural fields."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            if key not in STRUCTURAL:
                yield from unscanned_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from unscanned_strings(item)


# FUZZ_EXAMPLES=5000 for a longer search.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def cases() -> Iterator[Any]:
    for path, body in OPENAI_BODIES.items():
        yield pytest.param(OPENAI, incoming("POST", f"/v1/{path}", {}, {}), body, id=f"openai-{path}")
    yield pytest.param(
        AZURE,
        incoming("POST", "/res/openai/deployments/d/chat/completions", {"api-key": KEY}, {}),
        OPENAI_BODIES["chat/completions"],
        id="azure-chat",
    )
    for method, body in GEMINI_BODIES.items():
        yield pytest.param(
            GEMINI, incoming("POST", f"/v1beta/models/m:{method}", {}, {}), body, id=f"gemini-{method}"
        )
    for (model, operation), body in BEDROCK_BODIES.items():
        subpath = f"/model/{model.replace(':', '%3A')}/{operation}"
        yield pytest.param(
            BEDROCK, incoming("POST", subpath, {}, {}), body, id=f"bedrock-{model}-{operation}"
        )


@pytest.mark.parametrize(("adapter", "request_", "body"), list(cases()))
def test_hostile_json_in_place_of_any_field_is_400_or_fully_scanned(
    adapter: ProviderAdapter, request_: IncomingRequest, body: dict[str, Any]
) -> None:
    check(adapter, request_, body, ("-",))  # the valid body itself goes through
    positions = list(paths(body))

    @FUZZ
    @given(st.sampled_from(positions), json_values())
    def fuzz(path: tuple[Any, ...], value: Any) -> None:
        check(adapter, request_, replaced(body, path, value), path)

    fuzz()
