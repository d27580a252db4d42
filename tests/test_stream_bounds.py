"""Stream codecs stay linear and bounded whatever the provider sends, and every streaming answer
can be ended with an error event its SDK raises on.

Linearity is shown by counting work, which does not depend on the machine's speed: the bytes
each codec's searches and checksums look at stay within a small multiple of the bytes fed,
however the stream is cut. One generous timing ratio backs the SSE decoder, the one that was
quadratic: a line eight times longer must not cost more than 32 times as much CPU time (linear:
about eight, plus cache effects; quadratic, as it was: about sixty-four).
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import openai
import pytest
from botocore.eventstream import EventStreamBuffer
from openai._streaming import SSEDecoder

from proxy.codecs import eventstream, json_array
from proxy.codecs.bounds import PieceTooLarge
from proxy.codecs.eventstream import EventStreamDecoder, encode_event
from proxy.codecs.json_array import JsonArraySplitter
from proxy.codecs.sse import SseDecoder, SseEvent
from proxy.formats.answers import RelayEvents, SseAnswer, StreamAbort
from proxy.formats.gemini_answers import ArrayAnswer
from proxy.providers.bedrock import EventStreamAnswer, _CheckedFrames
from proxy.restore import Restorer

MiB = 1024 * 1024
READ = 64 * 1024  # what one network read brings, roughly
ERROR = b'{"error":{"message":"cut off","type":"upstream_error","param":null,"code":"stream_too_long"}}'


def pieces(data: bytes, size: int = READ) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def sse_line(size: int) -> bytes:
    return b"data: " + b"x" * size + b"\n\n"


def json_element(size: int) -> bytes:
    return b'[{"text":"' + b"x" * size + b'"}]'


def frame(size: int) -> bytes:
    return encode_event("chunk", b"x" * size)


# ---------------------------------------------------------------- linear time


class CountingBuffer(bytearray):
    """A decoder buffer that adds up how many bytes its searches look at."""

    scanned = 0

    def find(self, sub: Any, start: Any = 0, end: Any = None) -> int:  # type: ignore[override]
        found = super().find(sub, start, end)
        stop = found + 1 if found >= 0 else (len(self) if end is None else end)
        CountingBuffer.scanned += stop - start
        return found


@pytest.mark.parametrize("ending", [b"\n", b"\r", b"\r\n"], ids=["lf", "cr", "crlf"])
@pytest.mark.parametrize("shape", ["one huge line", "many small events"])
def test_sse_decoder_looks_at_each_byte_a_bounded_number_of_times(shape: str, ending: bytes) -> None:
    if shape == "one huge line":
        stream = b"data: " + b"x" * (4 * MiB) + ending + ending
    else:
        stream = (b'data: {"delta":"abc"}' + ending + ending) * 50_000
    decoder = SseDecoder(max_event_bytes=8 * MiB)
    decoder._buffer = CountingBuffer()  # white box: the one buffer all searches run over
    CountingBuffer.scanned = 0
    events = [e for piece in pieces(stream) for e in decoder.feed(piece)] + decoder.finish()
    assert len(events) == (1 if shape == "one huge line" else 50_000)
    # One search for CR and one for LF over each byte, and nothing more.
    assert CountingBuffer.scanned <= 2 * len(stream) + 2 * len(events)


class CountingPattern:
    """A compiled pattern whose searches add up the bytes they look at."""

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self._pattern = pattern
        self.scanned = 0

    def search(self, data: Any, pos: int = 0) -> re.Match[bytes] | None:
        found = self._pattern.search(data, pos)
        self.scanned += (found.end() if found else len(data)) - pos
        return found


@pytest.mark.parametrize("shape", ["one huge element", "many small elements"])
def test_json_array_splitter_looks_at_each_byte_once(shape: str, monkeypatch: pytest.MonkeyPatch) -> None:
    patterns = {name: CountingPattern(getattr(json_array, name)) for name in ("_STRUCTURAL", "_STRING_STOP")}
    for name, counting in patterns.items():
        monkeypatch.setattr(json_array, name, counting)
    if shape == "one huge element":
        stream = json_element(4 * MiB)
    else:
        stream = b"[" + b"\n,\r\n".join([b'{"t":"a\\"b","n":[1,{"x":2}]}'] * 50_000) + b"]"
    splitter = JsonArraySplitter(8 * MiB)
    elements = [p for piece in pieces(stream) for p in splitter.feed(piece) if p.kind == "element"]
    assert len(elements) == (1 if shape == "one huge element" else 50_000)
    assert sum(p.scanned for p in patterns.values()) <= len(stream) + len(pieces(stream))


def test_event_stream_decoder_checksums_each_byte_once(monkeypatch: pytest.MonkeyPatch) -> None:
    checked = 0

    def crc32(data: Any, value: int = 0) -> int:
        nonlocal checked
        checked += len(data)
        return zlib.crc32(data, value)

    stream = frame(16 * MiB - 1000) + frame(10) * 10_000
    reads = pieces(stream)
    monkeypatch.setattr(eventstream, "zlib", SimpleNamespace(crc32=crc32))
    decoder = EventStreamDecoder()
    assert sum(len(decoder.feed(piece)) for piece in reads) == 10_001
    # Each frame checked once whole; a frame still arriving has only its 8-byte prelude checked.
    assert checked <= len(stream) + 8 * (len(reads) + 10_001)


def cpu_seconds(run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        run()
        best = min(best, time.thread_time() - started)
    return best


def test_an_sse_line_eight_times_longer_costs_about_eight_times_more() -> None:
    def decode(size: int) -> Callable[[], object]:
        return lambda: [SseDecoder(64 * MiB).feed(piece) for piece in pieces(sse_line(size))]

    small = cpu_seconds(decode(4 * MiB))
    large = cpu_seconds(decode(32 * MiB))
    assert large <= 32 * small + 0.1, (small, large)


# ---------------------------------------------------------------- bounded memory


def test_sse_event_over_the_bound_is_refused_while_it_is_still_arriving() -> None:
    decoder = SseDecoder(max_event_bytes=MiB)
    fed = 0
    with pytest.raises(PieceTooLarge):
        for piece in pieces(b"data: " + b"x" * (64 * MiB)):
            fed += len(piece)
            decoder.feed(piece)
            assert len(decoder._buffer) <= MiB + READ
    assert fed <= MiB + READ, "refused as soon as the bound was passed"
    with pytest.raises(PieceTooLarge):
        decoder.feed(b"\n\n")  # and stays failed: the event boundary is lost


def test_sse_event_of_many_lines_counts_as_one() -> None:
    decoder = SseDecoder(max_event_bytes=1000)
    assert decoder.feed(b"data: " + b"x" * 400 + b"\n") == []
    with pytest.raises(PieceTooLarge):
        decoder.feed(b"data: " + b"x" * 400 + b"\ndata: " + b"x" * 400 + b"\n\n")


def test_sse_events_up_to_the_bound_pass_whole_in_one_read() -> None:
    event = sse_line(1000 - 8)
    assert len(event) == 1000
    assert SseDecoder(max_event_bytes=1000).feed(event * 3) == [SseEvent([("data", "x" * 992)])] * 3


def test_json_array_element_over_the_bound_is_refused_while_it_is_still_arriving() -> None:
    splitter = JsonArraySplitter(max_element_bytes=MiB)
    splitter.feed(b'[{"text":"short"}\n,\r\n')
    with pytest.raises(PieceTooLarge):
        for piece in pieces(b'{"text":"' + b"x" * (64 * MiB)):
            splitter.feed(piece)
            assert len(splitter._buf) <= MiB + READ


def test_event_stream_frame_over_the_bound_is_refused_from_its_prelude() -> None:
    decoder = EventStreamDecoder(max_message_bytes=MiB)
    big = frame(2 * MiB)
    with pytest.raises(PieceTooLarge):
        decoder.feed(big[:12])  # the prelude alone: nothing of the payload was buffered
    small = EventStreamDecoder(max_message_bytes=MiB)
    assert len(small.feed(frame(MiB - 200))) == 1


# ---------------------------------------------------------------- ending a stream with an error


def test_unmasked_sse_stream_is_relayed_byte_for_byte_in_whole_events() -> None:
    stream = b': ping\r\n\r\ndata: {"a":1}\r\n\r\nevent: x\ndata:no-space\nid: 7\n\ndata: [DONE]\n\n'
    answer = SseAnswer(RelayEvents())
    out = [answer.feed(piece) for piece in pieces(stream, 5)]
    assert b"".join(out) + answer.finish() == stream
    # Never half an event: every piece handed out ends at an event's blank line.
    assert all(not chunk or chunk.endswith((b"\n\n", b"\r\n\r\n")) for chunk in out)


@pytest.mark.parametrize("error_event", [None, "error"], ids=["chat", "responses"])
def test_openai_sdk_raises_on_the_sse_error_event(error_event: str | None) -> None:
    answer = SseAnswer(RelayEvents(), error_event=error_event)
    stream = answer.feed(b'data: {"id":"1","choices":[]}\n\n') + answer.abort(ERROR)
    events = list(SSEDecoder().iter_bytes(iter([stream])))
    assert [e.event for e in events] == [None, error_event]
    response = httpx.Response(200, content=stream, request=httpx.Request("POST", "http://proxy/v1/x"))
    sdk = openai.OpenAI(api_key="k", base_url="http://proxy/v1")
    stream_of_dicts = openai.Stream(cast_to=dict, response=response, client=sdk)
    with pytest.raises(openai.APIError) as caught:
        list(stream_of_dicts)
    assert caught.value.code == "stream_too_long"


def test_sse_event_over_the_bound_becomes_a_stream_abort() -> None:
    answer = SseAnswer(RelayEvents(), max_event_bytes=MiB)
    with pytest.raises(StreamAbort) as caught:
        for piece in pieces(sse_line(2 * MiB)):
            answer.feed(piece)
    assert caught.value.reason == "upstream_event_too_large" and caught.value.status == 502


GEMINI_CHUNK = b'{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}]}'


@pytest.mark.parametrize("restorer", [None, Restorer({"<PERSON_1>": "Jane"})], ids=["relayed", "restored"])
def test_gemini_array_closes_with_an_error_element(restorer: Restorer | None) -> None:
    answer = ArrayAnswer(restorer)
    out = answer.feed(b"[" + GEMINI_CHUNK + b"\n,\r\n" + GEMINI_CHUNK + b'\n,\r\n{"cand')
    items = json.loads(out + answer.abort(ERROR))
    assert len(items) == 3 and items[-1] == json.loads(ERROR)
    nothing_yet = ArrayAnswer(restorer)
    assert nothing_yet.feed(b"  [") == b""
    assert json.loads(nothing_yet.abort(ERROR)) == [json.loads(ERROR)]


def test_gemini_array_whitespace_flood_is_bounded() -> None:
    answer = ArrayAnswer(None, max_event_bytes=1000)
    answer.feed(b"[" + GEMINI_CHUNK)
    with pytest.raises(StreamAbort) as caught:
        answer.feed(b" " * 2000)
    assert caught.value.reason == "upstream_event_too_large"


def test_bedrock_stream_ends_with_an_exception_frame_boto3_reads() -> None:
    answer = EventStreamAnswer(_CheckedFrames(), max_event_bytes=MiB)
    out = answer.feed(frame(10)) + answer.abort(b'{"message":"the stream ran too long"}')
    buffer = EventStreamBuffer()
    buffer.add_data(out)
    messages = list(buffer)
    last = messages[-1].to_response_dict()
    assert [m.headers[":message-type"] for m in messages] == ["event", "exception"]
    assert last["headers"][":exception-type"] == "modelStreamErrorException"
    assert json.loads(last["body"]) == {"message": "the stream ran too long"}
    with pytest.raises(StreamAbort) as caught:
        EventStreamAnswer(_CheckedFrames(), max_event_bytes=MiB).feed(frame(2 * MiB))
    assert caught.value.reason == "upstream_event_too_large"
