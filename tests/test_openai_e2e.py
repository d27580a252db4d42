"""The official openai SDK -> Consentry -> a fake OpenAI upstream, all on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import openai
import pytest

from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness
from tests.e2e_checks import (
    SEND_MAIL_TOOL,
    assert_forwarded_record,
    assert_masked_upstream,
    assert_tool_call_masked,
    tool_call_history,
)
from tests.fakes.server import BackgroundServer, Recorder

NAME = "Jane Doe"
EMAIL = "jane.doe@example.com"
PROMPT = f"Please write to {NAME} at {EMAIL} about the invoice."
SECRETS = (NAME.encode(), EMAIL.encode())


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, openai_upstream: BackgroundServer) -> ProxyHarness:
    return make_proxy({"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}})


@pytest.fixture()
def upstream(openai_recorder: Recorder) -> Iterator[Recorder]:
    openai_recorder.clear()
    yield openai_recorder


def client(proxy: ProxyHarness, customer: str = "cust-42") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{proxy.url}/c/{customer}/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=30
    )


def assert_masked(upstream: Recorder) -> bytes:
    seen = assert_masked_upstream(upstream, SECRETS)
    assert PROXY_KEY.encode() not in seen, "the proxy key must never go upstream"
    return seen


def assert_recorded(
    proxy: ProxyHarness,
    request_id: str,
    operation: str,
    streamed: bool,
    persons: int = 1,
    emails: int = 1,
    customer: str = "cust-42",
) -> None:
    record = assert_forwarded_record(
        proxy,
        request_id,
        provider="openai",
        operation=operation,
        streamed=streamed,
        secrets=SECRETS,
        customer=customer,
        persons=persons,
        emails=emails,
    )
    assert record.request_id == request_id
    assert record.entities["EMAIL_ADDRESS"].action == "mask"


@dataclass(frozen=True)
class Scraped:
    """The counters one forwarded OpenAI request must move, read from the proxy's GET /metrics."""

    requests: float
    durations: float
    persons: float
    emails: float

    @classmethod
    def read(cls, proxy: ProxyHarness, operation: str) -> Scraped:
        per_operation = {"provider": "openai", "operation": operation}
        return cls(
            requests=proxy.scrape(
                "consentry_requests_total", **per_operation, decision="forwarded", status="200"
            ),
            durations=proxy.scrape("consentry_request_duration_seconds_count", **per_operation),
            persons=proxy.scrape("consentry_entities_total", entity_type="PERSON", action="mask"),
            emails=proxy.scrape("consentry_entities_total", entity_type="EMAIL_ADDRESS", action="mask"),
        )

    def assert_moved(self, proxy: ProxyHarness, operation: str, persons: int = 1, emails: int = 1) -> None:
        after = Scraped.read(proxy, operation)
        assert after == Scraped(
            self.requests + 1, self.durations + 1, self.persons + persons, self.emails + emails
        )


def test_chat_masks_upstream_and_restores_answer(proxy: ProxyHarness, upstream: Recorder) -> None:
    before = Scraped.read(proxy, "chat")
    raw = client(proxy).chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}],
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "Echo: " + PROMPT
    assert_masked(upstream)
    assert_recorded(proxy, raw.headers["x-consentry-request-id"], "chat", streamed=False)
    before.assert_moved(proxy, "chat")


def test_chat_stream_restores_placeholders_split_across_chunks(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    before = Scraped.read(proxy, "chat")
    with client(proxy).chat.completions.with_streaming_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        request_id = response.headers["x-consentry-request-id"]
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: " + PROMPT
    assert chunks[-1].usage is not None
    assert_masked(upstream)
    # the fake sends 3-character deltas, so the client must see many chunks, not one buffered answer
    assert len(chunks) > 10
    assert_recorded(proxy, request_id, "chat", streamed=True)
    before.assert_moved(proxy, "chat")


def test_chat_tool_call_arguments_masked_and_restored(proxy: ProxyHarness, upstream: Recorder) -> None:
    tools = [SEND_MAIL_TOOL]
    messages = tool_call_history(NAME, EMAIL, PROMPT)
    before = Scraped.read(proxy, "chat")
    raw = client(proxy).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages, tools=tools
    )
    call = raw.parse().choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"echo": PROMPT}
    assert_tool_call_masked(upstream, assert_masked(upstream))
    # the name twice (tool result, prompt), the address twice (tool arguments, prompt)
    request_id = raw.headers["x-consentry-request-id"]
    assert_recorded(proxy, request_id, "chat", streamed=False, persons=2, emails=2)
    before.assert_moved(proxy, "chat", persons=2, emails=2)


def test_chat_tool_call_stream_restores_arguments(proxy: ProxyHarness, upstream: Recorder) -> None:
    tools = [{"type": "function", "function": {"name": "send_mail", "parameters": {"type": "object"}}}]
    before = Scraped.read(proxy, "chat")
    with client(proxy).chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], tools=tools, stream=True
    ) as response:
        request_id = response.headers["x-consentry-request-id"]
        args = "".join(
            c.choices[0].delta.tool_calls[0].function.arguments or ""
            for c in response.parse()
            if c.choices and c.choices[0].delta.tool_calls
        )
    assert json.loads(args) == {"echo": PROMPT}
    assert_masked(upstream)
    assert_recorded(proxy, request_id, "chat", streamed=True)
    before.assert_moved(proxy, "chat")


def test_responses_plain(proxy: ProxyHarness, upstream: Recorder) -> None:
    before = Scraped.read(proxy, "responses")
    raw = client(proxy).responses.with_raw_response.create(
        model="gpt-4.1-mini", instructions=f"You assist {NAME}.", input=PROMPT, user="end-user-77"
    )
    response = raw.parse()
    assert response.output_text == "Echo: " + PROMPT
    assert_masked(upstream)
    sent = json.loads(upstream.requests[-1].body)
    assert sent["instructions"] == "You assist <PERSON_1>."
    assert sent["user"] != "end-user-77" and sent["user"].startswith("anon-")
    assert_recorded(proxy, raw.headers["x-consentry-request-id"], "responses", streamed=False, persons=2)
    before.assert_moved(proxy, "responses", persons=2)


def test_responses_stream_events(proxy: ProxyHarness, upstream: Recorder) -> None:
    before = Scraped.read(proxy, "responses")
    with client(proxy).responses.with_streaming_response.create(
        model="gpt-4.1-mini",
        input=[{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}],
        stream=True,
    ) as response:
        request_id = response.headers["x-consentry-request-id"]
        events = list(response.parse())
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "Echo: " + PROMPT
    done = [e for e in events if e.type == "response.output_text.done"]
    assert done and done[0].text == "Echo: " + PROMPT
    completed = [e for e in events if e.type == "response.completed"]
    assert completed[0].response.output_text == "Echo: " + PROMPT
    assert_masked(upstream)
    assert_recorded(proxy, request_id, "responses", streamed=True)
    before.assert_moved(proxy, "responses")


def test_responses_stream_helper(proxy: ProxyHarness, upstream: Recorder) -> None:
    # The helper exposes no response headers: a customer of its own finds the one record.
    customer = "cust-openai-stream-helper"
    before = Scraped.read(proxy, "responses")
    with client(proxy, customer).responses.stream(model="gpt-4.1-mini", input=PROMPT) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.output_text == "Echo: " + PROMPT
    assert_masked(upstream)
    (record,) = proxy.records(customer)
    assert_recorded(proxy, record.request_id, "responses", streamed=True, customer=customer)
    before.assert_moved(proxy, "responses")


def test_embeddings_input_masked(proxy: ProxyHarness, upstream: Recorder) -> None:
    before = Scraped.read(proxy, "embeddings")
    raw = client(proxy).embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=[PROMPT, "plain"]
    )
    result = raw.parse()
    assert len(result.data) == 2 and len(result.data[0].embedding) > 0
    assert_masked(upstream)
    assert json.loads(upstream.requests[-1].body)["input"][1] == "plain"
    assert_recorded(proxy, raw.headers["x-consentry-request-id"], "embeddings", streamed=False)
    before.assert_moved(proxy, "embeddings")


def test_completions_plain(proxy: ProxyHarness, upstream: Recorder) -> None:
    before = Scraped.read(proxy, "completions")
    raw = client(proxy).completions.with_raw_response.create(model="gpt-3.5-turbo-instruct", prompt=PROMPT)
    assert raw.parse().choices[0].text == "Echo: " + PROMPT
    assert_masked(upstream)
    assert_recorded(proxy, raw.headers["x-consentry-request-id"], "completions", streamed=False)
    before.assert_moved(proxy, "completions")


def test_completions_stream(proxy: ProxyHarness, upstream: Recorder) -> None:
    before = Scraped.read(proxy, "completions")
    with client(proxy).completions.with_streaming_response.create(
        model="gpt-3.5-turbo-instruct", prompt=PROMPT, stream=True
    ) as response:
        request_id = response.headers["x-consentry-request-id"]
        text = "".join(c.choices[0].text for c in response.parse() if c.choices)
    assert text == "Echo: " + PROMPT
    assert_masked(upstream)
    assert_recorded(proxy, request_id, "completions", streamed=True)
    before.assert_moved(proxy, "completions")


def test_customer_header_instead_of_path(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = openai.OpenAI(
        base_url=f"{proxy.url}/openai/v1",
        api_key=PROXY_KEY,
        max_retries=0,
        default_headers={"X-Customer-Id": "cust-42"},
    )
    before = Scraped.read(proxy, "chat")
    raw = sdk.chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": PROMPT}]
    )
    assert raw.parse().choices[0].message.content == "Echo: " + PROMPT
    assert_masked(upstream)
    assert "x-customer-id" not in {k.lower() for k in upstream.requests[-1].headers}
    assert_recorded(proxy, raw.headers["x-consentry-request-id"], "chat", streamed=False)
    before.assert_moved(proxy, "chat")


def test_models_list_passes_through(proxy: ProxyHarness, upstream: Recorder) -> None:
    models = client(proxy).models.list()
    assert len(list(models)) >= 1
    assert upstream.requests[-1].headers["Authorization"] == f"Bearer {OPENAI_UPSTREAM_KEY}"


def test_no_pii_prompt_is_forwarded_unchanged(proxy: ProxyHarness, upstream: Recorder) -> None:
    text = "Summarise the attached report in three bullet points."
    answer = client(proxy).chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
    assert answer.choices[0].message.content == "Echo: " + text
    assert json.loads(upstream.requests[-1].body)["messages"][0]["content"] == text


def test_hash_and_redact_actions(proxy: ProxyHarness, upstream: Recorder) -> None:
    hashed = proxy.scrape("consentry_entities_total", entity_type="EMAIL_ADDRESS", action="hash")
    redacted = proxy.scrape("consentry_entities_total", entity_type="PERSON", action="redact")
    raw = client(proxy, "cust-hash").chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": PROMPT}]
    )
    answer = raw.parse()
    record = proxy.record(raw.headers["x-consentry-request-id"])
    assert record.customer_id == "cust-hash" and record.decision == "forwarded"
    assert record.entities["EMAIL_ADDRESS"].action == "hash" and record.entities["PERSON"].action == "redact"
    assert proxy.scrape("consentry_entities_total", entity_type="EMAIL_ADDRESS", action="hash") == hashed + 1
    assert proxy.scrape("consentry_entities_total", entity_type="PERSON", action="redact") == redacted + 1
    seen = upstream.all_bytes()
    assert EMAIL.encode() not in seen and NAME.encode() not in seen
    assert b"[PERSON]" in seen and b"[EMAIL_ADDRESS:" in seen
    # irreversible actions are not restored
    assert NAME not in (answer.choices[0].message.content or "")
    first = json.loads(upstream.requests[-1].body)["messages"][0]["content"]
    client(proxy, "cust-hash").chat.completions.create(
        model="m", messages=[{"role": "user", "content": PROMPT}]
    )
    assert json.loads(upstream.requests[-1].body)["messages"][0]["content"] == first, "hash must be stable"
