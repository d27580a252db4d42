"""The Gemini adapter's pieces fed bytes directly: stream restore, text collection, error shape and
routes. The JSON array codec has its own tests (test_json_array_codec.py)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from proxy.errors import ProxyError, forbidden
from proxy.formats.answers import JsonAnswer, StreamAbort
from proxy.formats.gemini_answers import ArrayAnswer, SseAnswer
from proxy.providers.gemini import collect_request, gemini_error_reply, route_for
from proxy.restore import Restorer
from proxy.textslots import TextSlots

RESTORER = Restorer({"<PERSON_1>": "Jane Doe", "<EMAIL_ADDRESS_1>": "jane@example.com"})


def chunk(text: str, *, finish: bool = False, index: int = 0, thought: bool = False) -> dict[str, Any]:
    part: dict[str, Any] = {"text": text, "thought": True} if thought else {"text": text}
    candidate: dict[str, Any] = {"content": {"parts": [part], "role": "model"}, "index": index}
    if finish:
        candidate["finishReason"] = "STOP"
    return {"candidates": [candidate], "modelVersion": "m", "responseId": "r1"}


def pieces_of(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def texts(objs: list[dict[str, Any]], thought: bool = False) -> str:
    return "".join(
        p.get("text", "")
        for o in objs
        for c in o.get("candidates", [])
        for p in c.get("content", {}).get("parts", [])
        if (p.get("thought") is True) == thought
    )


def sse_objects(raw: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line[len(b"data: ") :]) for line in raw.split(b"\n") if line.startswith(b"data: ")]


# ---------------------------------------------------------------- SSE stream restore


def run_sse(objs: list[dict[str, Any]], cut: int, tail: bytes = b"") -> list[dict[str, Any]]:
    raw = b"".join(b"data: " + orjson.dumps(o) + b"\r\n\r\n" for o in objs) + tail
    answer = SseAnswer(RESTORER)
    out = b"".join(answer.feed(raw[i : i + cut]) for i in range(0, len(raw), cut)) + answer.finish()
    return sse_objects(out)


@pytest.mark.parametrize("cut", [1, 5, 64, 100_000])
def test_sse_restores_placeholders_split_across_events(cut: int) -> None:
    text = "Hi <PERSON_1>, mail <EMAIL_ADDRESS_1> now."
    pieces = pieces_of(text, 3)
    objs = [chunk(p, finish=i == len(pieces) - 1) for i, p in enumerate(pieces)]

    out = run_sse(objs, cut)

    assert texts(out) == "Hi Jane Doe, mail jane@example.com now."
    assert len(out) == len(objs), "held-back text rides in the next event; no extra events"
    assert out[-1]["candidates"][0]["finishReason"] == "STOP"
    assert all(o["responseId"] == "r1" for o in out)


def test_sse_flushes_held_text_into_the_finishing_event() -> None:
    out = run_sse([chunk("Dear <PERS"), chunk("", finish=True)], cut=1000)
    assert [texts([o]) for o in out] == ["Dear ", "<PERS"]


def test_sse_without_finish_reason_flushes_in_one_last_event_of_the_same_shape() -> None:
    out = run_sse([chunk("Dear <PERSON_1> and <PERS")], cut=7)

    assert [texts([o]) for o in out] == ["Dear Jane Doe and ", "<PERS"]
    last = out[-1]
    assert last["candidates"] == [{"content": {"parts": [{"text": "<PERS"}], "role": "model"}, "index": 0}]
    assert last["modelVersion"] == "m" and last["responseId"] == "r1"


def test_sse_in_band_error_comes_after_the_held_back_text() -> None:
    error = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    out = run_sse([chunk("Dear <PERSON_"), error], cut=4)

    assert texts(out) == "Dear <PERSON_"
    assert out[-1] == error
    assert len(out) == 3


def test_sse_candidates_and_thoughts_are_separate_streams() -> None:
    objs = [
        {
            "candidates": [
                chunk("A <PER", index=0)["candidates"][0],
                chunk("B <EMAIL_", index=1)["candidates"][0],
            ]
        },
        chunk("thinking of <PERSON", thought=True),
        {
            "candidates": [
                chunk("SON_1>.", index=0)["candidates"][0],
                chunk("ADDRESS_1>", index=1)["candidates"][0],
            ]
        },
        chunk("_1>", thought=True, finish=True),
    ]
    out = run_sse(objs, cut=9)

    def candidate_text(index: int) -> str:
        return "".join(
            p.get("text", "")
            for o in out
            for c in o.get("candidates", [])
            if c.get("index") == index
            for p in c["content"]["parts"]
            if not p.get("thought")
        )

    assert candidate_text(0) == "A Jane Doe."
    assert candidate_text(1) == "B jane@example.com"
    assert texts(out, thought=True) == "thinking of Jane Doe"


def test_sse_function_call_args_restored_whole() -> None:
    call = {"functionCall": {"name": "send", "args": {"to": "<EMAIL_ADDRESS_1>", "n": [1, "<PERSON_1>"]}}}
    obj = {"candidates": [{"content": {"parts": [call], "role": "model"}, "finishReason": "STOP"}]}

    [out] = run_sse([obj], cut=3)

    args = out["candidates"][0]["content"]["parts"][0]["functionCall"]["args"]
    assert args == {"to": "jane@example.com", "n": [1, "Jane Doe"]}


def test_sse_events_that_are_not_json_pass_unchanged() -> None:
    answer = SseAnswer(RESTORER)
    assert answer.feed(b"data: not json <PERSON_1>\n\n") == b"data: not json <PERSON_1>\n\n"


# ---------------------------------------------------------------- JSON array stream restore


def run_array(raw: bytes, cut: int) -> tuple[bytes, list[bytes]]:
    answer = ArrayAnswer(RESTORER)
    outs = [answer.feed(raw[i : i + cut]) for i in range(0, len(raw), cut)]
    outs.append(answer.finish())
    return b"".join(outs), [o for o in outs if o]


def google_array(objs: list[Any]) -> bytes:
    return b"[" + b"\n,\r\n".join(orjson.dumps(o, option=orjson.OPT_INDENT_2) for o in objs) + b"\n]"


@pytest.mark.parametrize("cut", [1, 13, 100_000])
def test_array_restores_and_relays_each_element_as_it_completes(cut: int) -> None:
    text = "Hi <PERSON_1>, mail <EMAIL_ADDRESS_1> now."
    pieces = pieces_of(text, 3)
    objs = [chunk(p, finish=i == len(pieces) - 1) for i, p in enumerate(pieces)]

    out, sent = run_array(google_array(objs), cut)

    items = json.loads(out)
    assert texts(items) == "Hi Jane Doe, mail jane@example.com now."
    assert len(items) == len(objs)
    assert b"\n,\r\n" in out, "the separators between elements are kept as sent"
    if cut < 100:
        assert len(sent) >= len(objs), "each element goes out when it completes, not at the end"


def test_array_leftover_text_becomes_a_last_element_before_the_bracket() -> None:
    out, _ = run_array(google_array([chunk("Dear <PERSON_1> <EMAIL")]), cut=5)

    items = json.loads(out)
    assert [texts([i]) for i in items] == ["Dear Jane Doe ", "<EMAIL"]
    assert out.endswith(b"}\n]"), "the extra element goes before the bytes that preceded the bracket"
    assert items[-1]["responseId"] == "r1"


def test_array_in_band_error_comes_after_the_held_back_text() -> None:
    error = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    out, _ = run_array(google_array([chunk("Dear <PERSON_"), error]), cut=3)

    items = json.loads(out)
    assert texts(items) == "Dear <PERSON_" and items[-1] == error


def test_array_cut_before_its_end_aborts_the_stream() -> None:
    answer = ArrayAnswer(RESTORER)
    answer.feed(google_array([chunk("hello")])[:-2])
    with pytest.raises(StreamAbort) as caught:
        answer.finish()
    assert caught.value.reason == "upstream_cut"


def test_array_garbage_aborts_the_stream() -> None:
    answer = ArrayAnswer(RESTORER)
    with pytest.raises(StreamAbort) as caught:
        answer.feed(b"<html>oops</html>")
    assert caught.value.reason == "invalid_upstream_stream"


# ---------------------------------------------------------------- whole answers


def test_json_answer_restores_text_and_function_args() -> None:
    answer = JsonAnswer(RESTORER)
    body = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "To <PERSON_1>"},
                        {"functionCall": {"name": "f", "args": {"arguments": "<EMAIL_ADDRESS_1>"}}},
                    ]
                }
            }
        ]
    }
    raw = orjson.dumps(body, option=orjson.OPT_INDENT_2)
    out = orjson.loads(answer.feed(raw[:10]) + answer.feed(raw[10:]) + answer.finish())
    parts = out["candidates"][0]["content"]["parts"]
    assert parts[0]["text"] == "To Jane Doe"
    # A key named "arguments" holds a plain value here, not JSON text: no JSON escaping.
    assert parts[1]["functionCall"]["args"] == {"arguments": "jane@example.com"}


def test_json_answer_not_json_is_502() -> None:
    answer = JsonAnswer(RESTORER)
    answer.feed(b"<html>")
    with pytest.raises(ProxyError) as caught:
        answer.finish()
    assert caught.value.status == 502


# ---------------------------------------------------------------- text collection


def collect(method: str, body: dict[str, Any]) -> TextSlots:
    slots = TextSlots()
    collect_request(method, body, slots)
    return slots


def test_every_text_place_in_generate_content_is_collected() -> None:
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "t1"}, {"inlineData": {"mimeType": "audio/wav", "data": "AA=="}}],
            },
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "f", "args": {"k": "t2", "nested": [{"deep": "t3"}, 4]}}},
                    {"executableCode": {"language": "PYTHON", "code": "t4"}},
                    {"codeExecutionResult": {"outcome": "OUTCOME_OK", "output": "t5"}},
                    {"text": "t6", "thought": True, "thoughtSignature": "c2ln"},
                ],
            },
            {"parts": [{"function_response": {"name": "f", "response": {"r": "t7"}}}]},
        ],
        "system_instruction": {"parts": [{"text": "t8"}]},
        "tools": [{"functionDeclarations": [{"name": "f", "description": "not user data"}]}],
        "cachedContent": "cachedContents/abc",
    }
    slots = collect("generateContent", body)
    keys = ["k", "nested", "deep", "r"]  # keys of function arguments and results are scanned too
    texts = ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "not user data"]  # descriptions too
    assert sorted(slots.segments) == sorted([*texts, *keys])
    assert slots.unscannable == {"audio"}


@pytest.mark.parametrize(
    ("part", "kind"),
    [
        ({"inlineData": {"mimeType": "image/png", "data": "AA=="}}, "image"),
        ({"inline_data": {"mime_type": "video/mp4", "data": "AA=="}}, "video"),
        ({"fileData": {"fileUri": "gs://b/f.pdf", "mimeType": "application/pdf"}}, "file"),
        ({"functionResponse": {"name": "f", "parts": [{"inlineData": {"mimeType": "image/jpeg"}}]}}, "image"),
        ({"somethingNew": {"x": "y"}}, "unknown content part"),
    ],
)
def test_unscannable_parts(part: dict[str, Any], kind: str) -> None:
    assert collect("generateContent", {"contents": [{"parts": [part]}]}).unscannable == {kind}


def test_count_tokens_and_embeddings_collect_their_text() -> None:
    count = collect(
        "countTokens",
        {
            "generateContentRequest": {
                "contents": [{"parts": [{"text": "c1"}]}],
                "systemInstruction": {"parts": [{"text": "c2"}]},
            }
        },
    )
    assert count.segments == ["c1", "c2"]
    assert collect("countTokens", {"contents": [{"parts": [{"text": "c3"}]}]}).segments == ["c3"]
    assert collect("embedContent", {"content": {"parts": [{"text": "e1"}]}, "title": "e2"}).segments == [
        "e1",
        "e2",
    ]
    batch = collect(
        "batchEmbedContents",
        {"requests": [{"content": {"parts": [{"text": "b1"}]}}, {"content": {"parts": [{"text": "b2"}]}}]},
    )
    assert batch.segments == ["b1", "b2"]


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("generateContent", {}),
        ("generateContent", {"contents": {"parts": []}}),
        ("generateContent", {"contents": [{"parts": {"text": "x"}}]}),
        ("generateContent", {"contents": [{"parts": ["x"]}]}),
        ("batchEmbedContents", {"requests": "x"}),
        ("countTokens", {"generateContentRequest": "x"}),
    ],
)
def test_malformed_bodies_are_scanned_whole(method: str, body: dict[str, Any]) -> None:
    # A body of the wrong shape is Google's to refuse; whatever text it holds is scanned first.
    slots = collect(method, body)
    assert sorted(slots.segments) == sorted(_strings(body))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("role", {"contents": [{"role": "a@b.example", "parts": []}]}),
        ("functionCall.name", {"contents": [{"parts": [{"functionCall": {"name": "x y", "args": {}}}]}]}),
        ("responseMimeType", {"contents": [], "generationConfig": {"responseMimeType": "jo@x.io"}}),
        ("safety category", {"contents": [], "safetySettings": [{"category": "x\ny"}]}),
    ],
)
def test_structural_values_that_do_not_look_structural_are_400(path: str, body: dict[str, Any]) -> None:
    with pytest.raises(ProxyError) as caught:
        collect("generateContent", body)
    assert caught.value.status == 400, path


# ---------------------------------------------------------------- error shape and routes


def test_error_reply_is_googles_shape_with_the_reason() -> None:
    reply = gemini_error_reply(
        forbidden(
            "entity_blocked",
            "personal data that may not be shared",
            reason="entity_blocked",
            entity_types=["US_SSN", "PERSON"],
        )
    )
    body = orjson.loads(reply.body)
    assert reply.status == 403
    assert body["error"]["code"] == 403 and body["error"]["status"] == "PERMISSION_DENIED"
    assert "entity_blocked" in body["error"]["message"]
    [info] = body["error"]["details"]
    assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
    assert info["reason"] == "entity_blocked" and info["metadata"] == {"entity_types": "US_SSN,PERSON"}


@pytest.mark.parametrize(
    ("status", "name"),
    [
        (400, "INVALID_ARGUMENT"),
        (401, "UNAUTHENTICATED"),
        (404, "NOT_FOUND"),
        (503, "UNAVAILABLE"),
        (504, "DEADLINE_EXCEEDED"),
    ],
)
def test_error_reply_status_names(status: int, name: str) -> None:
    body = orjson.loads(gemini_error_reply(ProxyError(status, "c", "m")).body)
    assert body["error"]["status"] == name and body["error"]["message"] == "m"


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        (
            "POST",
            "/v1/models/gemini-2.5-flash:generateContent",
            ("v1", "gemini-2.5-flash", "generateContent"),
        ),
        (
            "POST",
            "/v1alpha/models/gemini-2.0-flash-001:countTokens",
            ("v1alpha", "gemini-2.0-flash-001", "countTokens"),
        ),
        ("POST", "/v1beta/models/m:streamGenerateContent", ("v1beta", "m", "streamGenerateContent")),
        ("GET", "/v1beta/models/m:generateContent", None),
        ("POST", "/v1beta/models/m:predict", None),
        ("POST", "/v1beta/models/:generateContent", None),
        ("POST", "/v1beta/models/a/b:generateContent", None),
        ("POST", "/v1beta/models/..:generateContent", None),
        ("POST", "/v1beta/models/m%2F..:generateContent", None),
        ("POST", "/v3/models/m:generateContent", None),
    ],
)
def test_routes(method: str, path: str, expected: tuple[str, str, str] | None) -> None:
    route = route_for(method, path)
    assert (None if route is None else (route.version, route.model, route.method)) == expected
