"""Deny by default, proved per provider and operation.

For every (provider, operation) a realistic, rich request body is built (field names checked
against the official SDKs' own types, botocore's service model, or captured from what the SDK
itself sends). Then every string leaf, every other scalar leaf and every object key of that body
(also inside JSON text such as tool-call arguments) is replaced, one at a time, by a unique e-mail
address, and the body is sent through the proxy to a fake upstream. Each planted request must end
one of two ways:

- refused by the proxy (400 or 403), with nothing reaching the upstream, or
- forwarded, and nothing of the planted address is in what the upstream received: body (also
  JSON-decoded, also inside JSON strings), path, query or any header value.

A planted address that turns up upstream is a leak; the test collects every leaking path of a
body and fails once with the whole list.

Beside the property tests: duplicate keys in JSON text, canonical re-serialisation of JSON text,
a restored answer sent back in the next turn, structural fields that do not look structural,
model validation, and a customer restricted to some models sending a request without a model.
"""

from __future__ import annotations

import copy
import http.client
import json
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import boto3
import openai
import pytest
from aiohttp import web
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config as BotoConfig
from botocore.credentials import Credentials
from google import genai
from google.genai import types as gtypes

from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, TEST_RULES, ProxyFactory, ProxyHarness
from tests.fakes.bedrock_upstream import make_bedrock_app
from tests.fakes.gemini_upstream import make_gemini_app
from tests.fakes.server import BackgroundServer, ReceivedRequest, Recorder

CUSTOMER = "cust-42"
MODELS_RESTRICTED = "cust-gpt4o-mini-only"
RULES: dict[str, Any] = copy.deepcopy(TEST_RULES)
RULES["customers"][MODELS_RESTRICTED] = {"models": {"openai": ["gpt-4o-mini"]}}

GEMINI_UPSTREAM_KEY = "gm-upstream-test"
REGION = "eu-west-1"
UPSTREAM_KEY_ID = "AKIDUPSTREAM"
UPSTREAM_SECRET = "upstream-secret"
CALLER_KEY_ID = "AKIDCONSENTRYBACKEND"
CALLER_SECRET = "caller-secret-0123456789abcdef"
APPS = {
    "backend": {"key": PROXY_KEY, "aws_access_key_id": CALLER_KEY_ID, "aws_secret_access_key": CALLER_SECRET}
}
AZURE_RESOURCE = "myres"
AZURE_DEPLOYMENT = "my-gpt4o"
AZURE_API_VERSION = "2024-10-21"

JSON = dict[str, Any]


# ================================================================ fixtures


@pytest.fixture(scope="module")
def gemini_recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def gemini_upstream(gemini_recorder: Recorder) -> Iterator[BackgroundServer]:
    server = BackgroundServer(lambda: make_gemini_app(gemini_recorder, api_key=GEMINI_UPSTREAM_KEY)).start()
    yield server
    server.stop()


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


@pytest.fixture(scope="module")
def proxy(
    make_proxy: ProxyFactory,
    openai_upstream: BackgroundServer,
    gemini_upstream: BackgroundServer,
    bedrock_upstream: BackgroundServer,
) -> ProxyHarness:
    """One proxy for all four providers, each pointed at its fake upstream."""
    return make_proxy(
        {
            "openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY},
            "azure": {
                "resources": {
                    AZURE_RESOURCE: {"endpoint": openai_upstream.url, "api_key": OPENAI_UPSTREAM_KEY}
                }
            },
            "gemini": {"base_url": gemini_upstream.url, "api_key": GEMINI_UPSTREAM_KEY},
            "bedrock": {
                "base_url": bedrock_upstream.url,
                "region": REGION,
                # The proxy's own upstream credentials, so botocore's chain is never asked.
                "aws_access_key_id": UPSTREAM_KEY_ID,
                "aws_secret_access_key": UPSTREAM_SECRET,
            },
        },
        rules=RULES,
        extra={"apps": APPS},
    )


@pytest.fixture(scope="module")
def recorders(
    openai_recorder: Recorder, gemini_recorder: Recorder, bedrock_recorder: Recorder
) -> dict[str, Recorder]:
    return {
        "openai": openai_recorder,
        "azure": openai_recorder,
        "gemini": gemini_recorder,
        "bedrock": bedrock_recorder,
    }


# ================================================================ raw HTTP to the proxy


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def proxy_path(provider: str, path: str, customer: str = CUSTOMER) -> str:
    return f"/c/{customer}/{provider}{path}"


def signed_headers(url: str, body: bytes, headers: dict[str, str]) -> dict[str, str]:
    """SigV4 with the application's AWS credentials, as boto3 would sign it (service `bedrock`)."""
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials(CALLER_KEY_ID, CALLER_SECRET), "bedrock", REGION).add_auth(request)
    return dict(request.headers.items())


def send_raw(proxy: ProxyHarness, provider: str, path: str, body: bytes, customer: str = CUSTOMER) -> Reply:
    """POST `body` to the proxy the way the provider's SDK would: its auth header, its customer prefix."""
    full = proxy_path(provider, path, customer)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if provider == "openai":
        headers["Authorization"] = f"Bearer {PROXY_KEY}"
    elif provider == "azure":
        headers["api-key"] = PROXY_KEY
    elif provider == "gemini":
        headers["x-goog-api-key"] = PROXY_KEY
    elif provider == "bedrock":
        headers = signed_headers(proxy.url + full, body, headers)
    connection = http.client.HTTPConnection("127.0.0.1", proxy.server.port, timeout=60)
    try:
        connection.request("POST", full, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        connection.close()


def send_json(proxy: ProxyHarness, provider: str, path: str, body: Any, customer: str = CUSTOMER) -> Reply:
    return send_raw(proxy, provider, path, json.dumps(body, ensure_ascii=False).encode(), customer)


# ================================================================ what the upstream saw


def _json_text(value: str) -> Any:
    """The parsed value of a string holding a JSON object or array, else None."""
    stripped = value.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        parsed = json.loads(stripped)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict | list) else None


def _strings(value: Any) -> Iterator[str]:
    """Every key and string inside a JSON value, also inside strings that hold JSON text."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value
        inner = _json_text(value)
        if inner is not None:
            yield from _strings(inner)
    elif value is not None:
        yield str(value)


def upstream_text(request: ReceivedRequest) -> str:
    """Everything an upstream request carried, as text: the raw body, the decoded body (so an
    escaped address like `\\u0040` counts too), the path (raw and decoded), the query and every
    header value."""
    parts = [request.body.decode("utf-8", "replace"), request.path, urllib.parse.unquote(request.path)]
    parts.extend(f"{k}={v}" for k, v in request.query.items())
    parts.extend(f"{k}: {v}" for k, v in request.headers.items())
    try:
        parsed = json.loads(request.body)
    except ValueError:
        parsed = None
    if parsed is not None:
        parts.extend(_strings(parsed))
    return "\n".join(parts).lower()


def seen_upstream(recorder: Recorder, secret: str) -> bool:
    needle = secret.lower()
    return any(needle in upstream_text(request) for request in recorder.requests)


# ================================================================ leaves of a body


class _JsonTextStep:
    """A path step into a string that holds JSON text (tool-call arguments, tool results)."""

    def __repr__(self) -> str:
        return "<json>"


JSON_TEXT = _JsonTextStep()


@dataclass(frozen=True)
class Leaf:
    path: tuple[Any, ...]
    kind: str  # "string", "scalar" (number, boolean, null) or "key"

    def __str__(self) -> str:
        out = ""
        for step in self.path:
            if step is JSON_TEXT:
                out += "<json>"
            elif isinstance(step, int):
                out += f"[{step}]"
            elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$@-]*", step):
                out += ("." if out else "") + step
            else:
                out += f"[{step!r}]"
        return out + (" (key)" if self.kind == "key" else "")


def iter_leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[Leaf]:
    """Every object key, every string and every other scalar of a JSON value, with its path;
    strings that hold a JSON object or array are walked into as well."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield Leaf((*path, key), "key")
            yield from iter_leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_leaves(item, (*path, index))
    elif isinstance(value, str):
        yield Leaf(path, "string")
        inner = _json_text(value)
        if inner is not None:
            yield from iter_leaves(inner, (*path, JSON_TEXT))
    else:
        yield Leaf(path, "scalar")


def _plant(node: Any, steps: tuple[Any, ...], kind: str, address: str) -> Any:
    step, rest = steps[0], steps[1:]
    if step is JSON_TEXT:
        return json.dumps(_plant(json.loads(node), rest, kind, address))
    if rest:
        node[step] = _plant(node[step], rest, kind, address)
        return node
    if kind == "key":
        items = list(node.items())
        node.clear()
        node.update((address if key == step else key, item) for key, item in items)
    else:
        node[step] = address
    return node


def plant(body: JSON, leaf: Leaf, address: str) -> JSON:
    """A copy of `body` with `leaf` (a value, or the key itself) replaced by `address`."""
    return _plant(copy.deepcopy(body), leaf.path, leaf.kind, address)


def planted_address(n: int) -> tuple[str, str]:
    """A unique e-mail address and its local part (what must never be seen upstream, even
    half-masked)."""
    local = f"plant.{n}.{secrets.token_hex(4)}"
    return f"{local}@example-mail.com", local


# ================================================================ realistic bodies

# One JSON schema used as tool parameters everywhere (description, enum, default, nesting).
REBOOK_SCHEMA: JSON = {
    "type": "object",
    "properties": {
        "booking": {
            "type": "string",
            "description": "Six-character booking reference",
            "pattern": "^[A-Z0-9]{6}$",
        },
        "destination": {
            "type": "string",
            "description": "Destination airport code",
            "enum": ["OPO", "MAD", "BCN"],
            "default": "OPO",
        },
        "passengers": {
            "type": "array",
            "description": "Travellers to move to the new flight",
            "items": {
                "type": "object",
                "properties": {
                    "first_name": {"type": "string", "description": "Given name as on the passport"},
                    "seat": {"type": "string", "description": "Preferred seat, for example 12A"},
                },
                "required": ["first_name"],
                "additionalProperties": False,
            },
        },
        "notify": {"type": "boolean", "description": "Send a confirmation message", "default": True},
    },
    "required": ["booking", "destination"],
    "additionalProperties": False,
}
REPLY_SCHEMA: JSON = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "description": "The reply shown to the traveller"},
        "tone": {"type": "string", "enum": ["formal", "casual"], "default": "formal"},
    },
    "required": ["answer", "tone"],
    "additionalProperties": False,
}
REBOOK_ARGS: JSON = {
    "booking": "QX7K2P",
    "destination": "OPO",
    "passengers": [{"first_name": "Traveller", "seat": "12A"}],
    "notify": True,
}
REBOOK_RESULT: JSON = {"status": "rebooked", "flight": "TP 1947", "gate": "B12"}
UNKNOWN_FIELD_TEXT = "free text a wrapper library added to the request"

OPENAI_CHAT: JSON = {
    "model": "gpt-4o-mini",
    "messages": [
        {
            "role": "developer",
            "content": "You are the support assistant of a travel agency. Answer briefly.",
            "name": "policy_bot",
        },
        {"role": "system", "content": [{"type": "text", "text": "Reply in the traveller's language."}]},
        {"role": "user", "content": "Please move my booking to the early flight.", "name": "traveller"},
        {"role": "user", "content": [{"type": "text", "text": "The booking reference is QX7K2P."}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_rebook_01",
                    "type": "function",
                    "function": {"name": "rebook_flight", "arguments": json.dumps(REBOOK_ARGS)},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_rebook_01", "content": json.dumps(REBOOK_RESULT)},
        {"role": "assistant", "content": [{"type": "text", "text": "Your booking is moved to TP 1947."}]},
        {"role": "user", "content": "Thanks, please also send the receipt."},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "rebook_flight",
                "description": "Move an existing booking to another flight.",
                "parameters": REBOOK_SCHEMA,
                "strict": True,
            },
        },
        {
            "type": "function",
            "function": {
                "name": "send_receipt",
                "description": "Send the receipt of a booking to the traveller.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "booking": {"type": "string", "description": "Booking reference"},
                        "format": {"type": "string", "enum": ["pdf", "html"], "default": "pdf"},
                    },
                    "required": ["booking"],
                },
            },
        },
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "response_format": {
        "type": "json_schema",
        "json_schema": {
            "name": "support_reply",
            "description": "The assistant's reply to the traveller",
            "schema": REPLY_SCHEMA,
            "strict": True,
        },
    },
    "stop": ["\n\nTraveller:", "END OF REPLY"],
    "metadata": {"ticket": "T-1001", "channel": "web-chat"},
    "prediction": {"type": "content", "content": "Your booking is moved."},
    "user": "end-user-77",
    "safety_identifier": "sid-end-user-77",
    "prompt_cache_key": "support-v2",
    "reasoning_effort": "low",
    "verbosity": "low",
    "service_tier": "auto",
    "store": False,
    "stream": False,
    "modalities": ["text"],
    "seed": 42,
    "temperature": 0.2,
    "top_p": 1,
    "n": 1,
    "max_completion_tokens": 400,
    "logprobs": False,
    "frequency_penalty": 0,
    "presence_penalty": 0,
    "logit_bias": {"50256": -100},
    "x_wrapper_note": UNKNOWN_FIELD_TEXT,
}

OPENAI_RESPONSES: JSON = {
    "model": "gpt-4.1-mini",
    "instructions": "You are the booking assistant of a travel agency.",
    "input": [
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "Please move my booking to the early flight."}],
        },
        {
            "type": "function_call",
            "id": "fc_01",
            "call_id": "call_rebook_01",
            "name": "rebook_flight",
            "arguments": json.dumps(REBOOK_ARGS),
            "status": "completed",
        },
        {"type": "function_call_output", "call_id": "call_rebook_01", "output": json.dumps(REBOOK_RESULT)},
        {
            "type": "message",
            "id": "msg_01",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Your booking is moved.", "annotations": []}],
        },
        {"role": "user", "content": "Thanks, please also send the receipt."},
    ],
    "tools": [
        {
            "type": "function",
            "name": "rebook_flight",
            "description": "Move an existing booking to another flight.",
            "parameters": REBOOK_SCHEMA,
            "strict": True,
        }
    ],
    "tool_choice": "auto",
    "text": {
        "format": {
            "type": "json_schema",
            "name": "support_reply",
            "description": "The assistant's reply to the traveller",
            "schema": REPLY_SCHEMA,
            "strict": True,
        },
        "verbosity": "low",
    },
    "reasoning": {"effort": "low", "summary": "auto"},
    "metadata": {"ticket": "T-1001"},
    "user": "end-user-77",
    "safety_identifier": "sid-end-user-77",
    "prompt_cache_key": "support-v2",
    "previous_response_id": "resp_0a1b2c3d4e",
    "include": ["reasoning.encrypted_content"],
    "truncation": "auto",
    "parallel_tool_calls": True,
    "store": False,
    "max_output_tokens": 300,
    "temperature": 0.3,
    "x_wrapper_note": UNKNOWN_FIELD_TEXT,
}

OPENAI_EMBEDDINGS: JSON = {
    "model": "text-embedding-3-small",
    "input": ["Refund request for a cancelled trip", "Question about a seat upgrade"],
    "dimensions": 256,
    "encoding_format": "float",
    "user": "end-user-77",
    "x_wrapper_note": UNKNOWN_FIELD_TEXT,
}

OPENAI_COMPLETIONS: JSON = {
    "model": "gpt-3.5-turbo-instruct",
    "prompt": "Write a polite reply confirming that the booking was moved.",
    "suffix": "\n-- The support team",
    "stop": ["\n\n", "END"],
    "max_tokens": 100,
    "temperature": 0.2,
    "best_of": 1,
    "n": 1,
    "echo": False,
    "logit_bias": {"50256": -100},
    "user": "end-user-77",
    "x_wrapper_note": UNKNOWN_FIELD_TEXT,
}

AZURE_CHAT: JSON = {
    **{k: v for k, v in OPENAI_CHAT.items() if k not in ("prediction", "verbosity", "web_search_options")},
    "model": AZURE_DEPLOYMENT,
    "data_sources": [
        {
            "type": "azure_search",
            "parameters": {
                "endpoint": "https://travel-search.search.windows.net",
                "index_name": "support-articles",
                "authentication": {"type": "api_key", "key": "search-query-key-0123"},
                "role_information": "You answer questions about bookings from the support articles.",
                "filter": "region eq 'EU' and audience eq 'travellers'",
                "in_scope": True,
                "strictness": 3,
                "top_n_documents": 5,
                "query_type": "vector_semantic_hybrid",
                "semantic_configuration": "default",
                "embedding_dependency": {"type": "deployment_name", "deployment_name": "embed-small"},
                "fields_mapping": {
                    "content_fields": ["content"],
                    "title_field": "title",
                    "url_field": "url",
                    "vector_fields": ["content_vector"],
                },
                "include_contexts": ["citations", "intent"],
            },
        }
    ],
}
AZURE_EMBEDDINGS: JSON = {**OPENAI_EMBEDDINGS, "model": AZURE_DEPLOYMENT}

BEDROCK_TOOL_SPEC: JSON = {
    "toolSpec": {
        "name": "rebook_flight",
        "description": "Move an existing booking to another flight.",
        "inputSchema": {"json": REBOOK_SCHEMA},
    }
}
CONVERSE: JSON = {
    "messages": [
        {"role": "user", "content": [{"text": "Please move my booking to the early flight."}]},
        {
            "role": "assistant",
            "content": [
                {"text": "Let me move it."},
                {"toolUse": {"toolUseId": "tooluse_rebook01", "name": "rebook_flight", "input": REBOOK_ARGS}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "toolResult": {
                        "toolUseId": "tooluse_rebook01",
                        "content": [{"json": REBOOK_RESULT}, {"text": "Seat 12A is kept."}],
                        "status": "success",
                    }
                },
                {"text": "Thanks, please also send the receipt."},
            ],
        },
    ],
    "system": [{"text": "You are the support assistant of a travel agency."}],
    "inferenceConfig": {
        "maxTokens": 400,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["\n\nTraveller:", "END OF REPLY"],
    },
    "toolConfig": {"tools": [BEDROCK_TOOL_SPEC], "toolChoice": {"auto": {}}},
    "guardrailConfig": {"guardrailIdentifier": "gr-travel01", "guardrailVersion": "1", "trace": "disabled"},
    "additionalModelRequestFields": {"top_k": 40},
    "additionalModelResponseFieldPaths": ["/stop_sequence"],
    "promptVariables": {"traveller_tier": {"text": "gold"}},
    "requestMetadata": {"ticket": "T-1001", "channel": "web-chat"},
    "performanceConfig": {"latency": "standard"},
}
CONVERSE_UNKNOWN = {"x_wrapper_note": UNKNOWN_FIELD_TEXT}

ANTHROPIC_INVOKE: JSON = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 400,
    "system": "You are the support assistant of a travel agency.",
    "messages": [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Please move my booking to the early flight."}],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me move it."},
                {"type": "tool_use", "id": "toolu_01Rebook", "name": "rebook_flight", "input": REBOOK_ARGS},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_01Rebook",
                    "content": [{"type": "text", "text": json.dumps(REBOOK_RESULT)}],
                },
                {"type": "text", "text": "Thanks, please also send the receipt."},
            ],
        },
    ],
    "tools": [
        {
            "name": "rebook_flight",
            "description": "Move an existing booking to another flight.",
            "input_schema": REBOOK_SCHEMA,
        }
    ],
    "tool_choice": {"type": "auto"},
    "stop_sequences": ["\n\nHuman:", "END OF REPLY"],
    "temperature": 0.2,
    "top_p": 0.9,
    "top_k": 40,
    "metadata": {"user_id": "end-user-77"},
    "x_wrapper_note": UNKNOWN_FIELD_TEXT,
}

MISTRAL_INVOKE: JSON = {
    "messages": [
        {"role": "system", "content": "You are the support assistant of a travel agency."},
        {"role": "user", "content": "Please move my booking to the early flight."},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "rebook001",
                    "type": "function",
                    "function": {"name": "rebook_flight", "arguments": json.dumps(REBOOK_ARGS)},
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "rebook001",
            "name": "rebook_flight",
            "content": json.dumps(REBOOK_RESULT),
        },
        {"role": "user", "content": "Thanks, please also send the receipt."},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "rebook_flight",
                "description": "Move an existing booking to another flight.",
                "parameters": REBOOK_SCHEMA,
            },
        }
    ],
    "tool_choice": "auto",
    "stop": ["\n\nTraveller:", "END OF REPLY"],
    "max_tokens": 400,
    "temperature": 0.2,
    "top_p": 0.9,
    "x_wrapper_note": UNKNOWN_FIELD_TEXT,
}

COHERE_INVOKE: JSON = {
    "message": "Thanks, please also send the receipt.",
    "preamble": "You are the support assistant of a travel agency.",
    "chat_history": [
        {"role": "USER", "message": "Please move my booking to the early flight."},
        {"role": "CHATBOT", "message": "Your booking is moved to TP 1947."},
    ],
    "documents": [
        {"title": "Receipts", "snippet": "Receipts are sent within one hour of a change."},
        {"title": "Rebooking", "snippet": "Rebooking is free up to 24 hours before departure."},
    ],
    "tools": [
        {
            "name": "send_receipt",
            "description": "Send the receipt of a booking to the traveller.",
            "parameter_definitions": {
                "booking": {"description": "Booking reference", "type": "str", "required": True},
                "format": {"description": "pdf or html", "type": "str", "required": False},
            },
        }
    ],
    "tool_results": [
        {
            "call": {"name": "send_receipt", "parameters": {"booking": "QX7K2P"}},
            "outputs": [{"status": "queued", "channel": "mail"}],
        }
    ],
    "stop_sequences": ["END OF REPLY"],
    "max_tokens": 400,
    "temperature": 0.2,
    "p": 0.75,
    "k": 0,
    "prompt_truncation": "OFF",
    "search_queries_only": False,
    "seed": 42,
    "return_prompt": False,
    "x_wrapper_note": UNKNOWN_FIELD_TEXT,
}

LLAMA_INVOKE: JSON = {
    "prompt": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
        "You are the support assistant of a travel agency.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n"
        "Please move my booking to the early flight.<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    ),
    "max_gen_len": 256,
    "temperature": 0.2,
    "top_p": 0.9,
    "x_wrapper_note": UNKNOWN_FIELD_TEXT,
}

TITAN_TEXT_INVOKE: JSON = {
    "inputText": "User: Please move my booking to the early flight.\nBot:",
    "textGenerationConfig": {
        "maxTokenCount": 256,
        "stopSequences": ["User:"],
        "temperature": 0.2,
        "topP": 0.9,
    },
    "x_wrapper_note": UNKNOWN_FIELD_TEXT,
}

TITAN_EMBED_INVOKE: JSON = {
    "inputText": "Refund request for a cancelled trip",
    "dimensions": 256,
    "normalize": True,
    "embeddingTypes": ["float"],
    "x_wrapper_note": UNKNOWN_FIELD_TEXT,
}

COHERE_EMBED_INVOKE: JSON = {
    "texts": ["Refund request for a cancelled trip", "Question about a seat upgrade"],
    "input_type": "search_document",
    "truncate": "END",
    "embedding_types": ["float"],
    "x_wrapper_note": UNKNOWN_FIELD_TEXT,
}

NOVA_INVOKE: JSON = {
    "schemaVersion": "messages-v1",
    "system": [{"text": "You are the support assistant of a travel agency."}],
    "messages": CONVERSE["messages"],
    "toolConfig": {"tools": [BEDROCK_TOOL_SPEC], "toolChoice": {"auto": {}}},
    "inferenceConfig": {
        "max_new_tokens": 400,
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stopSequences": ["END OF REPLY"],
    },
    "x_wrapper_note": UNKNOWN_FIELD_TEXT,
}


# ---------------------------------------------------------------- Gemini bodies, as the SDK sends them

GEMINI_MODEL = "gemini-2.5-flash"
GEMINI_EMBED_MODEL = "text-embedding-004"


def _gemini_schema(schema: JSON) -> gtypes.Schema:
    """REBOOK_SCHEMA in the SDK's own Schema type (OpenAPI subset, upper-case types)."""
    kwargs: dict[str, Any] = {"type": schema["type"].upper()}
    for name in ("description", "enum", "default", "pattern", "required"):
        if name in schema:
            kwargs[name] = schema[name]
    if "properties" in schema:
        kwargs["properties"] = {k: _gemini_schema(v) for k, v in schema["properties"].items()}
    if "items" in schema:
        kwargs["items"] = _gemini_schema(schema["items"])
    return gtypes.Schema(**kwargs)


def gemini_config(**overrides: Any) -> gtypes.GenerateContentConfig:
    settings: dict[str, Any] = {
        "system_instruction": "You are the support assistant of a travel agency.",
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "candidate_count": 1,
        "max_output_tokens": 400,
        "seed": 42,
        "stop_sequences": ["\n\nTraveller:", "END OF REPLY"],
        "response_mime_type": "application/json",
        "response_schema": _gemini_schema(REPLY_SCHEMA),
        "safety_settings": [
            gtypes.SafetySetting(category="HARM_CATEGORY_HARASSMENT", threshold="BLOCK_ONLY_HIGH")
        ],
        "tools": [
            gtypes.Tool(
                function_declarations=[
                    gtypes.FunctionDeclaration(
                        name="rebook_flight",
                        description="Move an existing booking to another flight.",
                        parameters=_gemini_schema(REBOOK_SCHEMA),
                    )
                ]
            )
        ],
        "tool_config": gtypes.ToolConfig(
            function_calling_config=gtypes.FunctionCallingConfig(
                mode="AUTO", allowed_function_names=["rebook_flight"]
            )
        ),
        "thinking_config": gtypes.ThinkingConfig(thinking_budget=0),
        "labels": {"ticket": "t-1001"},
        "automatic_function_calling": gtypes.AutomaticFunctionCallingConfig(disable=True),
    }
    settings.update(overrides)
    return gtypes.GenerateContentConfig(**settings)


GEMINI_CONTENTS = [
    gtypes.Content(role="user", parts=[gtypes.Part(text="Please move my booking to the early flight.")]),
    gtypes.Content(
        role="model",
        parts=[gtypes.Part(function_call=gtypes.FunctionCall(name="rebook_flight", args=REBOOK_ARGS))],
    ),
    gtypes.Content(
        role="user",
        parts=[
            gtypes.Part(
                function_response=gtypes.FunctionResponse(name="rebook_flight", response=REBOOK_RESULT)
            )
        ],
    ),
    gtypes.Content(role="user", parts=[gtypes.Part(text="Thanks, please also send the receipt.")]),
]


@cache
def gemini_sdk_bodies() -> dict[str, JSON]:
    """What google-genai itself sends for a rich generate_content and embed_content call,
    captured from a fake upstream of its own (so the field names and their spelling are the SDK's)."""
    recorder = Recorder()
    server = BackgroundServer(lambda: make_gemini_app(recorder, api_key=GEMINI_UPSTREAM_KEY)).start()
    try:
        sdk = genai.Client(
            api_key=GEMINI_UPSTREAM_KEY,
            http_options=gtypes.HttpOptions(
                base_url=server.url,
                api_version="v1beta",
                retry_options=gtypes.HttpRetryOptions(attempts=1),
            ),
        )
        sdk.models.generate_content(model=GEMINI_MODEL, contents=GEMINI_CONTENTS, config=gemini_config())
        sdk.models.embed_content(
            model=GEMINI_EMBED_MODEL,
            contents=["Refund request for a cancelled trip", "Question about a seat upgrade"],
            config=gtypes.EmbedContentConfig(
                task_type="RETRIEVAL_DOCUMENT", title="Refund policy", output_dimensionality=8
            ),
        )
        generate, batch = (json.loads(r.body) for r in recorder.requests)
    finally:
        server.stop()
    generate["cachedContent"] = "cachedContents/support-faq-01"
    generate["x_wrapper_note"] = UNKNOWN_FIELD_TEXT
    batch["x_wrapper_note"] = UNKNOWN_FIELD_TEXT
    embed = {**batch["requests"][0], "x_wrapper_note": UNKNOWN_FIELD_TEXT}
    count = {"generateContentRequest": {"model": f"models/{GEMINI_MODEL}", **generate}}
    return {"generate": generate, "embed": embed, "batch_embed": batch, "count": count}


# ---------------------------------------------------------------- the cases


def _bedrock_path(model_id: str, operation: str) -> str:
    return f"/model/{urllib.parse.quote(model_id, safe='')}/{operation}"


HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
AZURE_DEPLOYMENT_PATH = f"/{AZURE_RESOURCE}/openai/deployments/{AZURE_DEPLOYMENT}"
AZURE_QUERY = f"?api-version={AZURE_API_VERSION}"


@dataclass(frozen=True)
class Case:
    id: str
    provider: str
    path: str  # below /c/{customer}/{provider}
    body: Callable[[], JSON] = field(repr=False)


CASES = [
    Case("openai-chat", "openai", "/v1/chat/completions", lambda: OPENAI_CHAT),
    Case("openai-responses", "openai", "/v1/responses", lambda: OPENAI_RESPONSES),
    Case("openai-embeddings", "openai", "/v1/embeddings", lambda: OPENAI_EMBEDDINGS),
    Case("openai-completions", "openai", "/v1/completions", lambda: OPENAI_COMPLETIONS),
    Case("azure-chat", "azure", f"{AZURE_DEPLOYMENT_PATH}/chat/completions{AZURE_QUERY}", lambda: AZURE_CHAT),
    Case(
        "azure-embeddings",
        "azure",
        f"{AZURE_DEPLOYMENT_PATH}/embeddings{AZURE_QUERY}",
        lambda: AZURE_EMBEDDINGS,
    ),
    Case(
        "azure-responses",
        "azure",
        f"/{AZURE_RESOURCE}/openai/v1/responses",
        lambda: {**OPENAI_RESPONSES, "model": AZURE_DEPLOYMENT},
    ),
    Case(
        "gemini-generateContent",
        "gemini",
        f"/v1beta/models/{GEMINI_MODEL}:generateContent",
        lambda: gemini_sdk_bodies()["generate"],
    ),
    Case(
        "gemini-streamGenerateContent",
        "gemini",
        f"/v1beta/models/{GEMINI_MODEL}:streamGenerateContent?alt=sse",
        lambda: gemini_sdk_bodies()["generate"],
    ),
    Case(
        "gemini-countTokens",
        "gemini",
        f"/v1beta/models/{GEMINI_MODEL}:countTokens",
        lambda: gemini_sdk_bodies()["count"],
    ),
    Case(
        "gemini-embedContent",
        "gemini",
        f"/v1beta/models/{GEMINI_EMBED_MODEL}:embedContent",
        lambda: gemini_sdk_bodies()["embed"],
    ),
    Case(
        "gemini-batchEmbedContents",
        "gemini",
        f"/v1beta/models/{GEMINI_EMBED_MODEL}:batchEmbedContents",
        lambda: gemini_sdk_bodies()["batch_embed"],
    ),
    Case(
        "bedrock-converse",
        "bedrock",
        _bedrock_path(HAIKU, "converse"),
        lambda: {**CONVERSE, **CONVERSE_UNKNOWN},
    ),
    Case(
        "bedrock-converse-stream",
        "bedrock",
        _bedrock_path(HAIKU, "converse-stream"),
        lambda: {**CONVERSE, **CONVERSE_UNKNOWN},
    ),
    Case(
        "bedrock-invoke-anthropic",
        "bedrock",
        _bedrock_path("anthropic.claude-3-5-sonnet-20240620-v1:0", "invoke"),
        lambda: ANTHROPIC_INVOKE,
    ),
    Case(
        "bedrock-invoke-stream-anthropic",
        "bedrock",
        _bedrock_path("eu.anthropic.claude-3-5-sonnet-20240620-v1:0", "invoke-with-response-stream"),
        lambda: ANTHROPIC_INVOKE,
    ),
    Case(
        "bedrock-invoke-mistral",
        "bedrock",
        _bedrock_path("mistral.mistral-large-2407-v1:0", "invoke"),
        lambda: MISTRAL_INVOKE,
    ),
    Case(
        "bedrock-invoke-cohere-command",
        "bedrock",
        _bedrock_path("cohere.command-r-plus-v1:0", "invoke"),
        lambda: COHERE_INVOKE,
    ),
    Case(
        "bedrock-invoke-llama",
        "bedrock",
        _bedrock_path("meta.llama3-1-70b-instruct-v1:0", "invoke"),
        lambda: LLAMA_INVOKE,
    ),
    Case(
        "bedrock-invoke-titan-text",
        "bedrock",
        _bedrock_path("amazon.titan-text-premier-v1:0", "invoke"),
        lambda: TITAN_TEXT_INVOKE,
    ),
    Case(
        "bedrock-invoke-titan-embed",
        "bedrock",
        _bedrock_path("amazon.titan-embed-text-v2:0", "invoke"),
        lambda: TITAN_EMBED_INVOKE,
    ),
    Case(
        "bedrock-invoke-cohere-embed",
        "bedrock",
        _bedrock_path("cohere.embed-english-v3", "invoke"),
        lambda: COHERE_EMBED_INVOKE,
    ),
    Case(
        "bedrock-invoke-nova", "bedrock", _bedrock_path("amazon.nova-pro-v1:0", "invoke"), lambda: NOVA_INVOKE
    ),
]


# ================================================================ the bodies are real


def _typed_keys(typed_dict: Any) -> frozenset[str]:
    return frozenset(typed_dict.__required_keys__ | typed_dict.__optional_keys__)


def _assert_keys(where: str, value: JSON, typed_dict: Any, extra: frozenset[str] = frozenset()) -> None:
    unknown = set(value) - _typed_keys(typed_dict) - extra
    assert not unknown, f"{where}: {sorted(unknown)} are not fields of {typed_dict.__name__}"


def test_bodies_use_the_sdks_field_names() -> None:
    """The bodies are what the SDKs send: field names checked against openai's TypedDicts and
    botocore's bedrock-runtime service model (only the deliberate `x_wrapper_note`, Azure's
    `data_sources` and `stream` are extra). The Gemini bodies are captured from google-genai."""
    from botocore.session import get_session
    from botocore.validate import validate_parameters
    from openai.types import completion_create_params, embedding_create_params
    from openai.types.chat import (
        ChatCompletionAssistantMessageParam,
        ChatCompletionDeveloperMessageParam,
        ChatCompletionMessageFunctionToolCallParam,
        ChatCompletionToolMessageParam,
        ChatCompletionUserMessageParam,
    )
    from openai.types.chat import completion_create_params as chat_params
    from openai.types.responses import (
        EasyInputMessageParam,
        FunctionToolParam,
        ResponseFormatTextJSONSchemaConfigParam,
        ResponseFunctionToolCallParam,
        ResponseOutputMessageParam,
        response_create_params,
    )
    from openai.types.responses.response_input_param import FunctionCallOutput
    from openai.types.shared_params import FunctionDefinition
    from openai.types.shared_params.response_format_json_schema import JSONSchema

    ours = frozenset({"x_wrapper_note", "stream"})
    _assert_keys("chat", OPENAI_CHAT, chat_params.CompletionCreateParamsBase, ours)
    _assert_keys("azure chat", AZURE_CHAT, chat_params.CompletionCreateParamsBase, ours | {"data_sources"})
    messages = OPENAI_CHAT["messages"]
    _assert_keys("developer message", messages[0], ChatCompletionDeveloperMessageParam)
    _assert_keys("user message", messages[2], ChatCompletionUserMessageParam)
    _assert_keys("assistant message", messages[4], ChatCompletionAssistantMessageParam)
    _assert_keys("tool call", messages[4]["tool_calls"][0], ChatCompletionMessageFunctionToolCallParam)
    _assert_keys("tool message", messages[5], ChatCompletionToolMessageParam)
    for tool in OPENAI_CHAT["tools"]:
        _assert_keys("function", tool["function"], FunctionDefinition)
    _assert_keys("json_schema", OPENAI_CHAT["response_format"]["json_schema"], JSONSchema)
    _assert_keys("responses", OPENAI_RESPONSES, response_create_params.ResponseCreateParamsBase, ours)
    items = OPENAI_RESPONSES["input"]
    _assert_keys("message item", items[0], EasyInputMessageParam)
    _assert_keys("function_call item", items[1], ResponseFunctionToolCallParam)
    _assert_keys("function_call_output item", items[2], FunctionCallOutput)
    _assert_keys("output message item", items[3], ResponseOutputMessageParam)
    _assert_keys("function tool", OPENAI_RESPONSES["tools"][0], FunctionToolParam)
    _assert_keys("text.format", OPENAI_RESPONSES["text"]["format"], ResponseFormatTextJSONSchemaConfigParam)
    _assert_keys("embeddings", OPENAI_EMBEDDINGS, embedding_create_params.EmbeddingCreateParams, ours)
    _assert_keys("completions", OPENAI_COMPLETIONS, completion_create_params.CompletionCreateParamsBase, ours)

    model = get_session().get_service_model("bedrock-runtime")
    for operation in ("Converse", "ConverseStream"):
        validate_parameters({"modelId": HAIKU, **CONVERSE}, model.operation_model(operation).input_shape)

    bodies = gemini_sdk_bodies()
    assert bodies["generate"]["tools"][0]["functionDeclarations"][0]["description"]
    assert bodies["generate"]["generationConfig"]["stopSequences"] == ["\n\nTraveller:", "END OF REPLY"]
    assert bodies["generate"]["generationConfig"]["responseMimeType"] == "application/json"
    assert bodies["generate"]["systemInstruction"]["parts"][0]["text"]
    assert bodies["batch_embed"]["requests"][0]["title"] == "Refund policy"


# ================================================================ the property: no planted address leaves


def run_plants(proxy: ProxyHarness, recorder: Recorder, case: Case) -> tuple[int, list[str], dict[str, int]]:
    body = case.body()
    leaves = list(iter_leaves(body))
    problems: list[str] = []
    outcomes = {"forwarded": 0, "refused": 0}
    for n, leaf in enumerate(leaves):
        address, local = planted_address(n)
        recorder.clear()
        reply = send_json(proxy, case.provider, case.path, plant(body, leaf, address))
        if recorder.requests:
            outcomes["forwarded"] += 1
            if seen_upstream(recorder, local):
                problems.append(f"LEAK        {leaf}  (forwarded, status {reply.status})")
        elif reply.status in (400, 403):
            outcomes["refused"] += 1
            if local.encode() in reply.body:
                problems.append(f"ECHO        {leaf}  (refusal {reply.status} quotes the planted value)")
        else:
            problems.append(
                f"UNEXPECTED  {leaf}  (status {reply.status}, nothing upstream): {reply.body[:160]!r}"
            )
    return len(leaves), problems, outcomes


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_no_planted_address_reaches_the_provider(
    proxy: ProxyHarness, recorders: dict[str, Recorder], case: Case
) -> None:
    recorder = recorders[case.provider]
    # The control: the body as it is must be forwarded, or every "refused" below proves nothing.
    recorder.clear()
    control = send_json(proxy, case.provider, case.path, case.body())
    assert recorder.requests, (
        f"{case.id}: the unplanted body was not forwarded ({control.status}): {control.body[:400]!r}"
    )
    started = time.perf_counter()
    count, problems, outcomes = run_plants(proxy, recorder, case)
    elapsed = time.perf_counter() - started
    print(
        f"\n[deny-by-default] {case.id}: {count} leaves, {outcomes['forwarded']} forwarded, "
        f"{outcomes['refused']} refused, {len(problems)} problems, {elapsed:.1f}s"
    )
    assert not problems, (
        f"{case.id}: {len(problems)} of {count} planted leaves leaked or were not refused:\n"
        + "\n".join(problems)
    )


# ================================================================ through the official SDKs


def _plants(count: int) -> list[tuple[str, str]]:
    return [planted_address(1000 + secrets.randbelow(10**6)) for _ in range(count)]


def _assert_not_seen(recorder: Recorder, plants: list[tuple[str, str]], where: list[str]) -> None:
    assert recorder.requests, "nothing reached the upstream"
    leaked = [w for (_, local), w in zip(plants, where, strict=True) if seen_upstream(recorder, local)]
    assert not leaked, f"planted addresses reached the upstream from: {leaked}"


def test_openai_sdk_tool_description_and_stop(proxy: ProxyHarness, openai_recorder: Recorder) -> None:
    (tool_addr, _), (stop_addr, _) = plants = _plants(2)
    sdk = openai.OpenAI(
        base_url=f"{proxy.url}/c/{CUSTOMER}/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=60
    )
    openai_recorder.clear()
    answer = sdk.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Please send the receipt for booking QX7K2P."}],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "send_receipt",
                    "description": f"Send the receipt; copies always go to {tool_addr}.",
                    "parameters": REBOOK_SCHEMA,
                },
            }
        ],
        stop=[f"Reply to {stop_addr}"],
    )
    assert answer.choices
    _assert_not_seen(openai_recorder, plants, ["tools[0].function.description", "stop[0]"])


def test_azure_sdk_tool_description_and_stop(proxy: ProxyHarness, openai_recorder: Recorder) -> None:
    (tool_addr, _), (stop_addr, _) = plants = _plants(2)
    sdk = openai.AzureOpenAI(
        azure_endpoint=f"{proxy.url}/c/{CUSTOMER}/azure/{AZURE_RESOURCE}",
        api_key=PROXY_KEY,
        api_version=AZURE_API_VERSION,
        max_retries=0,
        timeout=60,
    )
    openai_recorder.clear()
    answer = sdk.chat.completions.create(
        model=AZURE_DEPLOYMENT,
        messages=[{"role": "user", "content": "Please send the receipt for booking QX7K2P."}],
        tools=[
            {
                "type": "function",
                "function": {
                    "name": "send_receipt",
                    "description": f"Send the receipt; copies always go to {tool_addr}.",
                    "parameters": REBOOK_SCHEMA,
                },
            }
        ],
        stop=[f"Reply to {stop_addr}"],
    )
    assert answer.choices
    _assert_not_seen(openai_recorder, plants, ["tools[0].function.description", "stop[0]"])


def test_boto3_converse_tool_description_and_stop(proxy: ProxyHarness, bedrock_recorder: Recorder) -> None:
    (tool_addr, _), (stop_addr, _) = plants = _plants(2)
    sdk = boto3.client(
        "bedrock-runtime",
        endpoint_url=f"{proxy.url}/c/{CUSTOMER}/bedrock",
        region_name=REGION,
        aws_access_key_id=CALLER_KEY_ID,
        aws_secret_access_key=CALLER_SECRET,
        config=BotoConfig(retries={"total_max_attempts": 1}, read_timeout=60),
    )
    bedrock_recorder.clear()
    spec = copy.deepcopy(BEDROCK_TOOL_SPEC)
    spec["toolSpec"]["description"] = f"Move a booking; copies always go to {tool_addr}."
    answer = sdk.converse(
        modelId=HAIKU,
        messages=[{"role": "user", "content": [{"text": "Please move booking QX7K2P."}]}],
        toolConfig={"tools": [spec]},
        inferenceConfig={"stopSequences": [f"Reply to {stop_addr}"]},
    )
    assert answer["output"]["message"]["content"]
    _assert_not_seen(
        bedrock_recorder,
        plants,
        ["toolConfig.tools[0].toolSpec.description", "inferenceConfig.stopSequences[0]"],
    )


def test_genai_generate_content_tool_description_and_stop(
    proxy: ProxyHarness, gemini_recorder: Recorder
) -> None:
    (tool_addr, _), (stop_addr, _) = plants = _plants(2)
    sdk = genai.Client(
        api_key=PROXY_KEY,
        http_options=gtypes.HttpOptions(
            base_url=f"{proxy.url}/c/{CUSTOMER}/gemini",
            api_version="v1beta",
            retry_options=gtypes.HttpRetryOptions(attempts=1),
            timeout=60_000,
        ),
    )
    gemini_recorder.clear()
    tool = gtypes.Tool(
        function_declarations=[
            gtypes.FunctionDeclaration(
                name="rebook_flight",
                description=f"Move a booking; copies always go to {tool_addr}.",
                parameters=_gemini_schema(REBOOK_SCHEMA),
            )
        ]
    )
    answer = sdk.models.generate_content(
        model=GEMINI_MODEL,
        contents="Please move booking QX7K2P.",
        config=gtypes.GenerateContentConfig(
            tools=[tool],
            stop_sequences=[f"Reply to {stop_addr}"],
            automatic_function_calling=gtypes.AutomaticFunctionCallingConfig(disable=True),
        ),
    )
    assert answer.candidates
    _assert_not_seen(
        gemini_recorder,
        plants,
        ["tools[0].functionDeclarations[0].description", "generationConfig.stopSequences[0]"],
    )


# ================================================================ (a) duplicate keys in JSON text


def assert_openai_refusal(reply: Reply, recorder: Recorder, status: int = 400) -> JSON:
    assert reply.status == status, f"expected {status}, got {reply.status}: {reply.body[:300]!r}"
    assert not recorder.requests, "a refused request must not reach the upstream"
    error = (reply.json() or {}).get("error")
    assert isinstance(error, dict) and {"message", "type", "param", "code"} <= set(error), (
        f"not OpenAI's error shape: {reply.body[:300]!r}"
    )
    return error


def _chat_with_arguments(arguments: str) -> JSON:
    return {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "user", "content": "Mail the invoice."},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_mail_01",
                        "type": "function",
                        "function": {"name": "send_mail", "arguments": arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_mail_01", "content": "sent"},
        ],
    }


def _responses_with(arguments: str | None = None, output: str | None = None) -> JSON:
    return {
        "model": "gpt-4.1-mini",
        "input": [
            {"role": "user", "content": "Mail the invoice."},
            {
                "type": "function_call",
                "call_id": "call_mail_01",
                "name": "send_mail",
                "arguments": arguments if arguments is not None else '{"subject":"Invoice"}',
            },
            {
                "type": "function_call_output",
                "call_id": "call_mail_01",
                "output": output if output is not None else "Mail sent.",
            },
        ],
    }


DUPLICATE_KEY_CASES = {
    "chat tool_calls[].function.arguments": ("/v1/chat/completions", lambda t: _chat_with_arguments(t)),
    "responses function_call.arguments": ("/v1/responses", lambda t: _responses_with(arguments=t)),
    "responses function_call_output.output": ("/v1/responses", lambda t: _responses_with(output=t)),
}


@pytest.mark.parametrize("where", DUPLICATE_KEY_CASES)
def test_duplicate_keys_in_json_text_are_refused(
    proxy: ProxyHarness, openai_recorder: Recorder, where: str
) -> None:
    address, _ = planted_address(secrets.randbelow(10**6))
    path, make = DUPLICATE_KEY_CASES[where]
    openai_recorder.clear()
    reply = send_json(proxy, "openai", path, make(f'{{"to": "{address}", "to": ""}}'))
    assert_openai_refusal(reply, openai_recorder)


# ================================================================ (b) JSON text is always re-serialised

ODD_JSON_TEXTS = [
    '{ "seat" : "wind\\u006fw" ,\n  "tags" : [ "quiet" , "aisle" ] }',
    '{"note":"caf\\u00e9 \\/ bar","count":12,"nested":{"a":[1, 2 ,3]}}',
    '[ {"k": "v"} ,\t{"k":"w"} ]',
]


def canonical(text: str) -> str:
    return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)


def _sent_json_texts(recorder: Recorder) -> JSON:
    sent = json.loads(recorder.requests[-1].body)
    if "messages" in sent:
        return {"arguments": sent["messages"][1]["tool_calls"][0]["function"]["arguments"]}
    return {"arguments": sent["input"][1]["arguments"], "output": sent["input"][2]["output"]}


@pytest.mark.parametrize("text", ODD_JSON_TEXTS)
@pytest.mark.parametrize("where", DUPLICATE_KEY_CASES)
def test_json_text_is_forwarded_in_canonical_form(
    proxy: ProxyHarness, openai_recorder: Recorder, where: str, text: str
) -> None:
    path, make = DUPLICATE_KEY_CASES[where]
    openai_recorder.clear()
    reply = send_json(proxy, "openai", path, make(text))
    assert openai_recorder.requests, f"not forwarded ({reply.status}): {reply.body[:300]!r}"
    sent = _sent_json_texts(openai_recorder)
    key = "output" if where.endswith("output") else "arguments"
    assert sent[key] == canonical(text), f"{where}: the original bytes went upstream, not the parsed value"


def test_escaped_address_in_json_text_is_masked(proxy: ProxyHarness, openai_recorder: Recorder) -> None:
    _, local = planted_address(secrets.randbelow(10**6))
    openai_recorder.clear()
    arguments = f'{{"to":"{local}\\u0040example-mail.com"}}'
    reply = send_json(proxy, "openai", "/v1/chat/completions", _chat_with_arguments(arguments))
    assert openai_recorder.requests, f"not forwarded ({reply.status}): {reply.body[:300]!r}"
    assert not seen_upstream(openai_recorder, local)


# ================================================================ (c) a restored answer sent back


class ScriptedOpenAI:
    """A fake OpenAI chat upstream that answers with a tool call whose arguments repeat the e-mail
    placeholder it received under a duplicate key."""

    def __init__(self, arguments_template: str) -> None:
        self.recorder = Recorder()
        self.template = arguments_template

    async def chat(self, request: web.Request) -> web.Response:
        received = await self.recorder.record(request)
        found = re.search(rb"<EMAIL_ADDRESS[^>]*>", received.body)
        placeholder = found.group(0).decode() if found else "<EMAIL_ADDRESS_1>"
        arguments = self.template.replace("PLACEHOLDER", placeholder)
        return web.json_response(
            {
                "id": "chatcmpl-scripted",
                "object": "chat.completion",
                "created": 1_760_000_000,
                "model": "gpt-4o-mini",
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": None,
                            "tool_calls": [
                                {
                                    "id": "call_dup_01",
                                    "type": "function",
                                    "function": {"name": "send_mail", "arguments": arguments},
                                }
                            ],
                        },
                        "finish_reason": "tool_calls",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            }
        )

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        return app


@pytest.mark.parametrize(
    "template", ['{"to": "PLACEHOLDER", "to": "PLACEHOLDER"}', '{"to": "PLACEHOLDER", "to": ""}']
)
def test_restored_duplicate_key_arguments_are_refused_next_turn(
    make_proxy: ProxyFactory, template: str
) -> None:
    scripted = ScriptedOpenAI(template)
    server = BackgroundServer(scripted.app).start()
    try:
        scripted_proxy = make_proxy(
            {"openai": {"base_url": server.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}}, rules=RULES
        )
        address, local = planted_address(secrets.randbelow(10**6))
        sdk = openai.OpenAI(
            base_url=f"{scripted_proxy.url}/c/{CUSTOMER}/openai/v1",
            api_key=PROXY_KEY,
            max_retries=0,
            timeout=60,
        )
        first = [{"role": "user", "content": f"Mail the invoice to {address}."}]
        tools = [{"type": "function", "function": {"name": "send_mail", "parameters": {"type": "object"}}}]
        answer = sdk.chat.completions.create(model="gpt-4o-mini", messages=first, tools=tools)
        assert not seen_upstream(scripted.recorder, local), "the first turn leaked the address"
        call = answer.choices[0].message.tool_calls[0]
        assert address in call.function.arguments, "the placeholder was not restored for the SDK"

        scripted.recorder.clear()
        history = [
            *first,
            answer.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sent"},
        ]
        with pytest.raises(openai.BadRequestError) as refused:
            sdk.chat.completions.create(model="gpt-4o-mini", messages=history, tools=tools)
        assert refused.value.status_code == 400
        assert not scripted.recorder.requests, "duplicate-key arguments went upstream: " + (
            "WITH the restored address" if seen_upstream(scripted.recorder, local) else "masked"
        )
    finally:
        server.stop()


# ======================================== (d) structural fields that do not look structural


def _set(path: tuple[Any, ...]) -> Callable[[JSON, str], JSON]:
    def mutate(body: JSON, address: str) -> JSON:
        return plant(body, Leaf(path, "string"), address)

    return mutate


STRUCTURAL_CASES: dict[str, tuple[str, str, Callable[[], JSON], tuple[Any, ...]]] = {
    "openai chat messages[].role": (
        "openai",
        "/v1/chat/completions",
        lambda: OPENAI_CHAT,
        ("messages", 2, "role"),
    ),
    "openai chat messages[].tool_call_id": (
        "openai",
        "/v1/chat/completions",
        lambda: OPENAI_CHAT,
        ("messages", 5, "tool_call_id"),
    ),
    "openai chat tool_calls[].id": (
        "openai",
        "/v1/chat/completions",
        lambda: OPENAI_CHAT,
        ("messages", 4, "tool_calls", 0, "id"),
    ),
    "openai chat tool_calls[].type": (
        "openai",
        "/v1/chat/completions",
        lambda: OPENAI_CHAT,
        ("messages", 4, "tool_calls", 0, "type"),
    ),
    "openai chat tools[].function.name": (
        "openai",
        "/v1/chat/completions",
        lambda: OPENAI_CHAT,
        ("tools", 0, "function", "name"),
    ),
    "openai chat model": ("openai", "/v1/chat/completions", lambda: OPENAI_CHAT, ("model",)),
    "openai chat tool_choice": ("openai", "/v1/chat/completions", lambda: OPENAI_CHAT, ("tool_choice",)),
    "openai chat reasoning_effort": (
        "openai",
        "/v1/chat/completions",
        lambda: OPENAI_CHAT,
        ("reasoning_effort",),
    ),
    "openai chat response_format.type": (
        "openai",
        "/v1/chat/completions",
        lambda: OPENAI_CHAT,
        ("response_format", "type"),
    ),
    "openai responses input[].role": (
        "openai",
        "/v1/responses",
        lambda: OPENAI_RESPONSES,
        ("input", 0, "role"),
    ),
    "openai responses function_call.call_id": (
        "openai",
        "/v1/responses",
        lambda: OPENAI_RESPONSES,
        ("input", 1, "call_id"),
    ),
    "openai responses text.format.type": (
        "openai",
        "/v1/responses",
        lambda: OPENAI_RESPONSES,
        ("text", "format", "type"),
    ),
    "openai responses reasoning.effort": (
        "openai",
        "/v1/responses",
        lambda: OPENAI_RESPONSES,
        ("reasoning", "effort"),
    ),
    "gemini generationConfig.responseMimeType": (
        "gemini",
        f"/v1beta/models/{GEMINI_MODEL}:generateContent",
        lambda: gemini_sdk_bodies()["generate"],
        ("generationConfig", "responseMimeType"),
    ),
    "gemini contents[].role": (
        "gemini",
        f"/v1beta/models/{GEMINI_MODEL}:generateContent",
        lambda: gemini_sdk_bodies()["generate"],
        ("contents", 0, "role"),
    ),
    "bedrock converse toolUse.toolUseId": (
        "bedrock",
        _bedrock_path(HAIKU, "converse"),
        lambda: CONVERSE,
        ("messages", 1, "content", 1, "toolUse", "toolUseId"),
    ),
    "bedrock converse toolResult.toolUseId": (
        "bedrock",
        _bedrock_path(HAIKU, "converse"),
        lambda: CONVERSE,
        ("messages", 2, "content", 0, "toolResult", "toolUseId"),
    ),
    "bedrock converse messages[].role": (
        "bedrock",
        _bedrock_path(HAIKU, "converse"),
        lambda: CONVERSE,
        ("messages", 0, "role"),
    ),
}


def assert_provider_error_shape(provider: str, reply: Reply) -> None:
    body = reply.json()
    if provider in ("openai", "azure"):
        error = (body or {}).get("error")
        assert isinstance(error, dict) and {"message", "type", "param", "code"} <= set(error), reply.body
    elif provider == "gemini":
        error = (body or {}).get("error")
        assert isinstance(error, dict) and error.get("code") == reply.status and "status" in error, reply.body
    else:
        assert reply.headers.get("x-amzn-errortype"), reply.headers
        assert isinstance(body, dict) and "message" in body, reply.body


@pytest.mark.parametrize("where", STRUCTURAL_CASES)
def test_structural_field_with_an_address_is_refused(
    proxy: ProxyHarness, recorders: dict[str, Recorder], where: str
) -> None:
    provider, path, make, steps = STRUCTURAL_CASES[where]
    recorder = recorders[provider]
    address, local = planted_address(secrets.randbelow(10**6))
    recorder.clear()
    reply = send_json(proxy, provider, path, _set(steps)(make(), address))
    leaked = seen_upstream(recorder, local)
    assert reply.status == 400 and not recorder.requests, (
        f"{where}: expected 400 with nothing upstream, got {reply.status}, "
        f"{'forwarded' if recorder.requests else 'not forwarded'}{' WITH the address' if leaked else ''}"
    )
    assert_provider_error_shape(provider, reply)
    assert local.encode() not in reply.body, "the refusal quotes the planted value"


# ================================================================ (e) model validation

BAD_MODELS = {
    "200 KB": "gpt-4o-mini" + "x" * 200_000,
    "newline": "gpt-4o\nmini",
    "e-mail": "plant.model@example-mail.com",
}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/v1/embeddings"])
@pytest.mark.parametrize("model", BAD_MODELS, ids=list(BAD_MODELS))
def test_body_model_that_is_not_an_identifier_is_refused(
    proxy: ProxyHarness, openai_recorder: Recorder, model: str, path: str
) -> None:
    body: JSON = {"model": BAD_MODELS[model]}
    if path.endswith("chat/completions"):
        body["messages"] = [{"role": "user", "content": "Hello"}]
    else:
        body["input"] = "Hello"
    openai_recorder.clear()
    reply = send_json(proxy, "openai", path, body)
    assert_openai_refusal(reply, openai_recorder)


def test_azure_v1_body_model_with_an_address_is_refused(
    proxy: ProxyHarness, openai_recorder: Recorder
) -> None:
    openai_recorder.clear()
    body = {"model": "plant.model@example-mail.com", "messages": [{"role": "user", "content": "Hello"}]}
    reply = send_json(proxy, "azure", f"/{AZURE_RESOURCE}/openai/v1/chat/completions", body)
    assert_openai_refusal(reply, openai_recorder)


@pytest.mark.parametrize("provider", ["gemini", "bedrock"])
def test_path_model_with_an_address_is_not_forwarded(
    proxy: ProxyHarness, recorders: dict[str, Recorder], provider: str
) -> None:
    local = f"plant.pathmodel.{secrets.token_hex(4)}"
    model = f"{local}@example-mail.com"
    if provider == "gemini":
        path = f"/v1beta/models/{model}:generateContent"
        body: JSON = {"contents": [{"role": "user", "parts": [{"text": "Hello"}]}]}
    else:
        path = _bedrock_path(model, "converse")
        body = {"messages": [{"role": "user", "content": [{"text": "Hello"}]}]}
    recorder = recorders[provider]
    recorder.clear()
    reply = send_json(proxy, provider, path, body)
    assert reply.status in (400, 404), f"got {reply.status}: {reply.body[:300]!r}"
    assert not recorder.requests, "a model id with an address went upstream" + (
        " unmasked" if seen_upstream(recorder, local) else ""
    )


# ================================================================ (f) restricted models, no model in the body

PROMPT_ONLY: JSON = {
    "prompt": {"id": "pmpt_0a1b2c3d4e5f", "version": "2", "variables": {"topic": "seat upgrades"}},
    "input": "Hello",
}


def test_models_restricted_customer_without_model_is_refused(
    proxy: ProxyHarness, openai_recorder: Recorder
) -> None:
    openai_recorder.clear()
    reply = send_json(proxy, "openai", "/v1/responses", PROMPT_ONLY, customer=MODELS_RESTRICTED)
    error = assert_openai_refusal(reply, openai_recorder, status=403)
    assert error["code"] == "model_not_allowed", error


def test_models_restricted_customer_controls(proxy: ProxyHarness, openai_recorder: Recorder) -> None:
    """The allowed model passes and another is refused, so the test above refuses for the right reason."""
    openai_recorder.clear()
    allowed = send_json(
        proxy,
        "openai",
        "/v1/responses",
        {"model": "gpt-4o-mini", "input": "Hello"},
        customer=MODELS_RESTRICTED,
    )
    assert allowed.status == 200 and openai_recorder.requests, allowed.body[:300]
    openai_recorder.clear()
    other = send_json(
        proxy, "openai", "/v1/responses", {"model": "gpt-4o", "input": "Hello"}, customer=MODELS_RESTRICTED
    )
    error = assert_openai_refusal(other, openai_recorder, status=403)
    assert error["code"] == "model_not_allowed"
