"""AWS Bedrock request bodies: Converse / ConverseStream, and each InvokeModel family's own body
(Anthropic messages, Amazon Nova, Titan, Meta Llama, Mistral, Cohere, and their embeddings).

Field names follow botocore's bedrock-runtime service model and each model family's published
body format. A family is chosen by the model id (`model_family`); a model id this module does not
place is reported as unscannable content, so a new family is refused by default instead of leaking.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from proxy.formats.json_schema import JSON_SCHEMA
from proxy.formats.openai import _FUNCTION_DEFINITION as OPENAI_FUNCTION
from proxy.formats.schema import (
    CHECKED,
    ID,
    JSON_TEXT,
    MIME,
    NAME,
    OPAQUE,
    PSEUDONYM,
    RESOURCE,
    SCAN,
    SETTING,
    TYPE_NAME,
    VERSION,
    WORD,
    Each,
    MapOf,
    Node,
    Obj,
    Pattern,
    Tagged,
    Unscannable,
    collect,
    enum,
    media,
    obj,
    settings,
    tagged,
)
from proxy.textslots import TextSlots

_UNKNOWN_BLOCK = Unscannable("unknown content block")

# ---------------------------------------------------------------- model families

_FAMILIES: tuple[tuple[str, str], ...] = (
    ("anthropic.", "anthropic"),
    ("amazon.nova-", "nova"),
    ("amazon.titan-text", "titan"),
    ("amazon.titan-tg1", "titan"),
    ("amazon.titan-embed-text", "titan-embed"),
    ("amazon.titan-embed-g1-text", "titan-embed"),
    ("meta.llama", "llama"),
    ("mistral.", "mistral"),
    ("cohere.command", "cohere"),
    ("cohere.embed", "cohere-embed"),
)
_VENDORS = frozenset(prefix.split(".", 1)[0] for prefix, _ in _FAMILIES)
_GEOGRAPHY = re.compile(r"^[a-z]{2,6}(?:-[a-z]+)?$")


def model_family(model_id: str) -> str | None:
    """The InvokeModel body format of a model id, inference-profile id or ARN; None if unknown.

    An ARN is read by its last segment; an application inference profile or a provisioned or
    custom model ARN names no family, so its bodies count as unscannable.
    """
    name = model_id.rsplit("/", 1)[-1].lower()
    head, _, rest = name.partition(".")
    if rest and head not in _VENDORS and _GEOGRAPHY.match(head):
        name = rest  # a cross-region inference profile: "eu.", "us-gov.", "global." ...
    for prefix, family in _FAMILIES:
        if name.startswith(prefix):
            return family
    return None


# ---------------------------------------------------------------- Converse (and Nova's blocks)

# Media blocks: the payload (`source`) cannot be read; a document's name and context can.
_MEDIA = {
    "image": media("image", format=WORD, source=CHECKED),
    "video": media("video", format=WORD, source=CHECKED),
    "audio": media("audio", format=WORD, source=CHECKED),
    "document": media("document", format=WORD, source=CHECKED, name=SCAN, context=SCAN, citations=SCAN),
}
_SEARCH_RESULT = obj(
    source=SCAN, title=SCAN, content=Each(obj(text=SCAN)), citations=SCAN, cache_control=SCAN
)
_TOOL_RESULT_ITEM = Obj(
    {"text": SCAN, "json": SCAN, "searchResult": _SEARCH_RESULT, **_MEDIA},
    Unscannable("unknown tool result content"),
)
# A content block is a union: one member set. A member this module does not know might carry data
# it cannot read, so it counts as unscannable.
_CONVERSE_BLOCK = Obj(
    {
        "text": SCAN,
        **_MEDIA,
        "toolUse": obj(toolUseId=ID, name=NAME, type=TYPE_NAME, input=SCAN),
        "toolResult": obj(toolUseId=ID, content=Each(_TOOL_RESULT_ITEM), status=WORD, type=TYPE_NAME),
        "guardContent": obj(text=obj(text=SCAN, qualifiers=Each(WORD)), image=_MEDIA["image"]),
        # redactedContent is the model's own encrypted reasoning: opaque to everyone.
        "reasoningContent": obj(reasoningText=obj(text=SCAN, signature=OPAQUE), redactedContent=OPAQUE),
        "citationsContent": obj(content=Each(obj(text=SCAN))),  # citations scanned whole
        "searchResult": _SEARCH_RESULT,
        # Prompt-cache markers and tool availability changes carry no user text.
        "cachePoint": obj(type=TYPE_NAME),
    },
    _UNKNOWN_BLOCK,
)
CONVERSE_MESSAGES = Each(obj(role=enum("user", "assistant"), content=Each(_CONVERSE_BLOCK)))
_SYSTEM = Each(_CONVERSE_BLOCK)
_CONVERSE_TOOL = obj(
    toolSpec=obj(name=NAME, description=SCAN, inputSchema=obj(json=JSON_SCHEMA), strict=SETTING),
    cachePoint=obj(type=TYPE_NAME),
    systemTool=obj(name=NAME),
)
_TOOL_CONFIG = obj(
    tools=Each(_CONVERSE_TOOL),
    toolChoice=obj(auto=obj(), any=obj(), tool=obj(name=NAME)),
)
_INFERENCE_CONFIG = obj(maxTokens=SETTING, temperature=SETTING, topP=SETTING, stopSequences=Each(SCAN))
_GUARDRAIL = obj(
    guardrailIdentifier=RESOURCE,
    guardrailVersion=Pattern(re.compile(r"[A-Za-z0-9]{1,16}"), "a guardrail version"),
    trace=WORD,
    streamProcessingMode=WORD,
)
# Request metadata (body field or X-Amzn-Bedrock-Request-Metadata): keys scanned, values
# pseudonymised like end-user ids.
REQUEST_METADATA = MapOf(PSEUDONYM)
CONVERSE = obj(
    messages=CONVERSE_MESSAGES,
    system=_SYSTEM,
    toolConfig=_TOOL_CONFIG,
    inferenceConfig=_INFERENCE_CONFIG,
    guardrailConfig=_GUARDRAIL,
    promptVariables=MapOf(obj(text=SCAN)),
    requestMetadata=REQUEST_METADATA,
    # Model settings such as beta flag names (with dates in them) are scanned: a date alone is not
    # masked unless it is someone's, and a new field here must not leave unread.
    additionalModelRequestFields=obj(
        # Beta flags carry dates ("interleaved-thinking-2025-05-14") that masking would break.
        anthropic_beta=Each(VERSION),
        thinking=obj(type=WORD, budget_tokens=SETTING),
        reasoning_config=obj(type=WORD, max_reasoning_effort=WORD, budget_tokens=SETTING),
        inferenceConfig=obj(topK=SETTING),
        top_k=SETTING,
        # any other model-specific field: scanned
    ),
    additionalModelResponseFieldPaths=Each(
        Pattern(re.compile(r"[A-Za-z0-9/_.\[\]-]{1,256}"), "a JSON pointer")
    ),
    performanceConfig=obj(latency=WORD),
    serviceTier=obj(type=WORD),
    outputConfig=SCAN,
)

# ---------------------------------------------------------------- InvokeModel: Anthropic

# Tool results hold blocks of the same union: the union is closed after it is declared.
_ANTHROPIC_VARIANTS: dict[str, Node] = {}
ANTHROPIC_CONTENT = Each(Tagged("type", _ANTHROPIC_VARIANTS, _UNKNOWN_BLOCK))
_ANTHROPIC_VARIANTS.update(
    tagged(
        "type",
        {
            "text": obj(text=SCAN, cache_control=SCAN, citations=SCAN),
            "thinking": obj(thinking=SCAN, signature=OPAQUE),
            "redacted_thinking": obj(data=OPAQUE),  # the model's own encrypted reasoning
            "tool_use": obj(id=ID, name=NAME, input=SCAN, cache_control=SCAN),
            "tool_result": obj(
                tool_use_id=ID, content=ANTHROPIC_CONTENT, is_error=SETTING, cache_control=SCAN
            ),
            "search_result": _SEARCH_RESULT,
            "image": obj(source=Unscannable("image"), cache_control=SCAN),
            # A document given as plain text (or as content blocks) is read like any text; a
            # PDF (base64, URL, file) cannot be.
            "document": obj(
                source=tagged(
                    "type",
                    {"text": obj(media_type=MIME, data=SCAN), "content": obj(content=ANTHROPIC_CONTENT)},
                    Unscannable("document"),
                ),
                cache_control=SCAN,
                title=SCAN,
                context=SCAN,
                citations=SCAN,
            ),
        },
        _UNKNOWN_BLOCK,
    ).variants
)
_ANTHROPIC_TOOL = tagged(
    "type",
    {"custom": obj(name=NAME, description=SCAN, input_schema=JSON_SCHEMA, cache_control=SCAN)},
    Obj({"type": CHECKED, "name": NAME}),  # server tools (bash, web search): scanned
    default="custom",
)
ANTHROPIC = obj(
    anthropic_version=VERSION,
    anthropic_beta=Each(VERSION),
    messages=Each(obj(role=enum("user", "assistant"), content=ANTHROPIC_CONTENT)),
    system=ANTHROPIC_CONTENT,
    prompt=SCAN,  # the legacy text-completions format
    metadata=obj(user_id=PSEUDONYM),
    stop_sequences=Each(SCAN),
    tools=Each(_ANTHROPIC_TOOL),
    tool_choice=tagged(
        "type",
        {
            "auto": obj(disable_parallel_tool_use=SETTING),
            "any": obj(disable_parallel_tool_use=SETTING),
            "none": obj(),
            "tool": obj(name=NAME, disable_parallel_tool_use=SETTING),
        },
        Obj({"type": CHECKED}),
    ),
    thinking=obj(type=WORD, budget_tokens=SETTING),
    **settings("max_tokens", "max_tokens_to_sample", "temperature", "top_p", "top_k"),
)

# ---------------------------------------------------------------- InvokeModel: the others

NOVA = obj(
    schemaVersion=VERSION,
    messages=CONVERSE_MESSAGES,
    system=_SYSTEM,
    inferenceConfig=obj(
        max_new_tokens=SETTING,
        maxTokens=SETTING,
        temperature=SETTING,
        top_p=SETTING,
        topP=SETTING,
        top_k=SETTING,
        topK=SETTING,
        stopSequences=Each(SCAN),
    ),
    toolConfig=_TOOL_CONFIG,
)
TITAN = obj(
    inputText=SCAN,
    textGenerationConfig=obj(
        temperature=SETTING, topP=SETTING, maxTokenCount=SETTING, stopSequences=Each(SCAN)
    ),
)
TITAN_EMBED = obj(inputText=SCAN, dimensions=SETTING, normalize=SETTING, embeddingTypes=Each(WORD))
LLAMA = obj(prompt=SCAN, images=Unscannable("image"), **settings("temperature", "top_p", "max_gen_len"))
_MISTRAL_PART = tagged(
    "type",
    {"text": obj(text=SCAN), "image_url": obj(image_url=media("image", url=CHECKED))},
    Unscannable("unknown content part"),
)
MISTRAL = obj(
    prompt=SCAN,
    messages=Each(
        obj(
            role=enum("system", "user", "assistant", "tool"),
            content=Each(_MISTRAL_PART),
            # Arguments come as JSON text or as a JSON object; both are scanned.
            tool_calls=Each(
                obj(id=ID, type=enum("function"), index=SETTING, function=obj(name=NAME, arguments=JSON_TEXT))
            ),
            tool_call_id=ID,
            name=NAME,
            prefix=SETTING,
        )
    ),
    tools=Each(obj(type=enum("function"), function=OPENAI_FUNCTION)),
    tool_choice=enum(
        "auto", "none", "any", "required", other=obj(type=enum("function"), function=obj(name=NAME))
    ),
    response_format=obj(type=WORD),
    stop=Each(SCAN),
    **settings("max_tokens", "temperature", "top_p", "top_k", "random_seed", "safe_prompt"),
)
_COHERE_TOOL = obj(
    name=NAME,
    description=SCAN,
    # Types are Python-style ("str", "List[str]"): scanned, as every unnamed field is.
    parameter_definitions=MapOf(obj(description=SCAN, required=SETTING)),
)
COHERE = obj(
    message=SCAN,
    prompt=SCAN,
    preamble=SCAN,
    # Past turns, grounding documents and tool outputs: every string value in them.
    chat_history=SCAN,
    documents=SCAN,
    tool_results=SCAN,
    tools=Each(_COHERE_TOOL),
    stop_sequences=Each(SCAN),
    prompt_truncation=WORD,
    return_likelihoods=WORD,
    truncate=WORD,
    logit_bias=MapOf(SETTING),
    **settings(
        "search_queries_only",
        "max_tokens",
        "temperature",
        "p",
        "k",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "return_prompt",
        "raw_prompting",
        "force_single_step",
        "stream",
        "num_generations",
    ),
)
COHERE_EMBED = obj(
    texts=Each(SCAN),
    images=Unscannable("image"),
    input_type=WORD,
    truncate=WORD,
    embedding_types=Each(WORD),
)


def _anthropic(body: dict[str, Any], slots: TextSlots) -> None:
    if not isinstance(body.get("messages"), list) and not isinstance(body.get("prompt"), str):
        slots.add_unscannable("unrecognised Anthropic body")
    collect(ANTHROPIC, body, slots)


def _mistral(body: dict[str, Any], slots: TextSlots) -> None:
    if not isinstance(body.get("prompt"), str) and not isinstance(body.get("messages"), list):
        slots.add_unscannable("unrecognised Mistral body")
    collect(MISTRAL, body, slots)


def _cohere(body: dict[str, Any], slots: TextSlots) -> None:
    if not isinstance(body.get("message"), str) and not isinstance(body.get("prompt"), str):
        slots.add_unscannable("unrecognised Cohere body")
    collect(COHERE, body, slots)


def _cohere_embed(body: dict[str, Any], slots: TextSlots) -> None:
    if not isinstance(body.get("texts"), list) and "images" not in body:
        slots.add_unscannable("unrecognised Cohere Embed body")
    collect(COHERE_EMBED, body, slots)


def _single(field: str, label: str, root: Obj) -> Callable[[dict[str, Any], TextSlots], None]:
    def collect_family(body: dict[str, Any], slots: TextSlots) -> None:
        if not isinstance(body.get(field), str):
            slots.add_unscannable(f"unrecognised {label} body")
        if "images" in body:
            slots.add_unscannable("image")
        collect(root, body, slots)

    return collect_family


def _nova(body: dict[str, Any], slots: TextSlots) -> None:
    if not isinstance(body.get("messages"), list):
        slots.add_unscannable("unrecognised Amazon Nova body")
    collect(NOVA, body, slots)


INVOKE_COLLECTORS: dict[str, Callable[[dict[str, Any], TextSlots], None]] = {
    "anthropic": _anthropic,
    "nova": _nova,
    "titan": _single("inputText", "Amazon Titan", TITAN),
    "titan-embed": _single("inputText", "Amazon Titan Embeddings", TITAN_EMBED),
    "llama": _single("prompt", "Meta Llama", LLAMA),
    "mistral": _mistral,
    "cohere": _cohere,
    "cohere-embed": _cohere_embed,
}


def collect_converse(body: dict[str, Any], slots: TextSlots) -> None:
    collect(CONVERSE, body, slots)


def collect_invoke(family: str, body: dict[str, Any], slots: TextSlots) -> None:
    INVOKE_COLLECTORS[family](body, slots)
