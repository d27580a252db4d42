"""Gemini (Generative Language API) request bodies: generateContent, streamGenerateContent,
countTokens, embedContent, batchEmbedContents.

Google's JSON front end takes every field by its lowerCamelCase name or by its proto name (the
SDK itself sends `inlineData.mime_type`), so every declared field is declared under both
spellings: a body must not get past the format by spelling `system_instruction`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from proxy.errors import bad_request
from proxy.formats.json_schema import json_schema
from proxy.formats.schema import (
    CHECKED,
    ID,
    LANGUAGE,
    MIME,
    MODEL,
    NAME,
    OPAQUE,
    RESOURCE,
    SCAN,
    SETTING,
    TYPE_NAME,
    Each,
    MapOf,
    Media,
    Node,
    Obj,
    Unscannable,
    collect,
)
from proxy.textslots import Container, TextSlots


def _snake(name: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), name)


def spellings(name: str) -> Iterable[str]:
    snake = _snake(name)
    return (name, snake) if snake != name else (name,)


def gobj(rest: Node = SCAN, **fields: Node) -> Obj:
    """An object of Google's API: each field under both spellings."""
    return Obj({spelling: node for name, node in fields.items() for spelling in spellings(name)}, rest)


GEMINI_SCHEMA = json_schema(spellings)
_MEDIA_KINDS = ("image", "audio", "video")


class GeminiMedia(Node):
    """`inlineData` / `fileData`: media the detector cannot read, reported by the kind its MIME
    type names; a display name beside it is scanned."""

    def walk(self, slots: TextSlots, container: Container, key: Any, value: Any) -> None:
        if value is None:
            return
        kind = "file"
        if isinstance(value, dict):
            for spelling in ("mimeType", "mime_type"):
                mime = value.get(spelling)
                family = mime.split("/", 1)[0] if isinstance(mime, str) else ""
                if family in _MEDIA_KINDS:
                    kind = family
        _MEDIA_FIELDS[kind].walk(slots, container, key, value)


_BLOB_FIELDS = {spelling: CHECKED for name in ("mimeType", "data", "fileUri") for spelling in spellings(name)}
_MEDIA_FIELDS = {kind: Media(kind, _BLOB_FIELDS) for kind in (*_MEDIA_KINDS, "file")}
MEDIA = GeminiMedia()
_UNKNOWN_PART = Unscannable("unknown content part")

_FUNCTION_RESPONSE_PART = gobj(
    _UNKNOWN_PART, inlineData=MEDIA, fileData=MEDIA, text=SCAN, thought=SETTING, thoughtSignature=OPAQUE
)
# A part is one of several members; a member this format does not know might carry data it
# cannot read, so it counts as unscannable rather than as text.
PART = gobj(
    _UNKNOWN_PART,
    text=SCAN,
    inlineData=MEDIA,
    fileData=MEDIA,
    functionCall=gobj(id=ID, name=NAME, args=SCAN),
    toolCall=gobj(id=ID, name=NAME, args=SCAN),
    functionResponse=gobj(
        id=ID,
        name=NAME,
        response=SCAN,
        parts=Each(_FUNCTION_RESPONSE_PART),
        willContinue=SETTING,
        scheduling=TYPE_NAME,
    ),
    toolResponse=gobj(id=ID, name=NAME, response=SCAN),
    executableCode=gobj(id=ID, language=TYPE_NAME, code=SCAN),
    codeExecutionResult=gobj(id=ID, outcome=TYPE_NAME, output=SCAN),
    thought=SETTING,
    thoughtSignature=OPAQUE,
    videoMetadata=gobj(fps=SETTING),  # offsets ("1.5s") are scanned like any other string
    mediaResolution=SCAN,
    partMetadata=SCAN,
    audioTranscription=SCAN,
)
CONTENT = gobj(role=TYPE_NAME, parts=Each(PART))

_FUNCTION_DECLARATION = gobj(
    name=NAME,
    description=SCAN,
    parameters=GEMINI_SCHEMA,
    parametersJsonSchema=GEMINI_SCHEMA,
    response=GEMINI_SCHEMA,
    responseJsonSchema=GEMINI_SCHEMA,
    behavior=TYPE_NAME,
)
_TOOL = gobj(functionDeclarations=Each(_FUNCTION_DECLARATION))  # search, code execution...: scanned
_TOOL_CONFIG = gobj(
    functionCallingConfig=gobj(mode=TYPE_NAME, allowedFunctionNames=Each(NAME)),
    # The caller's latitude and longitude, for grounding with Maps: personal data that is not
    # text, so it counts as unscannable content.
    retrievalConfig=gobj(latLng=Unscannable("location"), languageCode=TYPE_NAME),
)
_SAFETY_SETTING = gobj(category=TYPE_NAME, threshold=TYPE_NAME, method=TYPE_NAME)
_VOICE = gobj(prebuiltVoiceConfig=gobj(voiceName=NAME))
_SPEECH_CONFIG = gobj(
    languageCode=LANGUAGE,
    voiceConfig=_VOICE,
    # Speaker labels are the application's names for the voices in its prompt: scanned.
    multiSpeakerVoiceConfig=gobj(speakerVoiceConfigs=Each(gobj(speaker=SCAN, voiceConfig=_VOICE))),
)
_GENERATION_CONFIG = gobj(
    stopSequences=Each(SCAN),
    responseMimeType=MIME,
    responseSchema=GEMINI_SCHEMA,
    responseJsonSchema=GEMINI_SCHEMA,
    _responseJsonSchema=GEMINI_SCHEMA,
    responseModalities=Each(TYPE_NAME),
    mediaResolution=TYPE_NAME,
    thinkingConfig=gobj(includeThoughts=SETTING, thinkingBudget=SETTING, thinkingLevel=TYPE_NAME),
    speechConfig=_SPEECH_CONFIG,
    **{
        name: SETTING
        for name in (
            "candidateCount",
            "maxOutputTokens",
            "temperature",
            "topP",
            "topK",
            "seed",
            "presencePenalty",
            "frequencyPenalty",
            "responseLogprobs",
            "logprobs",
            "enableEnhancedCivicAnswers",
            "audioTimestamp",
        )
    },
)
_GENERATE_FIELDS: dict[str, Node] = {
    "model": MODEL,
    "contents": Each(CONTENT),
    "systemInstruction": CONTENT,
    "tools": Each(_TOOL),
    "toolConfig": _TOOL_CONFIG,
    "safetySettings": Each(_SAFETY_SETTING),
    "generationConfig": _GENERATION_CONFIG,
    "cachedContent": RESOURCE,
    "labels": MapOf(SCAN),
}
GENERATE = gobj(**_GENERATE_FIELDS)
COUNT_TOKENS = gobj(contents=Each(CONTENT), generateContentRequest=GENERATE)
EMBED = gobj(model=MODEL, content=CONTENT, title=SCAN, taskType=TYPE_NAME, outputDimensionality=SETTING)
BATCH_EMBED = gobj(requests=Each(EMBED))

FORMATS: dict[str, Obj] = {
    "generateContent": GENERATE,
    "streamGenerateContent": GENERATE,
    "countTokens": COUNT_TOKENS,
    "embedContent": EMBED,
    "batchEmbedContents": BATCH_EMBED,
}


def collect_request(method: str, body: dict[str, Any], slots: TextSlots) -> None:
    """Register everything in a request to `:{method}` not declared structural."""
    root = FORMATS.get(method)
    if root is None:
        raise bad_request(f"no request format for method '{method}'")
    collect(root, body, slots)
