"""TextSlots refuses text fields that are not text, and scans object keys and long integers inside
free-form JSON (tool arguments), writing them back only where detection changed them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from models.consent import Action
from proxy.detection import PresidioDetector
from proxy.errors import ProxyError
from proxy.textslots import TextSlots
from proxy.transform import Hasher, PlaceholderVault, apply_actions
from rules.loader import load_rules
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness
from tests.fakes.server import BackgroundServer, Recorder


def keep(value: str) -> str:
    return value


# --- non-text values where text is expected -----------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [{"type": "text", "text": "John Smith"}, ["John Smith"], 4111111111111111, 3.5, True],
    ids=["object", "array", "integer", "fraction", "boolean"],
)
def test_add_refuses_a_value_that_is_not_text(value: Any) -> None:
    message = {"role": "user", "content": value}
    with pytest.raises(ProxyError) as caught:
        TextSlots().add(message, "content")
    assert caught.value.status == 400
    # The refusal names the JSON type, never the value.
    assert "John" not in caught.value.message and "4111" not in caught.value.message


@pytest.mark.parametrize("value", [{"id": "john@example.com"}, 12345678, ["a"]])
def test_add_identifier_refuses_a_value_that_is_not_text(value: Any) -> None:
    with pytest.raises(ProxyError) as caught:
        TextSlots().add_identifier({"user": value}, "user")
    assert caught.value.status == 400
    assert "john" not in caught.value.message


def test_missing_keys_and_indexes_are_absent_not_errors() -> None:
    slots = TextSlots()
    slots.add({}, "content")
    slots.add([], 3)
    slots.add({"content": None}, "content")
    slots.add_identifier({}, "user")
    slots.add_identifier({"user": None}, "user")
    slots.add_json_string({}, "arguments")
    assert slots.segments == [] and slots.identifiers == []
    slots.write_back([], keep)


# --- keys and integers in tool arguments ---------------------------------------------------------


def test_keys_and_long_integers_are_segments_in_reading_order() -> None:
    call = {"arguments": '{"card": 4111111111111111, "phone": 14155552671, "John Smith": "x", "n": 12345}'}
    slots = TextSlots()
    slots.add_json_string(call, "arguments")
    # 12345 is too short to be personal data; every key and the long integers are scanned.
    assert slots.segments == ["card", "4111111111111111", "phone", "14155552671", "John Smith", "x", "n"]


def test_masked_keys_and_integers_are_written_back_in_order() -> None:
    call = {"arguments": '{"card": 4111111111111111, "phone": 14155552671, "John Smith": "x", "n": 12345}'}
    slots = TextSlots()
    slots.add_json_string(call, "arguments")
    masked = ["card", "<CREDIT_CARD_1>", "phone", "<PHONE_NUMBER_1>", "<PERSON_1>", "x", "n"]
    slots.write_back(masked, keep)
    args = json.loads(call["arguments"])
    assert list(args.items()) == [
        ("card", "<CREDIT_CARD_1>"),
        ("phone", "<PHONE_NUMBER_1>"),
        ("<PERSON_1>", "x"),
        ("n", 12345),
    ]


def test_unchanged_arguments_go_out_as_the_serialisation_of_what_was_scanned() -> None:
    # Never the original bytes: an escape or spacing the scan did not read cannot travel with it.
    raw = '{ "order" : 123456789012345678901234567890 ,\n "ok": true, "who": "nob\\u006fdy" }'
    call = {"arguments": raw}
    slots = TextSlots()
    slots.add_json_string(call, "arguments")
    slots.write_back(list(slots.segments), keep)
    assert call["arguments"] == '{"order":123456789012345678901234567890,"ok":true,"who":"nobody"}'


@pytest.mark.parametrize(
    "raw",
    ['{"to": "a@example.com", "to": ""}', '[{"x": 1, "x": 2}]', '{"a": {"b": "c", "b": "d"}}'],
)
def test_json_text_with_a_duplicate_key_is_refused(raw: str) -> None:
    # Parsers disagree on which of two values wins: the one scanned may not be the one read.
    with pytest.raises(ProxyError) as caught:
        TextSlots().add_json_string({"arguments": raw}, "arguments")
    assert caught.value.status == 400 and "a@example.com" not in caught.value.message


def test_an_unchanged_integer_stays_an_exact_number_when_others_change() -> None:
    big = 98765432109876543210987654321
    call = {"arguments": f'{{"id": {big}, "card": 4111111111111111, "small": 7, "neg": -4111111111111111}}'}
    slots = TextSlots()
    slots.add_json_string(call, "arguments")
    assert slots.segments == ["id", str(big), "card", "4111111111111111", "small", "neg", "4111111111111111"]
    slots.write_back(["id", str(big), "card", "<C_1>", "small", "neg", "<C_1>"], keep)
    assert json.loads(call["arguments"]) == {"id": big, "card": "<C_1>", "small": 7, "neg": "-<C_1>"}


def test_keys_that_collide_after_masking_keep_every_entry() -> None:
    value: dict[str, Any] = {"John": 1, "Jane": 2, "[PERSON]": 3, "other": 4}
    slots = TextSlots()
    slots.add_strings_in(value)
    assert slots.segments == ["John", "Jane", "[PERSON]", "other"]
    slots.write_back(["[PERSON]", "[PERSON]", "[PERSON]", "other"], keep)
    # The key nobody changed keeps its name; the renamed ones get numbered, in their old order.
    assert list(value.items()) == [("[PERSON]#2", 1), ("[PERSON]#3", 2), ("[PERSON]", 3), ("other", 4)]


def test_nested_keys_and_values_are_rewritten_in_place() -> None:
    tool_input: dict[str, Any] = {
        "people": {"Ada Lovelace": {"phone": 14155552671}},
        "ids": [4111111111111111],
    }
    inner = tool_input["people"]
    slots = TextSlots()
    slots.add_strings_in(tool_input)
    assert slots.segments == ["people", "Ada Lovelace", "phone", "14155552671", "ids", "4111111111111111"]
    slots.write_back(["people", "<P_1>", "phone", "<PH_1>", "ids", "<C_1>"], keep)
    assert tool_input == {"people": {"<P_1>": {"phone": "<PH_1>"}}, "ids": ["<C_1>"]}
    assert tool_input["people"] is inner  # renamed in place: other references see the change


def test_arguments_given_as_an_object_are_scanned_in_place() -> None:
    # Some APIs (Mistral's, say) accept tool arguments as a JSON object as well as a string.
    function = {"name": "lookup", "arguments": {"John Smith": 4111111111111111}}
    slots = TextSlots()
    slots.add_json_string(function, "arguments")
    assert slots.segments == ["John Smith", "4111111111111111"]
    slots.write_back(["<P_1>", "<C_1>"], keep)
    assert function["arguments"] == {"<P_1>": "<C_1>"}


def test_booleans_and_short_integers_are_not_scanned() -> None:
    slots = TextSlots()
    slots.add_strings_in([True, False, 0, 99999, -99999, 12345.5, 1.5, None])
    assert slots.segments == []


def test_detected_keys_and_numbers_never_leave(detector: PresidioDetector) -> None:
    """The reviewer's case, through real detection and the transform."""
    call = {"arguments": '{"card": 4111111111111111, "phone": 14155552671, "John Smith": "x"}'}
    slots = TextSlots()
    slots.add_json_string(call, "arguments")
    consent = load_rules().consent_for("anyone")
    found = asyncio.run(detector.detect(slots.segments, consent))
    vault = PlaceholderVault(avoid="\n".join(slots.segments))
    result = apply_actions(slots.segments, found, {}, vault, Hasher(b"k" * 32), Action.MASK)
    slots.write_back(result.texts, keep)
    sent = call["arguments"]
    for secret in ("4111111111111111", "14155552671", "John Smith"):
        assert secret not in sent
    assert set(json.loads(sent).values()) >= {"x"}
    assert set(vault.by_placeholder.values()) == {"4111111111111111", "14155552671", "John Smith"}


# --- through the proxy ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, openai_upstream: BackgroundServer) -> ProxyHarness:
    return make_proxy({"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}})


@pytest.fixture()
def upstream(openai_recorder: Recorder) -> Iterator[Recorder]:
    openai_recorder.clear()
    yield openai_recorder


def sdk(proxy: ProxyHarness) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{proxy.url}/c/cust-42/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=30
    )


def test_a_text_field_holding_an_object_is_scanned_whole(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk(proxy).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi", "name": {"mail": "john.smith@example.com"}}],  # type: ignore[typeddict-item]
    )
    assert upstream.requests and b"john.smith@example.com" not in upstream.requests[-1].body


def test_a_structural_field_that_does_not_look_structural_is_refused_in_openai_shape(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    upstream.requests.clear()
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(proxy).chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "john@example.com", "content": "x"},
            ],
        )
    assert caught.value.status_code == 400
    body = caught.value.response.json()
    assert set(body) == {"error"} and "john@example.com" not in caught.value.response.text
    assert not upstream.requests


def test_tool_arguments_keys_and_numbers_are_masked_upstream(proxy: ProxyHarness, upstream: Recorder) -> None:
    arguments = '{"card": 4111111111111111, "phone": 14155552671, "John Smith": "x"}'
    sdk(proxy).chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "user", "content": "look this up"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": arguments}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ],
    )
    seen = upstream.all_bytes()
    for secret in (b"4111111111111111", b"14155552671", b"John Smith"):
        assert secret not in seen
    sent = json.loads(
        json.loads(upstream.requests[-1].body)["messages"][1]["tool_calls"][0]["function"]["arguments"]
    )
    assert list(sent.values())[-1] == "x" and len(sent) == 3
