"""The formats' structural declarations, case by case: what a provider needs to read unchanged
goes out unchanged, what could carry personal data is scanned or refused.

Each case walks a body with the format's own collector and looks at the segments it registered
(what detection sees) and what it refused.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from models.target import ProviderTarget
from proxy.config import ConfigError, ProviderConfig, parse_config
from proxy.errors import ProxyError
from proxy.formats.bedrock import collect_converse, collect_invoke
from proxy.formats.gemini import collect_request
from proxy.formats.openai import AZURE_FORMATS, FORMATS, collect_body
from proxy.formats.schema import check_model
from proxy.providers.base import IncomingRequest
from proxy.providers.gemini import GeminiAdapter
from proxy.textslots import TextSlots
from rules.decide import decide
from rules.loader import parse_rules

EMAIL = "jane.doe@example.com"


def openai(operation: str, body: dict[str, Any], azure: bool = False) -> TextSlots:
    slots = TextSlots()
    collect_body(operation, body, slots, AZURE_FORMATS if azure else FORMATS)
    return slots


def gemini(body: dict[str, Any], method: str = "generateContent") -> TextSlots:
    slots = TextSlots()
    collect_request(method, body, slots)
    return slots


def converse(body: dict[str, Any]) -> TextSlots:
    slots = TextSlots()
    collect_converse(body, slots)
    return slots


def invoke(family: str, body: dict[str, Any]) -> TextSlots:
    slots = TextSlots()
    collect_invoke(family, body, slots)
    return slots


# ---------------------------------------------------------------- settings the provider must read as sent


def test_bedrock_beta_flags_and_thinking_settings_are_not_text() -> None:
    slots = converse(
        {
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "additionalModelRequestFields": {
                "anthropic_beta": ["interleaved-thinking-2025-05-14"],
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "custom_setting": "scanned",
            },
        }
    )
    assert "interleaved-thinking-2025-05-14" not in slots.segments and "enabled" not in slots.segments
    # A field the format does not name is still scanned, key and value.
    assert {"custom_setting", "scanned"} <= set(slots.segments)


def test_gemini_voice_and_language_are_settings() -> None:
    speech = {"languageCode": "en-US", "voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Charon"}}}
    slots = gemini({"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"speechConfig": speech}})
    assert slots.segments == ["hi"]


def test_responses_mcp_server_and_web_search_domains_are_settings() -> None:
    body = {
        "model": "gpt-4.1",
        "input": "hi",
        "tools": [
            {
                "type": "mcp",
                "server_label": "dmcp",
                "server_url": "https://dmcp-server.deno.dev/sse",
                "require_approval": "never",
                "headers": {"Authorization": "Bearer x"},
            },
            {"type": "web_search", "filters": {"allowed_domains": ["pubmed.ncbi.nlm.nih.gov"]}},
        ],
    }
    slots = openai("responses", body)
    assert "https://dmcp-server.deno.dev/sse" not in slots.segments
    assert "pubmed.ncbi.nlm.nih.gov" not in slots.segments
    assert {"headers", "Authorization", "Bearer x"} <= set(slots.segments)  # not named: scanned


def test_cohere_python_style_parameter_types_are_scanned_not_refused() -> None:
    tool = {
        "name": "f",
        "description": "d",
        "parameter_definitions": {"days": {"description": "d", "type": "List[str]", "required": True}},
    }
    slots = invoke("cohere", {"message": "x", "tools": [tool], "prompt_truncation": "OFF"})
    assert "List[str]" in slots.segments


def test_compatible_providers_tool_choice_and_model_names() -> None:
    openai("chat", {"model": "m", "messages": [], "tool_choice": "any"})  # Mistral's word
    for model in ("/models/Qwen2.5-7B-Instruct", "claude-3-5-sonnet@20240620", "ft:gpt-4o-mini:org::abc"):
        assert check_model(model) == model
    for model in (EMAIL, "gpt 4o", "x\ny", "a" * 300, "@20240620"):
        with pytest.raises(ProxyError):
            check_model(model)


def test_azure_managed_identity_resource_ids_start_with_a_slash() -> None:
    identity = (
        "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/mi"
    )
    source = {
        "type": "azure_search",
        "parameters": {
            "endpoint": "https://search.example.net",
            "index_name": "docs",
            "authentication": {
                "type": "user_assigned_managed_identity",
                "managed_identity_resource_id": identity,
            },
            "role_information": f"You help {EMAIL}",
        },
    }
    slots = openai("chat", {"model": "m", "messages": [], "data_sources": [source]}, azure=True)
    assert slots.segments == [f"You help {EMAIL}"]


# ---------------------------------------------------------------- JSON text that is not portable


@pytest.mark.parametrize("arguments", ['{"a": "\\ud800"}', '{"a": NaN}', "[Infinity]"])
def test_json_text_that_is_not_portable_json_is_refused(arguments: str) -> None:
    body = {
        "model": "m",
        "messages": [
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
                ],
            }
        ],
    }
    with pytest.raises(ProxyError) as caught:
        slots = openai("chat", body)
        slots.write_back(list(slots.segments), lambda v: v)
    assert caught.value.status == 400


def test_a_body_nested_too_deeply_is_a_400_not_a_crash() -> None:
    deep: Any = "x"
    for _ in range(3000):
        deep = {"k": deep}
    with pytest.raises(ProxyError) as caught:
        openai("chat", {"model": "m", "messages": [], "metadata_extra": deep})
    assert caught.value.status == 400


# ---------------------------------------------------------------- opaque tokens


def test_opaque_tokens_must_be_sealed() -> None:
    sealed = base64.b64encode(bytes(range(256)) * 4).decode()
    assert gemini(
        {"contents": [{"role": "model", "parts": [{"text": "t", "thoughtSignature": sealed}]}]}
    ).segments == ["t"]
    for token in ("Jane.Doe.078-05-1120", base64.b64encode(f"call {EMAIL} now please".encode()).decode()):
        with pytest.raises(ProxyError):
            gemini({"contents": [{"role": "model", "parts": [{"text": "t", "thoughtSignature": token}]}]})


# ---------------------------------------------------------------- names beside unscannable media


def test_names_and_titles_beside_media_are_scanned() -> None:
    document = {"document": {"format": "pdf", "name": "JaneDoeContract", "source": {"bytes": "AAAA"}}}
    slots = converse({"messages": [{"role": "user", "content": [document]}]})
    assert slots.segments == ["JaneDoeContract"] and slots.unscannable == {"document"}

    part = {"type": "file", "file": {"file_data": "data:application/pdf;base64,AAAA", "filename": "jane.pdf"}}
    slots = openai("chat", {"model": "m", "messages": [{"role": "user", "content": [part]}]})
    assert slots.segments == ["jane.pdf"] and slots.unscannable == {"file"}

    inline = {"inlineData": {"mimeType": "image/png", "data": "AAAA", "displayName": "jane.png"}}
    slots = gemini({"contents": [{"parts": [inline]}]})
    assert slots.segments == ["displayName", "jane.png"] and slots.unscannable == {"image"}


def test_an_anthropic_plain_text_document_is_read_not_refused() -> None:
    block = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": f"Mail {EMAIL}"},
    }
    slots = invoke("anthropic", {"messages": [{"role": "user", "content": [block]}]})
    assert slots.segments == [f"Mail {EMAIL}"] and not slots.unscannable
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "AAAA"}}
    assert invoke("anthropic", {"messages": [{"role": "user", "content": [pdf]}]}).unscannable == {"document"}


# ---------------------------------------------------------------- model allow-lists and bodiless requests


def test_a_model_allow_list_does_not_refuse_a_listing_without_a_body() -> None:
    consent = parse_rules({"customers": {"acme": {"models": {"gemini": ["gemini-2.*"]}}}}).consent_for("acme")
    adapter = GeminiAdapter(ProviderConfig(name="gemini", allow_paths=("/v1beta/models",)), keys=None)  # type: ignore[arg-type]
    incoming = IncomingRequest(
        "GET", "/v1beta/models", MultiDictProxy(MultiDict()), "", CIMultiDictProxy(CIMultiDict())
    )
    listing = adapter.open(incoming)
    listing.parse(b"")
    assert not listing.target.carries_data
    assert decide(consent, listing.target).outcome.value == "forward"
    upload = ProviderTarget("gemini", "passthrough", "", carries_data=True)
    assert decide(consent, upload).reason == "model_not_allowed"


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize("name", ["azure-ai", "openai_x", "app-backend", "db-main", "hash"])
def test_a_provider_cannot_take_another_familys_variables(name: str) -> None:
    with pytest.raises(ConfigError):
        parse_config({"providers": {name: {"format": "openai", "base_url": "https://x.example"}}}, env={})


def test_two_providers_cannot_share_variables() -> None:
    section = {"format": "openai", "base_url": "https://x.example"}
    with pytest.raises(ConfigError, match="share"):
        parse_config({"providers": {"my-llm": section, "my_llm": section}}, env={})


def test_account_headers_of_a_dashed_provider_come_from_its_variables() -> None:
    from proxy.providers.openai import account_headers

    config = parse_config(
        {"providers": {"my-llm": {"format": "openai", "base_url": "https://x.example"}}},
        env={"CONSENTRY_MY_LLM_ORGANIZATION": "org-abc"},
    )
    assert account_headers(config.provider("my-llm")) == {"OpenAI-Organization": "org-abc"}


def test_bedrock_metadata_header_keys_are_scanned() -> None:
    from tests.test_bedrock_adapter import HAIKU, exchange

    header = json.dumps({"Jane Doe 415-555-0123": "u-1"})
    opened, _ = exchange(
        HAIKU,
        "invoke",
        {"messages": [{"role": "user", "content": "hi"}]},
        {"X-Amzn-Bedrock-Request-Metadata": header},
    )
    slots = TextSlots()
    opened.collect(slots)
    assert "Jane Doe 415-555-0123" in slots.segments and slots.identifiers
