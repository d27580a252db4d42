"""Answers are bounded: the official SDKs -> Consentry -> fake upstreams that misbehave.

A provider that goes silent mid-stream, streams forever, sends one endless line or a huge answer
costs the proxy a bounded amount of time and memory, and the caller's SDK raises the provider's
own error instead of hanging or taking a cut answer for a whole one; the sharing record says why.
A caller who leaves while the provider is silent is noticed at once: the provider's connection
is closed within a second and the record says `client_disconnected`.

Limits are configured small here (the `limits:` section, or a provider's own) so that every
case ends within a few seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import openai
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError
from google import genai
from google.genai import errors, types

from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness
from tests.fakes.bedrock_upstream import make_bedrock_app
from tests.fakes.gemini_upstream import make_gemini_app
from tests.fakes.openai_upstream import make_openai_app
from tests.fakes.server import BackgroundServer, Recorder

KiB = 1024
MiB = 1024 * KiB
IDLE_S = 1.0
MAX_STREAM_S = 2.0
PROMPT = "Please write to Jane Doe at jane.doe@example.com about the invoice."
PLAIN_PROMPT = "Say something about invoices."  # nothing to mask: the stream is relayed as it came
REQUEST_ID = "x-consentry-request-id"
GEMINI_KEY = "gm-upstream-test"
REGION = "eu-west-1"
CALLER_KEY_ID = "AKIDBOUNDEDCALLER"
CALLER_SECRET = "bounded-caller-secret-0123456789"
APPS = {
    "backend": {"key": PROXY_KEY, "aws_access_key_id": CALLER_KEY_ID, "aws_secret_access_key": CALLER_SECRET}
}
TIGHT = {
    "stream_idle_timeout_s": IDLE_S,
    "max_stream_s": MAX_STREAM_S,
    "max_answer_bytes": MiB,
    "max_event_bytes": 256 * KiB,
}


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def upstreams(recorder: Recorder) -> Iterator[dict[str, BackgroundServer]]:
    """One fake of each provider, sharing one recorder; huge answers are 2 MiB."""
    servers = {
        "openai": BackgroundServer(
            lambda: make_openai_app(recorder, api_key=OPENAI_UPSTREAM_KEY, huge_bytes=2 * MiB)
        ),
        "gemini": BackgroundServer(lambda: make_gemini_app(recorder, api_key=GEMINI_KEY, huge_bytes=2 * MiB)),
        "bedrock": BackgroundServer(lambda: make_bedrock_app(recorder, region=REGION, huge_bytes=2 * MiB)),
    }
    for server in servers.values():
        server.start()
    yield servers
    for server in servers.values():
        server.stop()


def providers(upstreams: dict[str, BackgroundServer]) -> dict[str, Any]:
    return {
        "openai": {"base_url": upstreams["openai"].url + "/v1", "api_key": OPENAI_UPSTREAM_KEY},
        "gemini": {"base_url": upstreams["gemini"].url, "api_key": GEMINI_KEY},
        "bedrock": {
            "base_url": upstreams["bedrock"].url,
            "region": REGION,
            "aws_access_key_id": "AKIDUPSTREAM",
            "aws_secret_access_key": "upstream-secret",
        },
    }


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, upstreams: dict[str, BackgroundServer]) -> ProxyHarness:
    """Small limits for every provider: 1 s of silence, 2 s of stream, 1 MiB, 256 KiB events."""
    return make_proxy(providers(upstreams), extra={"apps": APPS, "limits": TIGHT})


@pytest.fixture(scope="module")
def patient(make_proxy: ProxyFactory, upstreams: dict[str, BackgroundServer]) -> ProxyHarness:
    """Silence and duration limits far away; OpenAI answers capped at 64 KiB in its own section."""
    configured = providers(upstreams)
    configured["openai"]["limits"] = {"max_answer_bytes": 64 * KiB, "max_event_bytes": 16 * KiB}
    return make_proxy(configured, extra={"apps": APPS, "limits": {"stream_idle_timeout_s": 30}})


@pytest.fixture()
def upstream(recorder: Recorder) -> Iterator[Recorder]:
    recorder.clear()
    yield recorder


def openai_client(proxy: ProxyHarness, customer: str = "cust-42", timeout: float = 30) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{proxy.url}/c/{customer}/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=timeout
    )


def cut(proxy: ProxyHarness, reason: str, provider: str = "openai") -> float:
    return proxy.metric("consentry_answers_cut_total", provider=provider, reason=reason)


def assert_failed_with(proxy: ProxyHarness, request_id: str, reason: str) -> None:
    record = proxy.record(request_id)
    assert record is not None, "no sharing record"
    assert record.decision == "failed" and record.reason == reason
    assert record.upstream_status == 200 and record.streamed


def wait_for_disconnect(upstream: Recorder, within_s: float) -> float:
    """When the fake upstream saw its client (the proxy) hang up, waiting up to `within_s`."""
    deadline = time.monotonic() + within_s
    while not upstream.disconnects and time.monotonic() < deadline:
        time.sleep(0.01)
    assert upstream.disconnects, f"the upstream connection was still open after {within_s} s"
    return upstream.disconnects[0]


def stream_chat(proxy: ProxyHarness, model: str, prompt: str = PROMPT) -> tuple[str, str, Exception]:
    """(request id, text received, what the SDK raised) for a streamed chat completion."""
    text = ""
    with openai_client(proxy).chat.completions.with_streaming_response.create(
        model=model, messages=[{"role": "user", "content": prompt}], stream=True
    ) as response:
        request_id = response.headers[REQUEST_ID]
        with pytest.raises(openai.APIError) as caught:
            for chunk in response.parse():
                text += "".join(choice.delta.content or "" for choice in chunk.choices)
    return request_id, text, caught.value


# ---------------------------------------------------------------- OpenAI


def test_answers_within_the_limits_pass(proxy: ProxyHarness, upstream: Recorder) -> None:
    stream = openai_client(proxy).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Echo: " + PROMPT


@pytest.mark.parametrize("prompt", [PROMPT, PLAIN_PROMPT], ids=["restored", "relayed"])
def test_silent_upstream_mid_stream_ends_the_stream_after_the_idle_timeout(
    proxy: ProxyHarness, upstream: Recorder, prompt: str
) -> None:
    before = cut(proxy, "upstream_idle_timeout")
    started = time.monotonic()
    request_id, text, error = stream_chat(proxy, "stall-midstream", prompt)
    elapsed = time.monotonic() - started
    assert text == "Echo: "  # what came before the silence, then the provider's own error event
    assert isinstance(error, openai.APIError) and error.code == "upstream_idle_timeout"
    assert IDLE_S <= elapsed < IDLE_S + 3, "the idle timeout, not the 120 s read timeout"
    wait_for_disconnect(upstream, 2)  # and the provider's connection is closed
    assert_failed_with(proxy, request_id, "upstream_idle_timeout")
    assert cut(proxy, "upstream_idle_timeout") == before + 1


def test_silent_responses_stream_raises_in_the_sdk(proxy: ProxyHarness, upstream: Recorder) -> None:
    deltas = ""
    with openai_client(proxy).responses.with_streaming_response.create(
        model="stall-midstream", input=PROMPT, stream=True
    ) as response:
        with pytest.raises(openai.APIError) as caught:
            for event in response.parse():
                deltas += getattr(event, "delta", "") if event.type == "response.output_text.delta" else ""
        request_id = response.headers[REQUEST_ID]
    assert deltas == "Echo: " and caught.value.code == "upstream_idle_timeout"
    assert_failed_with(proxy, request_id, "upstream_idle_timeout")


def test_endless_stream_is_cut_at_the_longest_stream_duration(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    started = time.monotonic()
    request_id, text, error = stream_chat(proxy, "endless-stream")
    elapsed = time.monotonic() - started
    assert text.startswith("more more") and error.code == "stream_too_long"  # type: ignore[attr-defined]
    assert MAX_STREAM_S <= elapsed < MAX_STREAM_S + 3
    wait_for_disconnect(upstream, 2)
    assert_failed_with(proxy, request_id, "stream_too_long")


def test_stream_larger_than_the_answer_limit_is_cut(patient: ProxyHarness, upstream: Recorder) -> None:
    request_id, text, error = stream_chat(patient, "endless-stream")
    assert error.code == "upstream_stream_too_large"  # type: ignore[attr-defined]
    assert len(text) < 64 * KiB
    wait_for_disconnect(upstream, 2)
    assert_failed_with(patient, request_id, "upstream_stream_too_large")
    assert cut(patient, "upstream_stream_too_large") >= 1


@pytest.mark.parametrize("prompt", [PROMPT, PLAIN_PROMPT], ids=["restored", "relayed"])
def test_huge_sse_line_is_refused_as_soon_as_it_passes_the_event_limit(
    proxy: ProxyHarness, upstream: Recorder, prompt: str
) -> None:
    started = time.monotonic()
    request_id, text, error = stream_chat(proxy, "huge-line", prompt)
    assert error.code == "upstream_event_too_large" and text == ""  # type: ignore[attr-defined]
    assert time.monotonic() - started < 5
    assert_failed_with(proxy, request_id, "upstream_event_too_large")


def test_answer_larger_than_the_limit_is_502_in_openai_shape(proxy: ProxyHarness, upstream: Recorder) -> None:
    before = cut(proxy, "upstream_answer_too_large")
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client(proxy).chat.completions.create(
            model="huge-json", messages=[{"role": "user", "content": PROMPT}]
        )
    assert caught.value.status_code == 502
    body: Any = caught.value.body
    assert body["code"] == "upstream_answer_too_large"
    record = proxy.record(caught.value.response.headers[REQUEST_ID])
    assert record.decision == "failed" and record.reason == "upstream_answer_too_large"
    assert cut(proxy, "upstream_answer_too_large") == before + 1


def test_client_leaving_while_the_upstream_is_silent_closes_the_upstream_at_once(
    patient: ProxyHarness, upstream: Recorder
) -> None:
    before = patient.metric("consentry_upstream_errors_total", provider="openai", kind="upstream_timeout")
    with openai_client(patient).chat.completions.with_streaming_response.create(
        model="stall-midstream", messages=[{"role": "user", "content": PROMPT}], stream=True
    ) as response:
        request_id = response.headers[REQUEST_ID]
        chunks = response.parse()
        assert next(chunks).choices[0].delta.role == "assistant"
        time.sleep(0.3)  # the upstream has gone silent
    left = time.monotonic()  # leaving the block closed the connection
    assert wait_for_disconnect(upstream, 3) - left < 1.0
    deadline = time.monotonic() + 5
    while (record := patient.record(request_id)) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert record is not None and record.reason == "client_disconnected"
    assert record.decision == "forwarded"
    after = patient.metric("consentry_upstream_errors_total", provider="openai", kind="upstream_timeout")
    assert after == before, "the provider is not blamed"


def test_client_leaving_before_the_answer_begins_closes_the_upstream_at_once(
    patient: ProxyHarness, upstream: Recorder
) -> None:
    customer = "cust-leaves-early"
    with pytest.raises(openai.APITimeoutError):
        openai_client(patient, customer, timeout=1).chat.completions.create(
            model="hang", messages=[{"role": "user", "content": PROMPT}]
        )
    left = time.monotonic()
    assert wait_for_disconnect(upstream, 3) - left < 1.0
    deadline = time.monotonic() + 5
    while not (records := patient.records(customer)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert records[-1].reason == "client_disconnected" and records[-1].decision == "forwarded"


# ---------------------------------------------------------------- Gemini


def gemini_client(proxy: ProxyHarness) -> genai.Client:
    return genai.Client(
        api_key=PROXY_KEY,
        http_options=types.HttpOptions(
            base_url=f"{proxy.url}/c/cust-42/gemini",
            retry_options=types.HttpRetryOptions(attempts=1),
            timeout=30_000,
        ),
    )


def test_gemini_silent_stream_raises_in_the_sdk(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = gemini_client(proxy)
    received = []
    started = time.monotonic()
    with pytest.raises(errors.ServerError) as caught:
        for chunk in sdk.models.generate_content_stream(model="stall-midstream", contents=PROMPT):
            received.append(chunk.text or "")
    assert "".join(received) == "Ech" and caught.value.code == 504
    assert time.monotonic() - started < IDLE_S + 3
    assert "sent nothing" in (caught.value.message or "")
    wait_for_disconnect(upstream, 2)
    assert cut(proxy, "upstream_idle_timeout", "gemini") >= 1


def test_gemini_answer_larger_than_the_limit_is_502(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = gemini_client(proxy)
    with pytest.raises(errors.ServerError) as caught:
        sdk.models.generate_content(model="huge-json", contents=PROMPT)
    assert caught.value.code == 502 and caught.value.status == "UNAVAILABLE"
    assert caught.value.details["error"]["details"][0]["reason"] == "upstream_answer_too_large"


# ---------------------------------------------------------------- Bedrock


def bedrock_client(proxy: ProxyHarness) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=f"{proxy.url}/c/cust-42/bedrock",
        region_name=REGION,
        aws_access_key_id=CALLER_KEY_ID,
        aws_secret_access_key=CALLER_SECRET,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=30),
    )


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        ("anthropic.stall-midstream-v1:0", "upstream_idle_timeout"),
        ("anthropic.huge-frame-v1:0", "upstream_event_too_large"),
    ],
)
def test_bedrock_stream_ends_with_an_exception_boto3_raises(
    proxy: ProxyHarness, upstream: Recorder, model: str, reason: str
) -> None:
    messages = [{"role": "user", "content": [{"text": PROMPT}]}]
    response = bedrock_client(proxy).converse_stream(modelId=model, messages=messages)
    seen = []
    with pytest.raises(EventStreamError) as caught:
        for event in response["stream"]:
            seen.append(next(iter(event)))
    assert caught.value.response["Error"]["Code"] == "modelStreamErrorException"
    # The delta before the silence arrives; the huge one never does.
    assert ("contentBlockDelta" in seen) == (reason == "upstream_idle_timeout")
    request_id = response["ResponseMetadata"]["HTTPHeaders"][REQUEST_ID]
    assert_failed_with(proxy, request_id, reason)


def test_bedrock_answer_larger_than_the_limit_is_502(proxy: ProxyHarness, upstream: Recorder) -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 9, "messages": []}
    body["messages"] = [{"role": "user", "content": PROMPT}]
    with pytest.raises(ClientError) as caught:
        bedrock_client(proxy).invoke_model(modelId="anthropic.huge-json-v1:0", body=json.dumps(body))
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 502
    assert caught.value.response["Error"]["Code"] == "ServiceUnavailableException"
    assert "larger than" in caught.value.response["Error"]["Message"]
