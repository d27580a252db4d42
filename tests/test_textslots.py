"""TextSlots: registering user text in parsed bodies and writing replacements back in place."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.textslots import TextSlots


def reverse_pseudonym(value: str) -> str:
    return "anon-" + value[::-1]


def test_add_and_write_back_in_place() -> None:
    body: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": "You help John"},
            {"role": "user", "content": "Mail john@example.com"},
            {"role": "assistant", "content": ""},
            {"role": "tool", "content": None},
        ]
    }
    messages = body["messages"]
    slots = TextSlots()
    for message in messages:
        slots.add(message, "content")
    assert slots.segments == ["You help John", "Mail john@example.com"]
    slots.write_back(["You help <PERSON_1>", "Mail <EMAIL_ADDRESS_1>"], reverse_pseudonym)
    assert body["messages"] is messages  # written in place, not rebuilt
    assert [m["content"] for m in messages] == ["You help <PERSON_1>", "Mail <EMAIL_ADDRESS_1>", "", None]


def test_add_list_index() -> None:
    values: list[Any] = ["a", None, "b"]
    slots = TextSlots()
    for i in range(len(values)):
        slots.add(values, i)
    assert slots.segments == ["a", "b"]
    slots.write_back(["A", "B"], reverse_pseudonym)
    assert values == ["A", None, "B"]


def test_write_back_needs_one_text_per_segment() -> None:
    slots = TextSlots()
    slots.add({"x": "one"}, "x")
    with pytest.raises(ValueError):
        slots.write_back([], reverse_pseudonym)
    with pytest.raises(ValueError):
        slots.write_back(["a", "b"], reverse_pseudonym)


def test_add_strings_in_registers_keys_and_values() -> None:
    value: dict[str, Any] = {
        "John Smith": "lives in Paris",
        "nested": [{"name": "Ada"}, 3, True, None, ["x", ""]],
        "n": 1.5,
    }
    slots = TextSlots()
    slots.add_strings_in(value)
    assert slots.segments == ["John Smith", "lives in Paris", "nested", "name", "Ada", "x", "n"]
    slots.write_back(["<P_1>", "L", "nested", "name", "A", "X", "n"], reverse_pseudonym)
    assert value == {"<P_1>": "L", "nested": [{"name": "A"}, 3, True, None, ["X", ""]], "n": 1.5}


def test_tool_arguments_stay_valid_json_with_quotes_in_values() -> None:
    call = {"name": "lookup", "arguments": '{"name": "John", "tags": ["vip", "ny"], "n": 3, "ok": false}'}
    slots = TextSlots()
    slots.add_json_string(call, "arguments")
    assert slots.segments == ["name", "John", "tags", "vip", "ny", "n", "ok"]
    tricky = 'Jo"hn \\ <PERSON_1>\n\t}'
    slots.write_back(["name", tricky, "tags", "v'i\"p", "😀", "n", "ok"], reverse_pseudonym)
    assert isinstance(call["arguments"], str)
    assert json.loads(call["arguments"]) == {"name": tricky, "tags": ["v'i\"p", "😀"], "n": 3, "ok": False}


def test_tool_arguments_json_string_literal() -> None:
    call = {"arguments": '"call John"'}
    slots = TextSlots()
    slots.add_json_string(call, "arguments")
    assert slots.segments == ["call John"]
    slots.write_back(['call "<PERSON_1>"'], reverse_pseudonym)
    assert json.loads(call["arguments"]) == 'call "<PERSON_1>"'


@pytest.mark.parametrize("raw", ["42", "true", "null", "3.5"])
def test_tool_arguments_without_text_are_not_scanned(raw: str) -> None:
    call = {"arguments": raw}
    slots = TextSlots()
    slots.add_json_string(call, "arguments")
    assert slots.segments == []
    slots.write_back([], reverse_pseudonym)
    assert json.loads(call["arguments"]) == json.loads(raw)


@pytest.mark.parametrize("raw", ["call John now {", "{'single': 'quotes'}", "John"])
def test_non_json_arguments_are_plain_text(raw: str) -> None:
    call = {"arguments": raw}
    slots = TextSlots()
    slots.add_json_string(call, "arguments")
    assert slots.segments == [raw]
    slots.write_back(['masked "<PERSON_1>"'], reverse_pseudonym)
    assert call["arguments"] == 'masked "<PERSON_1>"'  # written as is, not JSON-encoded


@pytest.mark.parametrize("raw", ["", None, 5])
def test_empty_or_non_string_arguments_are_ignored(raw: Any) -> None:
    call = {"arguments": raw}
    slots = TextSlots()
    slots.add_json_string(call, "arguments")
    assert slots.segments == []
    slots.write_back([], reverse_pseudonym)
    assert call["arguments"] == raw


def test_tool_arguments_keep_big_integers() -> None:
    big = 123456789012345678901234567890
    call = {"arguments": f'{{"order_id": {big}, "note": "for John"}}'}
    slots = TextSlots()
    slots.add_json_string(call, "arguments")
    assert slots.segments == ["order_id", str(big), "note", "for John"]
    slots.write_back(["order_id", str(big), "note", "for <PERSON_1>"], reverse_pseudonym)
    assert json.loads(call["arguments"]) == {"order_id": big, "note": "for <PERSON_1>"}


def test_json_string_and_plain_segments_mix_in_order() -> None:
    body: dict[str, Any] = {
        "content": "hello Ada",
        "tool_calls": [{"function": {"arguments": '{"to": "Ada"}'}}],
        "after": "bye Ada",
    }
    slots = TextSlots()
    slots.add(body, "content")
    slots.add_json_string(body["tool_calls"][0]["function"], "arguments")
    slots.add(body, "after")
    assert slots.segments == ["hello Ada", "to", "Ada", "bye Ada"]
    slots.write_back(["hello <P_1>", "to", "<P_1>", "bye <P_1>"], reverse_pseudonym)
    assert body["content"] == "hello <P_1>"
    assert json.loads(body["tool_calls"][0]["function"]["arguments"]) == {"to": "<P_1>"}
    assert body["after"] == "bye <P_1>"


def test_identifiers_are_pseudonymised_not_scanned() -> None:
    body = {"user": "john@example.com", "content": "hi", "metadata": {"user_id": ""}}
    slots = TextSlots()
    slots.add(body, "content")
    slots.add_identifier(body, "user")
    slots.add_identifier(body["metadata"], "user_id")  # empty: nothing to pseudonymise
    assert slots.segments == ["hi"]
    seen: list[str] = []

    def pseudonymize(value: str) -> str:
        seen.append(value)
        return reverse_pseudonym(value)

    slots.write_back(["hi"], pseudonymize)
    assert body["user"] == "anon-moc.elpmaxe@nhoj"
    assert body["metadata"] == {"user_id": ""}
    assert seen == ["john@example.com"]


def test_unscannable_kinds_are_collected() -> None:
    slots = TextSlots()
    slots.add_unscannable("image")
    slots.add_unscannable("audio")
    slots.add_unscannable("image")
    assert slots.unscannable == {"image", "audio"}


# --- property: any JSON arguments stay valid JSON whatever is written into them ----------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


def replace_strings(value: Any, new: list[str]) -> Any:
    """Expected result: non-empty string values and keys replaced in traversal order (each key before
    its value), integers of 6+ digits replaced by the new text only where it differs."""
    if isinstance(value, str):
        return new.pop(0) if value else value
    if isinstance(value, float) and value.is_integer() and abs(value) >= 10**5:
        text = new.pop(0)  # a float with a 6+ digit integral value is scanned as that integer
        return value if text == str(abs(int(value))) else ("-" if value < 0 else "") + text
    if isinstance(value, int) and not isinstance(value, bool) and len(str(abs(value))) >= 6:
        text = new.pop(0)
        return value if text == str(abs(value)) else ("-" if value < 0 else "") + text
    if isinstance(value, list):
        return [replace_strings(v, new) for v in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = new.pop(0) if k else k
            out[key] = replace_strings(v, new)
        return out
    return value


@given(
    st.one_of(st.lists(JSON_VALUES, max_size=4), st.dictionaries(st.text(max_size=5), JSON_VALUES)), st.data()
)
@settings(max_examples=200, deadline=None)
def test_json_arguments_stay_valid_json(document: Any, data: st.DataObject) -> None:
    call = {"arguments": json.dumps(document, ensure_ascii=False)}
    slots = TextSlots()
    slots.add_json_string(call, "arguments")
    drawn = data.draw(
        st.lists(st.text(max_size=10), min_size=len(slots.segments), max_size=len(slots.segments))
    )
    # Distinct replacements, so renamed keys never collide (collisions have their own test).
    replacements = [f"{text}#{i}" for i, text in enumerate(drawn)]
    expected = replace_strings(document, list(replacements))
    slots.write_back(replacements, reverse_pseudonym)
    assert json.loads(call["arguments"]) == expected


@pytest.mark.parametrize(
    "arguments",
    ['{"note": "x \\ud800 y"}', '{"\\udfff": "key"}', '"lone \\ud83d"'],
)
def test_a_lone_surrogate_in_json_text_is_refused_before_detection(arguments: str) -> None:
    """It would fail the detector's batch (spaCy cannot encode it); it is refused as the request's
    own error, a 400, before any work."""
    from proxy.errors import ProxyError

    slots = TextSlots()
    with pytest.raises(ProxyError) as caught:
        slots.add_json_string({"arguments": arguments}, "arguments")
    assert caught.value.status == 400
    assert all(segment.isascii() for segment in slots.segments)
