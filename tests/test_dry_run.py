"""`X-Consentry-Dry-Run: 1`: the masked upstream request is shown instead of sent - nothing
reaches the provider, no sharing record is written, credentials are not shown."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import httpx
import openai
import pytest
from botocore.config import Config as BotoConfig

from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness
from tests.fakes.server import BackgroundServer, Recorder

PROMPT = "Please write to Jane Doe at jane.doe@example.com about the invoice."


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, openai_upstream: BackgroundServer) -> ProxyHarness:
    return make_proxy({"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}})


@pytest.fixture()
def upstream(openai_recorder: Recorder) -> Iterator[Recorder]:
    openai_recorder.clear()
    yield openai_recorder


def test_dry_run_shows_the_masked_body_and_sends_nothing(proxy: ProxyHarness, upstream: Recorder) -> None:
    client = openai.OpenAI(
        base_url=f"{proxy.url}/c/cust-dry/openai/v1",
        api_key=PROXY_KEY,
        max_retries=0,
        default_headers={"X-Consentry-Dry-Run": "1"},
    )
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], user="end-user-42"
    )
    shown = raw.http_response.json()
    assert shown["dry_run"] is True and shown["provider"] == "openai" and shown["operation"] == "chat"
    assert shown["entities"] == {
        "EMAIL_ADDRESS": {"count": 1, "action": "mask"},
        "PERSON": {"count": 1, "action": "mask"},
    }
    sent = shown["upstream"]
    assert sent["method"] == "POST" and sent["url"].endswith("/v1/chat/completions")
    assert sent["headers"]["Authorization"] == "[credential]"
    assert OPENAI_UPSTREAM_KEY not in raw.http_response.text
    content = sent["body"]["messages"][0]["content"]
    assert "Jane Doe" not in content and "jane.doe@example.com" not in content
    assert "<PERSON_1>" in content and "<EMAIL_ADDRESS_1>" in content
    assert sent["body"]["user"].startswith("anon-")
    assert upstream.requests == [], "a dry run never reaches the provider"
    assert proxy.records("cust-dry") == [], "nothing was shared, so nothing is recorded"
    assert proxy.scrape("consentry_requests_total", decision="dry_run") >= 1


def test_a_refused_request_is_refused_in_a_dry_run_too(proxy: ProxyHarness, upstream: Recorder) -> None:
    reply = httpx.post(
        f"{proxy.url}/c/cust-withdrawn/openai/v1/chat/completions",
        headers={"Authorization": f"Bearer {PROXY_KEY}", "X-Consentry-Dry-Run": "1"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}]},
        timeout=30,
    )
    assert reply.status_code == 403 and "consent_withdrawn" in reply.text
    assert upstream.requests == []


def test_bedrock_dry_run_hides_the_signature(make_proxy: ProxyFactory, tmp_path: object) -> None:
    proxy = make_proxy(
        {
            "bedrock": {
                "base_url": "http://127.0.0.1:9",
                "aws_access_key_id": "AKIAEXAMPLEUPSTREAM",
                "aws_secret_access_key": "upstream-secret-value-0123456789",
            }
        },
        extra={
            "apps": {
                "backend": {
                    "key": PROXY_KEY,
                    "aws_access_key_id": "AKIACALLER000000",
                    "aws_secret_access_key": "caller-secret-0123456789",
                }
            }
        },
    )
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=f"{proxy.url}/c/cust-dry-bedrock/bedrock",
        region_name="eu-west-1",
        aws_access_key_id="AKIACALLER000000",
        aws_secret_access_key="caller-secret-0123456789",
        config=BotoConfig(retries={"max_attempts": 1}),
    )
    captured: dict[str, bytes] = {}

    def add_header(request: object, **_: object) -> None:
        request.headers["X-Consentry-Dry-Run"] = "1"  # type: ignore[attr-defined]

    def keep_body(http_response: object, **_: object) -> None:
        captured["body"] = http_response.content  # type: ignore[attr-defined]

    client.meta.events.register("before-sign.bedrock-runtime.*", add_header)
    client.meta.events.register(
        "after-call.bedrock-runtime.*", lambda http_response, **_: keep_body(http_response)
    )
    # Nothing listens on the configured upstream: a request really sent would be a 502.
    client.converse(
        modelId="anthropic.claude-3-haiku-20240307-v1:0",
        messages=[{"role": "user", "content": [{"text": PROMPT}]}],
    )
    text = captured["body"].decode()
    assert '"dry_run":true' in text
    assert "upstream-secret-value" not in text and "Jane Doe" not in text
    assert '"Authorization":"[credential]"' in text
