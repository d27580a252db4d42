"""OpenAI stream restoring at the byte level: any split of the answer text into deltas, and any
split of the SSE bytes into network reads, gives the client the restored text as valid SSE."""

from __future__ import annotations

from itertools import pairwise

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.codecs.sse import SseDecoder
from proxy.formats.openai_answers import answer_transformer
from proxy.restore import Restorer

VAULT = {"<PERSON_1>": "Jane Doe", "<EMAIL_ADDRESS_1>": 'j"d@example.com', "<PERSON_2>": "Zoë <Q>"}
ANSWER = "Hi <PERSON_1>, mail <EMAIL_ADDRESS_1> and <PERSON_2>; a < b <PERSON_9> <PERSON_1>"
RESTORED = (
    ANSWER.replace("<PERSON_1>", "Jane Doe")
    .replace("<EMAIL_ADDRESS_1>", 'j"d@example.com')
    .replace("<PERSON_2>", "Zoë <Q>")
)
SSE = {"Content-Type": "text/event-stream"}


def cut(text: str, points: list[int]) -> list[str]:
    edges = sorted({p % (len(text) + 1) for p in points} | {0, len(text)})
    return [text[a:b] for a, b in pairwise(edges)]


def chat_stream(pieces: list[str]) -> bytes:
    events = [
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"role": "assistant"}}],
        }
    ]
    events += [
        {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": p}}]}
        for p in pieces
    ]
    events.append(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    )
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


def relay(operation: str, raw: bytes, reads: list[int]) -> bytes:
    transformer = answer_transformer(operation, 200, SSE, Restorer(VAULT))
    out = b"".join(transformer.feed(chunk.encode("latin-1")) for chunk in cut(raw.decode("latin-1"), reads))
    return out + transformer.finish()


def chat_text(relayed: bytes) -> str:
    decoder = SseDecoder()
    events = decoder.feed(relayed) + decoder.finish()
    assert events[-1].data == "[DONE]"
    chunks = [orjson.loads(e.data) for e in events[:-1]]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 200), max_size=12), st.lists(st.integers(0, 2000), max_size=8))
def test_chat_stream_restored_for_any_split(text_cuts: list[int], read_cuts: list[int]) -> None:
    relayed = relay("chat", chat_stream(cut(ANSWER, text_cuts)), read_cuts)
    assert chat_text(relayed) == RESTORED


def test_chat_stream_every_single_split_position() -> None:
    for i in range(len(ANSWER) + 1):
        for j in range(i, len(ANSWER) + 1, 7):
            assert chat_text(relay("chat", chat_stream(cut(ANSWER, [i, j])), [])) == RESTORED


def test_chat_stream_held_text_flushed_when_stream_ends_without_finish_reason() -> None:
    pieces = ["Hi <PERS"]  # a placeholder prefix that never completes
    raw = (
        b"data: "
        + orjson.dumps({"id": "c", "choices": [{"index": 0, "delta": {"content": pieces[0]}}]})
        + b"\n\n"
    )
    relayed = relay("chat", raw + b"data: [DONE]\n\n", [])
    assert chat_text(relayed) == "Hi <PERS"


def responses_stream(pieces: list[str]) -> bytes:
    events: list[dict[str, object]] = [{"type": "response.created", "sequence_number": 0}]
    events += [
        {
            "type": "response.output_text.delta",
            "item_id": "m1",
            "output_index": 0,
            "content_index": 0,
            "delta": p,
        }
        for p in pieces
    ]
    events.append(
        {
            "type": "response.output_text.done",
            "item_id": "m1",
            "output_index": 0,
            "content_index": 0,
            "text": ANSWER,
        }
    )
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 200), max_size=12), st.lists(st.integers(0, 2000), max_size=8))
def test_responses_stream_restored_for_any_split(text_cuts: list[int], read_cuts: list[int]) -> None:
    relayed = relay("responses", responses_stream(cut(ANSWER, text_cuts)), read_cuts)
    decoder = SseDecoder()
    events = decoder.feed(relayed) + decoder.finish()
    payloads = [orjson.loads(e.data) for e in events]
    assert all(e.event == p["type"] for e, p in zip(events, payloads, strict=True))
    deltas = "".join(p["delta"] for p in payloads if p["type"] == "response.output_text.delta")
    assert deltas == RESTORED
    assert payloads[-1]["text"] == RESTORED


def test_tool_arguments_stream_stays_valid_json() -> None:
    args = orjson.dumps({"to": "<EMAIL_ADDRESS_1>", "who": "<PERSON_2>"}).decode()
    for i in range(len(args) + 1):
        events = [
            {
                "choices": [
                    {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": part}}]}}
                ]
            }
            for part in (args[:i], args[i:])
        ]
        events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
        raw = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"
        decoder = SseDecoder()
        out = decoder.feed(relay("chat", raw, [])) + decoder.finish()
        text = "".join(
            c["function"]["arguments"]
            for e in out[:-1]
            for c in orjson.loads(e.data)["choices"][0]["delta"].get("tool_calls", [])
        )
        assert orjson.loads(text) == {"to": 'j"d@example.com', "who": "Zoë <Q>"}
