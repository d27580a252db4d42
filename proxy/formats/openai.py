"""OpenAI request bodies: chat completions, responses, embeddings, completions.

Spoken by OpenAI, Azure OpenAI (with its `data_sources` extension) and every OpenAI-compatible
provider declared in configuration. Only the structure is declared here; see `schema` for what
happens to everything else.
"""

from __future__ import annotations

import re
from typing import Any

from proxy.errors import bad_request
from proxy.formats.json_schema import JSON_SCHEMA
from proxy.formats.schema import (
    CHECKED,
    DOMAIN,
    ENDPOINT,
    ID,
    JSON_TEXT,
    MODEL,
    NAME,
    OPAQUE,
    PSEUDONYM,
    RESOURCE,
    SCAN,
    SETTING,
    TYPE_NAME,
    WORD,
    ByKind,
    Each,
    MapOf,
    Node,
    Obj,
    Pattern,
    Unscannable,
    collect,
    enum,
    media,
    merge,
    obj,
    scan,
    settings,
    tagged,
)
from proxy.textslots import Container, TextSlots

_UNKNOWN_PART = Unscannable("unknown content part")

# ---------------------------------------------------------------- chat completions

_CHAT_PART = tagged(
    "type",
    {
        "text": obj(text=SCAN),
        "refusal": obj(refusal=SCAN),
        "image_url": obj(image_url=media("image", url=CHECKED, detail=WORD)),
        "input_audio": obj(input_audio=media("audio", data=CHECKED, format=WORD)),
        "file": obj(file=media("file", file_data=CHECKED, file_id=ID, filename=SCAN)),
    },
    _UNKNOWN_PART,
)
CHAT_CONTENT = Each(_CHAT_PART)
FUNCTION_CALL = obj(name=NAME, arguments=JSON_TEXT)
_TOOL_CALL = obj(
    id=ID,
    type=enum("function", "custom"),
    index=SETTING,
    function=FUNCTION_CALL,
    custom=obj(name=NAME, input=SCAN),
)
_MESSAGE = obj(
    role=enum("system", "developer", "user", "assistant", "tool", "function"),
    content=CHAT_CONTENT,
    name=SCAN,
    refusal=SCAN,
    tool_calls=Each(_TOOL_CALL),
    tool_call_id=ID,
    function_call=FUNCTION_CALL,
    audio=obj(id=ID),
)
_FUNCTION_DEFINITION = obj(name=NAME, description=SCAN, parameters=JSON_SCHEMA, strict=SETTING)
_CUSTOM_TOOL_FORMAT = tagged(
    "type",
    {"text": obj(), "grammar": obj(grammar=obj(definition=SCAN, syntax=WORD))},
    Obj({"type": CHECKED}),
)
_CUSTOM_TOOL = obj(name=NAME, description=SCAN, format=_CUSTOM_TOOL_FORMAT)
_CHAT_TOOL = tagged(
    "type",
    {"function": obj(function=_FUNCTION_DEFINITION), "custom": obj(custom=_CUSTOM_TOOL)},
    Obj({"type": CHECKED}),  # a tool type added later: its definition is scanned
)
_NAMED_TOOL = tagged(
    "type",
    {
        "function": obj(function=obj(name=NAME), name=NAME),
        "custom": obj(custom=obj(name=NAME), name=NAME),
        "allowed_tools": obj(allowed_tools=obj(mode=WORD, tools=Each(Obj())), mode=WORD, tools=Each(Obj())),
    },
    Obj({"type": CHECKED}),
)
# "auto", "none", "required"; OpenAI-compatible providers add their own ("any").
_TOOL_CHOICE = ByKind(WORD, _NAMED_TOOL)
_JSON_SCHEMA_FORMAT = obj(name=NAME, description=SCAN, schema=JSON_SCHEMA, strict=SETTING)
_RESPONSE_FORMAT = tagged(
    "type",
    {"text": obj(), "json_object": obj(), "json_schema": obj(json_schema=_JSON_SCHEMA_FORMAT)},
    Obj({"type": CHECKED}),
)
_METADATA = MapOf(PSEUDONYM)  # keys scanned, values pseudonymised like `user`

# Fields of chat completions and legacy completions that are numbers or booleans.
_NUMBERS = settings(
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
    "top_logprobs",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "seed",
    "temperature",
    "top_p",
    "stream",
    "store",
    "parallel_tool_calls",
    "best_of",
    "echo",
    "dimensions",
)
_IDENTIFIERS = {"user": PSEUDONYM, "safety_identifier": PSEUDONYM, "prompt_cache_key": PSEUDONYM}
_COMMON = merge(
    _NUMBERS,
    _IDENTIFIERS,
    {
        "model": MODEL,
        "metadata": _METADATA,
        "stream_options": obj(include_usage=SETTING, include_obfuscation=SETTING),
        "service_tier": WORD,
        "prompt_cache_retention": WORD,
        # Token ids to numbers: keys are digits (checked), values numbers.
        "logit_bias": MapOf(SETTING),
        "stop": Each(SCAN),
    },
)

CHAT = Obj(
    merge(
        _COMMON,
        {
            "messages": Each(_MESSAGE),
            "tools": Each(_CHAT_TOOL),
            "functions": Each(_FUNCTION_DEFINITION),
            "tool_choice": _TOOL_CHOICE,
            "function_call": enum("auto", "none", other=obj(name=NAME)),
            "response_format": _RESPONSE_FORMAT,
            "reasoning_effort": WORD,
            "verbosity": WORD,
            "modalities": Each(WORD),
            "audio": obj(voice=WORD, format=WORD),
            "prediction": tagged("type", {"content": obj(content=CHAT_CONTENT)}, Obj({"type": CHECKED})),
            "web_search_options": obj(search_context_size=WORD, user_location=SCAN),
        },
    )
)

# ---------------------------------------------------------------- responses

_INPUT_PART = tagged(
    "type",
    {
        "input_text": obj(text=SCAN),
        "output_text": obj(text=SCAN, annotations=SCAN, logprobs=SCAN),
        "text": obj(text=SCAN),
        "refusal": obj(refusal=SCAN),
        "summary_text": obj(text=SCAN),
        "reasoning_text": obj(text=SCAN),
        "input_image": obj(image_url=Unscannable("image"), file_id=Unscannable("image"), detail=WORD),
        "input_file": obj(
            file_data=Unscannable("file"),
            file_id=Unscannable("file"),
            file_url=Unscannable("file"),
            filename=SCAN,
        ),
        "input_audio": obj(input_audio=Unscannable("audio")),
    },
    _UNKNOWN_PART,
)
RESPONSES_CONTENT = Each(_INPUT_PART)
_STATUS = WORD
# A function's output: JSON text (or plain text), or a list of content parts.
_OUTPUT = ByKind(JSON_TEXT, RESPONSES_CONTENT)
_ITEM = tagged(
    "type",
    {
        "message": obj(
            role=enum("system", "developer", "user", "assistant"),
            content=RESPONSES_CONTENT,
            id=ID,
            status=_STATUS,
        ),
        "function_call": obj(id=ID, call_id=ID, name=NAME, arguments=JSON_TEXT, status=_STATUS),
        "function_call_output": obj(id=ID, call_id=ID, output=_OUTPUT, status=_STATUS),
        "custom_tool_call": obj(id=ID, call_id=ID, name=NAME, input=SCAN, status=_STATUS),
        "custom_tool_call_output": obj(id=ID, call_id=ID, output=_OUTPUT, status=_STATUS),
        # encrypted_content is the model's own reasoning, opaque to everyone.
        "reasoning": obj(
            id=ID,
            summary=RESPONSES_CONTENT,
            content=RESPONSES_CONTENT,
            encrypted_content=OPAQUE,
            status=_STATUS,
        ),
        "item_reference": obj(id=ID),
    },
    Unscannable("unknown input item"),
    default="message",
)
_WEB_SEARCH = obj(
    search_context_size=WORD,
    user_location=SCAN,  # a city, a region: personal data
    filters=obj(allowed_domains=Each(DOMAIN)),
)
_RESPONSES_TOOL = tagged(
    "type",
    {
        "function": obj(name=NAME, description=SCAN, parameters=JSON_SCHEMA, strict=SETTING),
        "custom": obj(name=NAME, description=SCAN, format=_CUSTOM_TOOL_FORMAT),
        "file_search": obj(
            vector_store_ids=Each(ID), max_num_results=SETTING, filters=SCAN, ranking_options=SCAN
        ),
        "web_search": _WEB_SEARCH,
        "web_search_preview": _WEB_SEARCH,
        "mcp": obj(
            server_label=NAME,
            server_url=ENDPOINT,
            connector_id=ID,
            allowed_tools=ByKind(SCAN, Each(NAME)),
            require_approval=ByKind(WORD, SCAN),
            # headers, authorization and server_description: scanned
        ),
    },
    Obj({"type": CHECKED}),  # web search, MCP, ... : every string in them scanned
)
_TEXT_FORMAT = tagged(
    "type",
    {
        "text": obj(),
        "json_object": obj(),
        "json_schema": obj(name=NAME, description=SCAN, schema=JSON_SCHEMA, strict=SETTING),
    },
    Obj({"type": CHECKED}),
)
RESPONSES = Obj(
    merge(
        _COMMON,
        settings("max_output_tokens", "max_tool_calls", "background"),
        {
            "input": Each(_ITEM),
            "instructions": SCAN,
            "tools": Each(_RESPONSES_TOOL),
            "tool_choice": _TOOL_CHOICE,
            "text": obj(format=_TEXT_FORMAT, verbosity=WORD),
            "reasoning": obj(effort=WORD, summary=WORD, generate_summary=WORD),
            "previous_response_id": ID,
            "conversation": ID,
            "prompt": obj(id=ID, version=WORD, variables=MapOf(RESPONSES_CONTENT)),
            "include": Each(Pattern(re.compile(r"[a-z_.]{1,64}"), "an include name")),
            "truncation": WORD,
        },
    )
)

# ---------------------------------------------------------------- embeddings and completions


class TextOrTokens(Node):
    """`input`/`prompt`: a string, a list of strings, or token ids (which cannot be read without
    the model's tokenizer, so they count as unscannable)."""

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        if isinstance(value, list) and value and all(_is_token(v) for v in value):
            slots.add_unscannable("token ids")
            return
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, list) and all(_is_token(v) for v in item):
                    slots.add_unscannable("token ids")
                else:
                    scan(slots, value, index, item)
            return
        scan(slots, container, key, value)


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


EMBEDDINGS = Obj(merge(_COMMON, {"input": TextOrTokens(), "encoding_format": WORD}))
COMPLETIONS = Obj(merge(_COMMON, {"prompt": TextOrTokens(), "suffix": SCAN}))

# ---------------------------------------------------------------- Azure's On Your Data

_AZURE_AUTH = obj(
    type=TYPE_NAME,
    key=OPAQUE,
    managed_identity_resource_id=RESOURCE,
)
_AZURE_DATA_SOURCE = obj(
    type=TYPE_NAME,
    parameters=obj(
        endpoint=ENDPOINT,
        index_name=NAME,
        semantic_configuration=NAME,
        query_type=WORD,
        authentication=_AZURE_AUTH,
        embedding_dependency=obj(
            type=TYPE_NAME,
            deployment_name=NAME,
            endpoint=ENDPOINT,
            authentication=_AZURE_AUTH,
            dimensions=SETTING,
        ),
        in_scope=SETTING,
        strictness=SETTING,
        top_n_documents=SETTING,
        max_search_queries=SETTING,
        allow_partial_result=SETTING,
        include_contexts=Each(WORD),
        role_information=SCAN,
        filter=SCAN,
        fields_mapping=SCAN,
        # anything new: scanned, key and value
    ),
)
AZURE_CHAT = Obj(merge(CHAT.fields, {"data_sources": Each(_AZURE_DATA_SOURCE)}))

FORMATS: dict[str, Obj] = {
    "chat": CHAT,
    "responses": RESPONSES,
    "embeddings": EMBEDDINGS,
    "completions": COMPLETIONS,
}
AZURE_FORMATS: dict[str, Obj] = {**FORMATS, "chat": AZURE_CHAT}
SCANNED_OPERATIONS = frozenset(FORMATS)


def collect_body(
    operation: str, body: dict[str, Any], slots: TextSlots, formats: dict[str, Obj] = FORMATS
) -> None:
    """Register everything in a request to `operation` that the format does not declare structural."""
    root = formats.get(operation)
    if root is None:
        raise bad_request(f"no request format for operation '{operation}'")
    collect(root, body, slots)
