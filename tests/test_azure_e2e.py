"""The official openai SDK's AzureOpenAI client -> Consentry -> a fake Azure OpenAI upstream, on loopback."""

from __future__ import annotations

import copy
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from proxy.app import build_app
from proxy.auth import KeyRing
from proxy.config import ConfigError, parse_config
from proxy.detection import PresidioDetector
from proxy.providers.azure import AzureOpenAIAdapter
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, TEST_RULES, ProxyFactory, ProxyHarness
from tests.e2e_checks import (
    SEND_MAIL_TOOL,
    assert_forwarded_record,
    assert_masked_upstream,
    assert_tool_call_masked,
    forwarded_requests,
    tool_call_history,
)
from tests.fakes.server import BackgroundServer, Recorder

NAME = "Jane Doe"
EMAIL = "jane.doe@example.com"
PROMPT = f"Please write to {NAME} at {EMAIL} about the invoice."
SECRETS = (NAME.encode(), EMAIL.encode())
API_VERSION = "2024-10-21"
DEPLOYMENT = "my-gpt4o"
TOOLS = [SEND_MAIL_TOOL]

RULES: dict[str, Any] = copy.deepcopy(TEST_RULES)
RULES["customers"]["cust-approved-only"] = {"models": {"azure": ["approved-*"]}}


def azure_settings(endpoint: str) -> dict[str, Any]:
    resources = {"myres": {"endpoint": endpoint, "api_key": OPENAI_UPSTREAM_KEY}}
    return {"azure": {"resources": resources, "allow_paths": ["/openai/files"]}}


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, openai_upstream: BackgroundServer) -> ProxyHarness:
    return make_proxy(azure_settings(openai_upstream.url), rules=RULES)


@pytest.fixture()
def upstream(openai_recorder: Recorder) -> Iterator[Recorder]:
    openai_recorder.clear()
    yield openai_recorder


def client(
    proxy: ProxyHarness, customer: str = "cust-42", resource: str = "myres", **options: Any
) -> openai.AzureOpenAI:
    options.setdefault("api_key", PROXY_KEY)
    return openai.AzureOpenAI(
        azure_endpoint=f"{proxy.url}/c/{customer}/azure/{resource}",
        api_version=API_VERSION,
        max_retries=0,
        timeout=30,
        **options,
    )


def assert_masked(upstream: Recorder) -> bytes:
    seen = assert_masked_upstream(upstream, SECRETS)
    assert PROXY_KEY.encode() not in seen, "the proxy key must never go upstream"
    return seen


def assert_sent_to_azure(upstream: Recorder, path: str) -> None:
    sent = upstream.requests[-1]
    assert sent.path == path
    assert sent.query.get("api-version") == API_VERSION
    assert sent.headers.get("api-key") == OPENAI_UPSTREAM_KEY
    assert "Authorization" not in sent.headers


def assert_recorded(
    proxy: ProxyHarness,
    request_id: str,
    operation: str,
    streamed: bool,
    model: str = DEPLOYMENT,
    persons: int = 1,
) -> None:
    record = assert_forwarded_record(
        proxy,
        request_id,
        provider="azure",
        operation=operation,
        streamed=streamed,
        secrets=SECRETS,
        persons=persons,
    )
    assert record.model == model


def requests_metric(proxy: ProxyHarness, operation: str) -> float:
    return forwarded_requests(proxy, "azure", operation)


def assert_prompt_filter(extra: dict[str, Any] | None) -> None:
    assert extra is not None
    verdict = extra["prompt_filter_results"][0]["content_filter_results"]
    assert verdict["hate"] == {"filtered": False, "severity": "safe"}
    assert verdict["jailbreak"] == {"filtered": False, "detected": False}


# ---------------------------------------------------------------- operations


def test_chat_masks_upstream_restores_answer_and_keeps_content_filters(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    before = requests_metric(proxy, "chat")
    raw = client(proxy).chat.completions.with_raw_response.create(
        model=DEPLOYMENT,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}],
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "Echo: " + PROMPT
    assert_prompt_filter(answer.model_extra)
    choice_filters = (answer.choices[0].model_extra or {})["content_filter_results"]
    assert choice_filters["protected_material_text"] == {"filtered": False, "detected": False}
    assert_masked(upstream)
    assert_sent_to_azure(upstream, f"/openai/deployments/{DEPLOYMENT}/chat/completions")
    assert_recorded(proxy, raw.headers["x-consentry-request-id"], "chat", streamed=False)
    assert requests_metric(proxy, "chat") == before + 1
    assert proxy.metric("consentry_entities_total", entity_type="EMAIL_ADDRESS", action="mask") >= 1


def test_chat_stream_restores_split_placeholders_and_passes_the_filter_chunk(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    raw = client(proxy).chat.completions.with_raw_response.create(
        model=DEPLOYMENT,
        messages=[{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())
    # Azure's first event carries only the prompt filter verdict, with no choices.
    assert chunks[0].choices == []
    assert_prompt_filter(chunks[0].model_extra)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Echo: " + PROMPT
    with_text = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert all("content_filter_results" in (c.choices[0].model_extra or {}) for c in with_text)
    assert chunks[-1].usage is not None
    # 3-character deltas upstream: the client must see many chunks, not one buffered answer
    assert len(chunks) > 10
    assert_masked(upstream)
    assert_sent_to_azure(upstream, f"/openai/deployments/{DEPLOYMENT}/chat/completions")
    assert_recorded(proxy, raw.headers["x-consentry-request-id"], "chat", streamed=True)


def test_chat_tool_call_arguments_masked_and_restored(proxy: ProxyHarness, upstream: Recorder) -> None:
    messages = tool_call_history(NAME, EMAIL, PROMPT)
    answer = client(proxy).chat.completions.create(model=DEPLOYMENT, messages=messages, tools=TOOLS)
    call = answer.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"echo": PROMPT}
    assert_tool_call_masked(upstream, assert_masked(upstream))


def test_chat_tool_call_stream_restores_arguments(proxy: ProxyHarness, upstream: Recorder) -> None:
    stream = client(proxy).chat.completions.create(
        model=DEPLOYMENT, messages=[{"role": "user", "content": PROMPT}], tools=TOOLS, stream=True
    )
    args = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or ""
        for c in stream
        if c.choices and c.choices[0].delta.tool_calls
    )
    assert json.loads(args) == {"echo": PROMPT}
    assert_masked(upstream)


def test_embeddings_input_masked(proxy: ProxyHarness, upstream: Recorder) -> None:
    before = requests_metric(proxy, "embeddings")
    raw = client(proxy).embeddings.with_raw_response.create(model="my-embedder", input=[PROMPT, "plain"])
    result = raw.parse()
    assert len(result.data) == 2 and len(result.data[0].embedding) > 0
    assert_masked(upstream)
    assert_sent_to_azure(upstream, "/openai/deployments/my-embedder/embeddings")
    assert json.loads(upstream.requests[-1].body)["input"][1] == "plain"
    assert_recorded(proxy, raw.headers["x-consentry-request-id"], "embeddings", False, model="my-embedder")
    assert requests_metric(proxy, "embeddings") == before + 1


def test_completions_plain_and_stream(proxy: ProxyHarness, upstream: Recorder) -> None:
    raw = client(proxy).completions.with_raw_response.create(model="my-instruct", prompt=PROMPT)
    answer = raw.parse()
    assert answer.choices[0].text == "Echo: " + PROMPT
    assert_prompt_filter(answer.model_extra)
    assert "content_filter_results" in (answer.choices[0].model_extra or {})
    assert_masked(upstream)
    assert_sent_to_azure(upstream, "/openai/deployments/my-instruct/completions")
    assert_recorded(proxy, raw.headers["x-consentry-request-id"], "completions", False, model="my-instruct")
    upstream.clear()
    stream = client(proxy).completions.create(model="my-instruct", prompt=PROMPT, stream=True)
    assert "".join(c.choices[0].text for c in stream if c.choices) == "Echo: " + PROMPT
    assert_masked(upstream)


def test_responses_plain_goes_to_openai_responses(proxy: ProxyHarness, upstream: Recorder) -> None:
    raw = client(proxy).responses.with_raw_response.create(
        model=DEPLOYMENT, instructions=f"You assist {NAME}.", input=PROMPT, user="end-user-77"
    )
    assert raw.parse().output_text == "Echo: " + PROMPT
    assert_masked(upstream)
    assert_sent_to_azure(upstream, "/openai/responses")
    sent = json.loads(upstream.requests[-1].body)
    assert sent["instructions"] == "You assist <PERSON_1>."
    assert sent["user"] != "end-user-77" and sent["user"].startswith("anon-")
    # no deployment in the path: the body's model is the model of record
    assert_recorded(proxy, raw.headers["x-consentry-request-id"], "responses", False, persons=2)


def test_responses_stream_events(proxy: ProxyHarness, upstream: Recorder) -> None:
    events = list(
        client(proxy).responses.create(
            model=DEPLOYMENT,
            input=[{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}],
            stream=True,
        )
    )
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "Echo: " + PROMPT
    completed = [e for e in events if e.type == "response.completed"]
    assert completed[0].response.output_text == "Echo: " + PROMPT
    assert_masked(upstream)
    assert_sent_to_azure(upstream, "/openai/responses")


def test_v1_routes_with_bearer_auth(proxy: ProxyHarness, upstream: Recorder) -> None:
    # Azure's newer /openai/v1 API is reached with the plain OpenAI client and a bearer key.
    sdk = openai.OpenAI(
        base_url=f"{proxy.url}/c/cust-42/azure/myres/openai/v1", api_key=PROXY_KEY, max_retries=0
    )
    raw = sdk.chat.completions.with_raw_response.create(
        model=DEPLOYMENT, messages=[{"role": "user", "content": PROMPT}]
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "Echo: " + PROMPT
    assert_prompt_filter(answer.model_extra)
    assert_masked(upstream)
    sent = upstream.requests[-1]
    assert sent.path == "/openai/v1/chat/completions"
    assert sent.headers.get("api-key") == OPENAI_UPSTREAM_KEY and "Authorization" not in sent.headers
    assert_recorded(proxy, raw.headers["x-consentry-request-id"], "chat", streamed=False)
    assert sdk.responses.create(model=DEPLOYMENT, input=PROMPT).output_text == "Echo: " + PROMPT
    assert upstream.requests[-1].path == "/openai/v1/responses"


def test_customer_header_instead_of_path(proxy: ProxyHarness, upstream: Recorder) -> None:
    sdk = openai.AzureOpenAI(
        azure_endpoint=f"{proxy.url}/azure/myres",
        api_key=PROXY_KEY,
        api_version=API_VERSION,
        max_retries=0,
        default_headers={"X-Customer-Id": "cust-42"},
    )
    answer = sdk.chat.completions.create(model=DEPLOYMENT, messages=[{"role": "user", "content": PROMPT}])
    assert answer.choices[0].message.content == "Echo: " + PROMPT
    assert_masked(upstream)
    assert "x-customer-id" not in {k.lower() for k in upstream.requests[-1].headers}


def test_deployment_in_path_is_the_model_for_consent(proxy: ProxyHarness, upstream: Recorder) -> None:
    # The body names another model; Azure runs the deployment, so consent judges the deployment.
    approved = client(proxy, "cust-approved-only", azure_deployment="approved-gpt4o")
    raw = approved.chat.completions.with_raw_response.create(
        model="rogue-model", messages=[{"role": "user", "content": PROMPT}]
    )
    assert raw.parse().choices[0].message.content == "Echo: " + PROMPT
    assert upstream.requests[-1].path == "/openai/deployments/approved-gpt4o/chat/completions"
    assert proxy.record(raw.headers["x-consentry-request-id"]).model == "approved-gpt4o"
    upstream.clear()
    rogue = client(proxy, "cust-approved-only", azure_deployment="rogue-model")
    with pytest.raises(openai.PermissionDeniedError) as caught:
        rogue.chat.completions.create(model="approved-gpt4o", messages=[{"role": "user", "content": PROMPT}])
    assert caught.value.body["reason"] == "model_not_allowed"  # type: ignore[index]
    assert upstream.requests == []


def test_no_pii_prompt_is_forwarded_unchanged(proxy: ProxyHarness, upstream: Recorder) -> None:
    text = "Summarise the attached report in three bullet points."
    answer = client(proxy).chat.completions.create(
        model=DEPLOYMENT, messages=[{"role": "user", "content": text}]
    )
    assert answer.choices[0].message.content == "Echo: " + text
    assert json.loads(upstream.requests[-1].body)["messages"][0]["content"] == text


def test_customer_without_openai_works_on_azure(proxy: ProxyHarness, upstream: Recorder) -> None:
    answer = client(proxy, "cust-no-openai").chat.completions.create(
        model=DEPLOYMENT, messages=[{"role": "user", "content": PROMPT}]
    )
    assert answer.choices[0].message.content == "Echo: " + PROMPT
    assert_masked(upstream)
    records = proxy.records("cust-no-openai")
    assert records and records[-1].provider == "azure" and records[-1].decision == "forwarded"


def test_models_listing_is_forwarded_unscanned_and_upstream_errors_relayed(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    # The fake serves no /openai/models: its own 404 must reach the SDK as sent.
    with pytest.raises(openai.NotFoundError) as caught:
        client(proxy).models.list()
    assert "Invalid URL (GET /openai/models)" in caught.value.message
    assert_sent_to_azure(upstream, "/openai/models")
    upstream.clear()
    with pytest.raises(openai.RateLimitError) as limited:
        client(proxy).chat.completions.create(model="error-429", messages=[{"role": "user", "content": "hi"}])
    assert limited.value.code == "rate_limit_exceeded"
    assert upstream.requests[-1].path == "/openai/deployments/error-429/chat/completions"


def test_allowed_extra_path_is_forwarded_unscanned(proxy: ProxyHarness, upstream: Recorder) -> None:
    with pytest.raises(openai.NotFoundError):  # the fake has no files API; what matters is the trip
        client(proxy).files.list()
    assert_sent_to_azure(upstream, "/openai/files")
    assert upstream.requests[-1].method == "GET"


# ---------------------------------------------------------------- refusals


def test_unknown_resource_is_404_and_nothing_sent(proxy: ProxyHarness, upstream: Recorder) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(proxy, resource="otherres").chat.completions.create(
            model=DEPLOYMENT, messages=[{"role": "user", "content": PROMPT}]
        )
    assert "otherres" in caught.value.message
    assert upstream.requests == []


def test_unknown_resource_with_bad_key_does_not_reveal_resources(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(proxy, resource="otherres", api_key="wrong-key-0123456789").embeddings.create(
            model="my-embedder", input="x"
        )
    assert upstream.requests == []


def test_bad_key_is_401_and_nothing_sent(proxy: ProxyHarness, upstream: Recorder) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        client(proxy, api_key="wrong-key-0123456789").chat.completions.create(
            model=DEPLOYMENT, messages=[{"role": "user", "content": PROMPT}]
        )
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"
    sdk = openai.OpenAI(
        base_url=f"{proxy.url}/c/cust-42/azure/myres/openai/v1", api_key="nope", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError):
        sdk.responses.create(model=DEPLOYMENT, input=PROMPT)
    assert upstream.requests == []


def test_customer_not_allowing_azure_is_403_and_nothing_sent(proxy: ProxyHarness, upstream: Recorder) -> None:
    before = proxy.metric("consentry_blocked_requests_total", provider="azure", reason="provider_not_allowed")
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client(proxy, "cust-no-azure").chat.completions.create(
            model=DEPLOYMENT, messages=[{"role": "user", "content": PROMPT}]
        )
    assert caught.value.status_code == 403
    assert caught.value.body["reason"] == "provider_not_allowed"  # type: ignore[index]
    assert upstream.requests == []
    record = proxy.records("cust-no-azure")[-1]
    assert record.provider == "azure" and record.decision == "blocked"
    assert record.reason == "provider_not_allowed" and record.model == DEPLOYMENT
    assert record.upstream_status is None
    after = proxy.metric("consentry_blocked_requests_total", provider="azure", reason="provider_not_allowed")
    assert after == before + 1


def test_unscannable_content_is_403_and_nothing_sent(proxy: ProxyHarness, upstream: Recorder) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    with pytest.raises(openai.PermissionDeniedError) as caught:
        client(proxy).chat.completions.create(
            model=DEPLOYMENT,
            messages=[{"role": "user", "content": [{"type": "text", "text": PROMPT}, image]}],
        )
    assert caught.value.body["reason"] == "unscannable_content"  # type: ignore[index]
    assert upstream.requests == []


def test_operation_not_forwarded_is_404(proxy: ProxyHarness, upstream: Recorder) -> None:
    with pytest.raises(openai.NotFoundError):
        client(proxy).images.generate(model="my-dalle", prompt=PROMPT)
    assert upstream.requests == []


@pytest.mark.parametrize(
    "path",
    [
        "/c/cust-42/azure/myres/openai/deployments/%2e%2e/chat/completions",
        "/c/cust-42/azure/myres/openai/deployments/a%2Fb/chat/completions",
        "/c/cust-42/azure/myres/openai/v1/../deployments/x/chat/completions",
        "/c/cust-42/azure/myres/openai/files/../../admin",
        "/c/cust-42/azure/myres/openai/files/%2E%2E/%2e%2e/admin",
        "/c/cust-42/azure/myres/chat/completions",
        "/c/cust-42/azure/",
    ],
)
def test_paths_outside_azure_routes_are_404(proxy: ProxyHarness, upstream: Recorder, path: str) -> None:
    # http.client sends the path exactly as written; httpx would resolve the dot segments first.
    body = json.dumps({"model": "x", "messages": [{"role": "user", "content": "hi"}]})
    connection = http.client.HTTPConnection("127.0.0.1", proxy.server.port, timeout=30)
    try:
        connection.request(
            "POST",
            f"{path}?api-version={API_VERSION}",
            body=body,
            headers={"api-key": PROXY_KEY, "Content-Type": "application/json"},
        )
        reply = connection.getresponse()
        status, answer = reply.status, json.loads(reply.read())
    finally:
        connection.close()
    assert status == 404
    assert answer["error"]["type"] == "not_found_error"
    assert upstream.requests == []


# ---------------------------------------------------------------- configuration


def test_passthrough_mode_sends_the_callers_azure_key(
    make_proxy: ProxyFactory, openai_upstream: BackgroundServer, upstream: Recorder
) -> None:
    harness = make_proxy(
        {"azure": {"auth_mode": "passthrough", "resources": {"myres": {"endpoint": openai_upstream.url}}}}
    )
    sdk = client(harness, api_key=OPENAI_UPSTREAM_KEY, default_headers={"X-Consentry-Key": PROXY_KEY})
    answer = sdk.chat.completions.create(model=DEPLOYMENT, messages=[{"role": "user", "content": PROMPT}])
    assert answer.choices[0].message.content == "Echo: " + PROMPT
    assert_masked(upstream)
    assert upstream.requests[-1].headers.get("api-key") == OPENAI_UPSTREAM_KEY
    assert "x-consentry-key" not in {k.lower() for k in upstream.requests[-1].headers}
    upstream.clear()
    with pytest.raises(openai.AuthenticationError):
        client(harness, api_key=OPENAI_UPSTREAM_KEY).chat.completions.create(
            model=DEPLOYMENT, messages=[{"role": "user", "content": PROMPT}]
        )
    assert upstream.requests == []


@pytest.fixture()
def env_keyed_proxy(
    tmp_path: Path, detector: PresidioDetector, openai_upstream: BackgroundServer
) -> Iterator[str]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(TEST_RULES))
    raw = {
        "rules": str(rules),
        "apps": {"backend": {"key": PROXY_KEY}},
        "providers": {"azure": {"resources": {"env-res": {"endpoint": openai_upstream.url}}}},
        "ledger": {"path": str(tmp_path / "ledger.db"), "flush_interval_s": 0.01},
        "hash_key": "test-hash-key",
    }
    config = parse_config(raw, env={"CONSENTRY_AZURE_ENV_RES_API_KEY": OPENAI_UPSTREAM_KEY})
    server = BackgroundServer(lambda: build_app(config, detector=detector, owns_detector=False)).start()
    yield server.url
    server.stop()


def test_resource_key_from_environment(env_keyed_proxy: str, upstream: Recorder) -> None:
    sdk = openai.AzureOpenAI(
        azure_endpoint=f"{env_keyed_proxy}/c/cust-42/azure/env-res",
        api_key=PROXY_KEY,
        api_version=API_VERSION,
        max_retries=0,
    )
    assert sdk.embeddings.create(model="my-embedder", input=PROMPT).data
    assert upstream.requests[-1].headers.get("api-key") == OPENAI_UPSTREAM_KEY
    assert_masked(upstream)


def azure_adapter(azure: dict[str, Any], env: dict[str, str] | None = None) -> AzureOpenAIAdapter:
    config = parse_config({"providers": {"azure": azure}, "hash_key": "k"}, env=env or {})
    return AzureOpenAIAdapter(config.provider("azure"), KeyRing(config.apps))


def test_environment_key_wins_over_file_key() -> None:
    adapter = azure_adapter(
        {"resources": {"myres": {"endpoint": "https://myres.openai.azure.com/", "api_key": "from-file"}}},
        {"CONSENTRY_AZURE_MYRES_API_KEY": "from-env"},
    )
    resource = adapter.resources["myres"]
    assert resource.api_key == "from-env" and resource.endpoint == "https://myres.openai.azure.com"


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"myres": {"endpoint": "https://myres.openai.azure.com"}}, "CONSENTRY_AZURE_MYRES_API_KEY"),
        ({"myres": {"endpoint": "myres.openai.azure.com", "api_key": "k"}}, "endpoint"),
        ({"myres": {"endpoint": "ftp://myres.openai.azure.com", "api_key": "k"}}, "endpoint"),
        ({"my/res": {"endpoint": "https://x.openai.azure.com", "api_key": "k"}}, "resource name"),
        ({"myres": "https://myres.openai.azure.com"}, "mapping"),
        (["myres"], "resources must map"),
    ],
)
def test_bad_resource_configuration_is_refused_at_start(resources: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        azure_adapter({"resources": resources})


def test_no_resources_configured_refuses_every_resource(make_proxy: ProxyFactory, upstream: Recorder) -> None:
    assert azure_adapter({}).resources == {}
    # A proxy with Azure enabled but no resource: no name, not even one the upstream serves, goes out.
    harness = make_proxy({"azure": {}}, rules=RULES)
    for resource in ("myres", "otherres"):
        with pytest.raises(openai.NotFoundError) as caught:
            client(harness, resource=resource).chat.completions.create(
                model=DEPLOYMENT, messages=[{"role": "user", "content": PROMPT}]
            )
        assert caught.value.status_code == 404 and resource in caught.value.message
        assert caught.value.body["type"] == "not_found_error"  # type: ignore[index]
    sdk = openai.OpenAI(
        base_url=f"{harness.url}/c/cust-42/azure/myres/openai/v1", api_key=PROXY_KEY, max_retries=0
    )
    with pytest.raises(openai.NotFoundError):
        sdk.responses.create(model=DEPLOYMENT, input=PROMPT)
    assert upstream.requests == []
    # Nothing was shared, so no record may claim otherwise.
    assert all(record.decision != "forwarded" for record in harness.records("cust-42"))
