"""Bad input and refused requests: the right status, OpenAI's error shape, nothing sent upstream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import aiohttp
import openai
import pytest

from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness, free_port
from tests.fakes.detectors import FailingDetector
from tests.fakes.server import BackgroundServer, Recorder

PROMPT = "Please write to Jane Doe at jane.doe@example.com about the invoice."


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, openai_upstream: BackgroundServer) -> ProxyHarness:
    return make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY, "timeout_s": 2}},
        extra={"server": {"max_body_bytes": 64 * 1024}},
    )


@pytest.fixture()
def upstream(openai_recorder: Recorder) -> Iterator[Recorder]:
    openai_recorder.clear()
    yield openai_recorder
    # every test in this module is a refusal unless it says otherwise


def client(proxy: ProxyHarness, customer: str | None = "cust-42", key: str = PROXY_KEY) -> openai.OpenAI:
    prefix = f"/c/{customer}" if customer else ""
    return openai.OpenAI(base_url=f"{proxy.url}{prefix}/openai/v1", api_key=key, max_retries=0, timeout=20)


def chat(sdk: openai.OpenAI, content: object = PROMPT, model: str = "gpt-4o-mini") -> object:
    return sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])


def error_body(exc: openai.APIStatusError) -> dict[str, object]:
    body = exc.response.json()
    assert set(body) == {"error"}
    assert {"message", "type", "param", "code"} <= set(body["error"])
    return body["error"]


@pytest.mark.parametrize(
    ("customer", "reason"),
    [
        ("cust-restricted", "consent_restricted"),
        ("cust-objected", "consent_objected"),
        ("cust-withdrawn", "consent_withdrawn"),
        ("cust-no-openai", "provider_not_allowed"),
    ],
)
def test_customer_state_or_provider_refused(
    proxy: ProxyHarness, upstream: Recorder, customer: str, reason: str
) -> None:
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(client(proxy, customer))
    error = error_body(caught.value)
    assert error["code"] == reason and error["reason"] == reason
    assert upstream.requests == []
    records = proxy.records(customer)
    assert records and records[-1].decision == "blocked" and records[-1].reason == reason
    assert proxy.metric("consentry_blocked_requests_total", provider="openai", reason=reason) >= 1


def test_block_action_names_types_never_values(proxy: ProxyHarness, upstream: Recorder) -> None:
    ssn = "536-90-4399"
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(client(proxy, "cust-block-ssn"), f"My social security number is {ssn}, name Jane Doe")
    error = error_body(caught.value)
    assert error["code"] == "entity_blocked" and "US_SSN" in error["entity_types"]
    assert ssn not in caught.value.response.text and "Jane" not in caught.value.response.text
    assert upstream.requests == []
    record = proxy.records("cust-block-ssn")[-1]
    assert record.decision == "blocked" and record.entities["US_SSN"].action == "block"


def test_missing_customer(proxy: ProxyHarness, upstream: Recorder) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        chat(client(proxy, customer=None))
    assert error_body(caught.value)["code"] == "missing_customer"
    assert upstream.requests == []


def test_invalid_customer_id(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = openai.OpenAI(
        base_url=f"{proxy.url}/openai/v1",
        api_key=PROXY_KEY,
        max_retries=0,
        default_headers={"X-Customer-Id": "jane.doe@example.com"},
    )
    with pytest.raises(openai.BadRequestError) as caught:
        chat(sdk)
    assert error_body(caught.value)["code"] == "invalid_customer"
    assert upstream.requests == []


def test_bad_proxy_key(proxy: ProxyHarness, upstream: Recorder) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        chat(client(proxy, key="not-the-right-key-at-all"))
    assert error_body(caught.value)["code"] == "invalid_api_key"
    assert upstream.requests == []


def test_unknown_path_is_404(proxy: ProxyHarness, upstream: Recorder) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(proxy).files.list()
    assert error_body(caught.value)["code"] == "not_found"
    assert upstream.requests == []


def test_unknown_provider_is_404(proxy: ProxyHarness) -> None:
    async def go() -> tuple[int, dict[str, object]]:
        async with aiohttp.ClientSession() as session, session.get(f"{proxy.url}/nowhere/v1/x") as resp:
            return resp.status, await resp.json()

    status, body = asyncio.run(go())
    assert status == 404 and body["error"]["code"] == "not_found"


async def _post(
    url: str, data: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, object], dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.post(url, data=data, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None), dict(resp.headers)


def test_malformed_json(proxy: ProxyHarness, upstream: Recorder) -> None:
    url = f"{proxy.url}/c/cust-42/openai/v1/chat/completions"
    headers = {"Authorization": f"Bearer {PROXY_KEY}", "Content-Type": "application/json"}
    for payload in (b'{"model": "m", "messages": [', b"[1, 2]", b'{"model": "m\\n", "messages": []}'):
        status, body, _ = asyncio.run(_post(url, payload, headers))
        assert status == 400, payload
        assert body["error"]["type"] == "invalid_request_error"
    assert upstream.requests == []


def test_body_too_large(proxy: ProxyHarness, upstream: Recorder) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        chat(client(proxy), "x" * (100 * 1024))
    assert caught.value.status_code == 413
    assert error_body(caught.value)["code"] == "request_too_large"
    assert upstream.requests == []


def test_images_blocked_by_default_allowed_by_rule(proxy: ProxyHarness, upstream: Recorder) -> None:
    content = [
        {"type": "text", "text": PROMPT},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    with pytest.raises(openai.PermissionDeniedError) as caught:
        chat(client(proxy), content)
    assert error_body(caught.value)["code"] == "unscannable_content"
    assert upstream.requests == []
    answer = chat(client(proxy, "cust-images-ok"), content)
    assert answer.choices[0].message.content == "Echo: " + PROMPT
    seen = upstream.all_bytes()
    assert b"Jane Doe" not in seen and b"jane.doe@example.com" not in seen


def test_upstream_errors_relayed(proxy: ProxyHarness, upstream: Recorder) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client(proxy), model="error-429")
    assert caught.value.response.json()["error"]["code"] == "rate_limit_exceeded"
    assert b"Jane Doe" not in upstream.all_bytes()


def test_upstream_timeout_is_504(proxy: ProxyHarness, upstream: Recorder) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        chat(client(proxy), model="hang")
    assert caught.value.status_code == 504
    assert error_body(caught.value)["code"] == "upstream_timeout"


def test_upstream_garbage_is_502_when_restoring(proxy: ProxyHarness, upstream: Recorder) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        chat(client(proxy), model="garbage")
    assert caught.value.status_code == 502


def test_stream_cut_by_upstream_fails_for_client(proxy: ProxyHarness, upstream: Recorder) -> None:
    stream = client(proxy).chat.completions.create(
        model="stream-cut", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    with pytest.raises(openai.APIError):
        list(stream)


def test_unreachable_upstream_is_502(make_proxy: ProxyFactory, upstream: Recorder) -> None:
    dead = make_proxy({"openai": {"base_url": f"http://127.0.0.1:{free_port()}/v1", "api_key": "k"}})
    with pytest.raises(openai.APIStatusError) as caught:
        chat(client(dead))
    assert caught.value.status_code == 502
    assert error_body(caught.value)["code"] == "upstream_unavailable"
    assert dead.records("cust-42")[-1].decision == "failed"


def test_detector_failure_fails_closed(
    make_proxy: ProxyFactory, openai_upstream: BackgroundServer, upstream: Recorder
) -> None:
    broken = make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        detector_override=FailingDetector(),
    )
    with pytest.raises(openai.InternalServerError) as caught:
        chat(client(broken))
    assert caught.value.status_code == 503
    assert error_body(caught.value)["code"] == "detection_unavailable"
    assert upstream.requests == []
    record = broken.records("cust-42")[-1]
    assert record.decision == "failed" and record.reason == "detection_failed"


def test_no_text_in_logs(proxy: ProxyHarness, upstream: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    chat(client(proxy))
    with pytest.raises(openai.PermissionDeniedError):
        chat(client(proxy, "cust-block-ssn"), "SSN 536-90-4399")
    client_side = ("openai", "httpx", "httpcore", "httpx2", "httpcore2")
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(client_side))
    assert "request id=" in logged
    for secret in ("Jane Doe", "jane.doe@example.com", "536-90-4399", PROXY_KEY, "cust-42"):
        assert secret not in logged
    metrics = proxy.pipeline.metrics.render().decode()
    for secret in ("Jane Doe", "jane.doe", "cust-42", "cust-block-ssn"):
        assert secret not in metrics


def test_passthrough_mode_forwards_callers_key(
    make_proxy: ProxyFactory, openai_upstream: BackgroundServer, upstream: Recorder
) -> None:
    proxy = make_proxy({"openai": {"base_url": openai_upstream.url + "/v1", "auth_mode": "passthrough"}})
    sdk = openai.OpenAI(
        base_url=f"{proxy.url}/c/cust-42/openai/v1",
        api_key=OPENAI_UPSTREAM_KEY,
        max_retries=0,
        default_headers={"X-Consentry-Key": PROXY_KEY},
    )
    answer = chat(sdk)
    assert answer.choices[0].message.content == "Echo: " + PROMPT
    sent = upstream.requests[-1]
    assert sent.headers["Authorization"] == f"Bearer {OPENAI_UPSTREAM_KEY}"
    assert PROXY_KEY not in json.dumps(sent.headers)
    assert b"Jane Doe" not in sent.body


def test_no_upstream_key_configured_is_502_and_nothing_sent(
    make_proxy: ProxyFactory, openai_upstream: BackgroundServer, upstream: Recorder
) -> None:
    unconfigured = make_proxy({"openai": {"base_url": openai_upstream.url + "/v1"}})
    with pytest.raises(openai.APIStatusError) as caught:
        chat(client(unconfigured))
    assert caught.value.status_code == 502
    assert error_body(caught.value)["code"] == "upstream_not_configured"
    assert upstream.requests == []


def test_consent_withdrawal_applies_without_restart(
    make_proxy: ProxyFactory, openai_upstream: BackgroundServer, upstream: Recorder
) -> None:
    import time
    from pathlib import Path

    import yaml

    from tests.conftest import TEST_RULES

    running = make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}}
    )
    assert chat(client(running, "cust-changes-mind")).choices[0].message.content == "Echo: " + PROMPT
    rules = {
        **TEST_RULES,
        "customers": {**TEST_RULES["customers"], "cust-changes-mind": {"state": "withdrawn"}},
    }
    rules_file = Path(str(running.config.rules_path))
    staged = rules_file.with_suffix(".new")
    staged.write_text(yaml.safe_dump(rules))
    staged.replace(rules_file)  # atomic, as an operator's deploy would do it
    upstream.clear()
    deadline = time.monotonic() + 5
    while True:
        try:
            chat(client(running, "cust-changes-mind"))
        except openai.PermissionDeniedError as refused:
            assert error_body(refused)["code"] == "consent_withdrawn"
            break
        assert time.monotonic() < deadline, "the withdrawal did not apply within 5 s"
        upstream.clear()
        time.sleep(0.2)
    assert upstream.requests == []
