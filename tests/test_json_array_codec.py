"""The JSON array codec: elements handed out wherever the bytes are cut, every byte exactly once,
refusals of what is not an array of objects, round trips."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.codecs.json_array import JsonArraySplitter

GOOGLE_ARRAY = (
    b'[{\n  "candidates": [{"content": {"parts": [{"text": "a ] } [ {"}]}}]\n}\n,\r\n'
    b'{\n  "candidates": [{"content": {"parts": [{"text": "q\\"uote \\\\ back"}]}}]\n}\n]'
)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_splitter_cuts_elements_wherever_the_bytes_are_cut(size: int) -> None:
    splitter = JsonArraySplitter()
    pieces = [p for i in range(0, len(GOOGLE_ARRAY), size) for p in splitter.feed(GOOGLE_ARRAY[i : i + size])]

    elements = [p.raw for p in pieces if p.kind == "element"]
    assert [json.loads(e) for e in elements] == json.loads(GOOGLE_ARRAY)
    assert b"".join(p.raw for p in pieces) == GOOGLE_ARRAY, "every byte is handed out exactly once"
    assert [p.kind for p in pieces if p.kind != "gap"] == ["element", "element", "end"]
    assert splitter.closed


def test_splitter_hands_out_an_element_as_soon_as_it_completes() -> None:
    splitter = JsonArraySplitter()
    assert [p.kind for p in splitter.feed(b'[{"a": 1}')] == ["gap", "element"]
    assert [(p.kind, p.raw) for p in splitter.feed(b"\n,\r\n")] == [("gap", b"\n,\r\n")]
    assert [p.kind for p in splitter.feed(b'{"b": "x')] == []
    assert [(p.kind, p.raw) for p in splitter.feed(b'"}')][-1] == ("element", b'{"b": "x"}')
    assert [p.kind for p in splitter.feed(b"\n]\n")] == ["end", "gap"]


def test_splitter_empty_array() -> None:
    splitter = JsonArraySplitter()
    assert [p.kind for p in splitter.feed(b"[ ]")] == ["end"]
    assert splitter.closed


@pytest.mark.parametrize(
    "raw",
    [b'{"a": 1}', b"[1, 2]", b'[{"a":1} {"b":2}]', b'[{"a":1},]', b'[,{"a":1}]', b'[{"a":1}] x'],
)
def test_splitter_refuses_what_is_not_an_array_of_objects(raw: bytes) -> None:
    splitter = JsonArraySplitter()
    with pytest.raises(ValueError):
        for byte in range(len(raw)):
            splitter.feed(raw[byte : byte + 1])


@given(
    st.lists(
        st.dictionaries(
            st.text(max_size=5), st.one_of(st.text(max_size=12), st.integers(-(2**53), 2**53)), max_size=4
        ),
        max_size=5,
    ),
    st.integers(min_value=1, max_value=9),
)
def test_splitter_round_trips_any_array_of_objects(items: list[dict[str, Any]], size: int) -> None:
    raw = b"[" + b"\n,\r\n".join(orjson.dumps(i, option=orjson.OPT_INDENT_2) for i in items) + b"\n]"
    splitter = JsonArraySplitter()
    pieces = [p for i in range(0, len(raw), size) for p in splitter.feed(raw[i : i + size])]
    assert [orjson.loads(p.raw) for p in pieces if p.kind == "element"] == items
    assert splitter.closed
