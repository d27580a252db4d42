"""Headers in both directions and upstream redirects, for every provider, through the official SDKs.

Request headers go upstream by each adapter's allow-list (identifier-like ones as pseudonyms, the
OpenAI account headers from configuration); response headers come back by the allow-list of what
each SDK reads; a redirect from upstream is never followed nor relayed, it becomes a 502.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import openai
import pytest
from aiohttp import web
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from proxy.auth import KeyRing
from proxy.config import ConfigError, parse_config
from proxy.providers.headers import HeaderAllowList, sdk_version_string
from proxy.providers.openai import OpenAIAdapter
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness
from tests.fakes.bedrock_upstream import make_bedrock_app
from tests.fakes.gemini_upstream import make_gemini_app
from tests.fakes.openai_upstream import make_openai_app
from tests.fakes.server import BackgroundServer, Recorder, Tweaks, apply_tweaks

NAME = "Jane Doe"
EMAIL = "jane.doe@example.com"
PROMPT = f"Please write to {NAME} at {EMAIL} about the invoice."
SECRETS = (NAME.encode(), EMAIL.encode())

ORGANIZATION = "org-consentry"
PROJECT = "proj_consentry"
IDEMPOTENCY_KEY = "retry-key-for-jane.doe@example.com"
GEMINI_UPSTREAM_KEY = "gm-upstream-test"
GEMINI_MODEL = "gemini-2.5-flash"
HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
REGION = "eu-west-1"
UPSTREAM_KEY_ID = "AKIDUPSTREAM"
UPSTREAM_SECRET = "upstream-secret"
CALLER_KEY_ID = "AKIDCONSENTRYBACKEND"
CALLER_SECRET = "caller-secret-0123456789abcdef"
APPS = {
    "backend": {
        "key": PROXY_KEY,
        "aws_access_key_id": CALLER_KEY_ID,
        "aws_secret_access_key": CALLER_SECRET,
    }
}

# What every provider's edge might add to an answer: none of it may reach the caller...
HOSTILE_RESPONSE_HEADERS = {
    "Location": "http://127.0.0.1:9/elsewhere",
    "Set-Cookie": "provider-session=abc123; Path=/; HttpOnly",
    "WWW-Authenticate": 'Bearer realm="provider"',
    "Via": "1.1 provider-edge-17",
    "Access-Control-Allow-Origin": "*",
    "openai-organization": "org-provider-side",
    "openai-project": "proj_provider_side",
    "x-goog-upload-url": "https://upload.example.invalid/upload?id=1",
    "X-Provider-Debug": "backend-42.internal",
}
# ...but these, which the official SDKs read or that tell a caller its limits, do.
RATE_AND_ID_HEADERS = {"x-ratelimit-remaining-requests": "42", "x-request-id": "req_upstream_1"}
# Headers the proxy's own HTTP server writes on every answer.
PROXY_OWN = {"content-length", "date", "server", "transfer-encoding", "x-consentry-request-id"}


@dataclass
class Fake:
    server: BackgroundServer
    recorder: Recorder
    tweaks: Tweaks = field(default_factory=Tweaks)

    @property
    def url(self) -> str:
        return self.server.url


def start_fake(make_app: Any) -> Fake:
    recorder, tweaks = Recorder(), Tweaks()
    server = BackgroundServer(lambda: apply_tweaks(make_app(recorder), recorder, tweaks)).start()
    return Fake(server, recorder, tweaks)


def elsewhere_app(recorder: Recorder) -> web.Application:
    """A second host on loopback: where a redirect points. Whatever reaches it is a leak."""

    async def handle(request: web.Request) -> web.Response:
        await recorder.record(request)
        return web.json_response({"leaked": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[Fake]:
    fake = start_fake(lambda rec: make_openai_app(rec, api_key=OPENAI_UPSTREAM_KEY))
    yield fake
    fake.server.stop()


@pytest.fixture(scope="module")
def gemini_fake() -> Iterator[Fake]:
    fake = start_fake(lambda rec: make_gemini_app(rec, api_key=GEMINI_UPSTREAM_KEY))
    yield fake
    fake.server.stop()


@pytest.fixture(scope="module")
def bedrock_fake() -> Iterator[Fake]:
    fake = start_fake(
        lambda rec: make_bedrock_app(
            rec, access_key=UPSTREAM_KEY_ID, secret_key=UPSTREAM_SECRET, region=REGION
        )
    )
    yield fake
    fake.server.stop()


@pytest.fixture(scope="module")
def elsewhere() -> Iterator[Fake]:
    fake = start_fake(elsewhere_app)
    yield fake
    fake.server.stop()


@pytest.fixture(autouse=True)
def fresh(openai_fake: Fake, gemini_fake: Fake, bedrock_fake: Fake, elsewhere: Fake) -> Iterator[None]:
    for fake in (openai_fake, gemini_fake, bedrock_fake, elsewhere):
        fake.recorder.clear()
        fake.tweaks.clear()
    yield


def providers(openai_fake: Fake, gemini_fake: Fake, bedrock_fake: Fake, openai_mode: str) -> dict[str, Any]:
    return {
        "openai": {
            "base_url": openai_fake.url + "/v1",
            "api_key": OPENAI_UPSTREAM_KEY,
            "auth_mode": openai_mode,
            "organization": ORGANIZATION,
            "project": PROJECT,
        },
        "azure": {"resources": {"myres": {"endpoint": openai_fake.url, "api_key": OPENAI_UPSTREAM_KEY}}},
        "gemini": {"base_url": gemini_fake.url, "api_key": GEMINI_UPSTREAM_KEY},
        "bedrock": {
            "base_url": bedrock_fake.url,
            "region": REGION,
            "aws_access_key_id": UPSTREAM_KEY_ID,
            "aws_secret_access_key": UPSTREAM_SECRET,
        },
    }


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, openai_fake: Fake, gemini_fake: Fake, bedrock_fake: Fake) -> ProxyHarness:
    return make_proxy(providers(openai_fake, gemini_fake, bedrock_fake, "managed"), extra={"apps": APPS})


@pytest.fixture(scope="module")
def passthrough_proxy(
    make_proxy: ProxyFactory, openai_fake: Fake, gemini_fake: Fake, bedrock_fake: Fake
) -> ProxyHarness:
    return make_proxy(providers(openai_fake, gemini_fake, bedrock_fake, "passthrough"), extra={"apps": APPS})


# ---------------------------------------------------------------- clients


def openai_client(proxy: ProxyHarness, **options: Any) -> openai.OpenAI:
    options.setdefault("api_key", PROXY_KEY)
    return openai.OpenAI(base_url=f"{proxy.url}/c/cust-42/openai/v1", max_retries=0, timeout=30, **options)


def azure_client(proxy: ProxyHarness, **options: Any) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=f"{proxy.url}/c/cust-42/azure/myres",
        api_key=PROXY_KEY,
        api_version="2024-10-21",
        max_retries=0,
        timeout=30,
        **options,
    )


def gemini_client(proxy: ProxyHarness, headers: dict[str, str] | None = None) -> genai.Client:
    return genai.Client(
        api_key=PROXY_KEY,
        http_options=genai_types.HttpOptions(
            base_url=f"{proxy.url}/c/cust-42/gemini",
            api_version="v1beta",
            headers=headers,
            retry_options=genai_types.HttpRetryOptions(attempts=1),
            timeout=30_000,
        ),
    )


def bedrock_client(proxy: ProxyHarness, extra_headers: Mapping[str, str] | None = None) -> Any:
    sdk = boto3.client(
        "bedrock-runtime",
        endpoint_url=f"{proxy.url}/c/cust-42/bedrock",
        region_name=REGION,
        aws_access_key_id=CALLER_KEY_ID,
        aws_secret_access_key=CALLER_SECRET,
        config=BotoConfig(retries={"total_max_attempts": 1}, read_timeout=30),
    )
    if extra_headers:

        def add_headers(request: Any, **_: Any) -> None:
            for name, value in extra_headers.items():
                request.headers[name] = value

        sdk.meta.events.register("before-sign.bedrock-runtime.*", add_headers)
    return sdk


CHAT = [{"role": "user", "content": PROMPT}]
CONVERSE = [{"role": "user", "content": [{"text": PROMPT}]}]


def names(headers: Mapping[str, str]) -> set[str]:
    return {name.lower() for name in headers}


def relayed(headers: Mapping[str, str]) -> set[str]:
    """The header names a caller received, without those the proxy's own server always writes."""
    return names(headers) - PROXY_OWN


def assert_masked(recorder: Recorder) -> None:
    seen = recorder.all_bytes()
    assert recorder.requests and not any(secret in seen for secret in SECRETS)
    assert PROXY_KEY.encode() not in seen


# ---------------------------------------------------------------- redirects


def assert_redirect_refused(proxy: ProxyHarness, request_id: str, status: int, provider: str) -> None:
    record = proxy.record(request_id)
    assert record is not None and record.provider == provider
    assert record.decision == "failed" and record.reason == "upstream_redirect"
    assert record.upstream_status == status
    assert proxy.metric("consentry_upstream_errors_total", provider=provider, kind="upstream_redirect") >= 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_openai_redirect_becomes_502_and_is_never_followed(
    proxy: ProxyHarness, openai_fake: Fake, elsewhere: Fake, status: int, stream: bool
) -> None:
    openai_fake.tweaks.redirect = (status, f"{elsewhere.url}/v1/chat/completions")
    before = proxy.metric("consentry_upstream_errors_total", provider="openai", kind="upstream_redirect")
    with pytest.raises(openai.APIStatusError) as caught:
        openai_client(proxy).chat.completions.create(model="gpt-4o-mini", messages=CHAT, stream=stream)
    error = caught.value
    assert error.status_code == 502 and error.code == "upstream_redirect"
    assert "location" not in names(error.response.headers)
    # The provider got the masked request once; the host the redirect named got nothing at all.
    assert len(openai_fake.recorder.requests) == 1
    assert_masked(openai_fake.recorder)
    assert elsewhere.recorder.requests == []
    assert_redirect_refused(proxy, error.response.headers["x-consentry-request-id"], status, "openai")
    after = proxy.metric("consentry_upstream_errors_total", provider="openai", kind="upstream_redirect")
    assert after == before + 1


def test_azure_redirect_becomes_502(proxy: ProxyHarness, openai_fake: Fake, elsewhere: Fake) -> None:
    openai_fake.tweaks.redirect = (307, f"{elsewhere.url}/openai/deployments/gpt4o/chat/completions")
    with pytest.raises(openai.APIStatusError) as caught:
        azure_client(proxy).chat.completions.create(model="gpt4o", messages=CHAT)
    assert caught.value.status_code == 502 and caught.value.code == "upstream_redirect"
    assert elsewhere.recorder.requests == [] and len(openai_fake.recorder.requests) == 1
    assert_redirect_refused(proxy, caught.value.response.headers["x-consentry-request-id"], 307, "azure")


def test_gemini_redirect_becomes_502(proxy: ProxyHarness, gemini_fake: Fake, elsewhere: Fake) -> None:
    gemini_fake.tweaks.redirect = (302, f"{elsewhere.url}/v1beta/models/{GEMINI_MODEL}:generateContent")
    client = gemini_client(proxy)
    with pytest.raises(genai_errors.ServerError) as caught:
        client.models.generate_content(model=GEMINI_MODEL, contents=PROMPT)
    assert caught.value.code == 502
    assert (caught.value.details or {})["error"]["details"][0]["reason"] == "upstream_redirect"
    assert elsewhere.recorder.requests == [] and len(gemini_fake.recorder.requests) == 1
    headers = {k.lower(): v for k, v in (caught.value.response.headers or {}).items()}
    request_id = headers["x-consentry-request-id"]
    assert_redirect_refused(proxy, request_id, 302, "gemini")


def test_bedrock_redirect_becomes_502(proxy: ProxyHarness, bedrock_fake: Fake, elsewhere: Fake) -> None:
    bedrock_fake.tweaks.redirect = (307, f"{elsewhere.url}/model/{HAIKU}/converse")
    with pytest.raises(ClientError) as caught:
        bedrock_client(proxy).converse(modelId=HAIKU, messages=CONVERSE)
    metadata = caught.value.response["ResponseMetadata"]
    assert metadata["HTTPStatusCode"] == 502
    assert "location" not in metadata["HTTPHeaders"]
    assert elsewhere.recorder.requests == [] and len(bedrock_fake.recorder.requests) == 1
    assert_redirect_refused(proxy, metadata["HTTPHeaders"]["x-consentry-request-id"], 307, "bedrock")


# ---------------------------------------------------------------- OpenAI headers


def test_openai_managed_request_headers(proxy: ProxyHarness, openai_fake: Fake) -> None:
    client = openai_client(
        proxy,
        organization="org-caller",
        project="proj_caller",
        default_headers={"X-Evil": EMAIL, "X-Forwarded-For": "10.0.0.7"},
    )
    for _ in range(2):  # a retry of the same request keeps its idempotency key
        client.chat.completions.create(
            model="gpt-4o-mini", messages=CHAT, extra_headers={"Idempotency-Key": IDEMPOTENCY_KEY}
        )
    first, second = openai_fake.recorder.requests
    assert names(first.headers) == {
        "host",
        "accept",
        "accept-encoding",
        "content-length",
        "content-type",
        "authorization",
        "openai-organization",
        "openai-project",
        "idempotency-key",
    }
    # The account the proxy is configured with, never the caller's; its own key, never the caller's.
    assert first.headers["OpenAI-Organization"] == ORGANIZATION
    assert first.headers["OpenAI-Project"] == PROJECT
    assert first.headers["Authorization"] == f"Bearer {OPENAI_UPSTREAM_KEY}"
    key = first.headers["Idempotency-Key"]
    assert key != IDEMPOTENCY_KEY and key.startswith("anon-") and second.headers["Idempotency-Key"] == key
    assert key == proxy.pipeline.hasher.pseudonym(IDEMPOTENCY_KEY)
    assert_masked(openai_fake.recorder)


def test_openai_passthrough_keeps_callers_account_headers(
    passthrough_proxy: ProxyHarness, openai_fake: Fake
) -> None:
    client = openai_client(
        passthrough_proxy,
        api_key=OPENAI_UPSTREAM_KEY,
        organization="org-caller",
        project="proj_caller",
        default_headers={"X-Consentry-Key": PROXY_KEY, "X-Evil": EMAIL},
    )
    client.chat.completions.create(
        model="gpt-4o-mini", messages=CHAT, extra_headers={"Idempotency-Key": IDEMPOTENCY_KEY}
    )
    (sent,) = openai_fake.recorder.requests
    assert sent.headers["OpenAI-Organization"] == "org-caller"
    assert sent.headers["OpenAI-Project"] == "proj_caller"
    assert sent.headers["Idempotency-Key"] == passthrough_proxy.pipeline.hasher.pseudonym(IDEMPOTENCY_KEY)
    assert {"x-evil", "x-consentry-key"}.isdisjoint(names(sent.headers))


def test_openai_passthrough_without_callers_account_uses_configured(
    passthrough_proxy: ProxyHarness, openai_fake: Fake
) -> None:
    client = openai_client(
        passthrough_proxy, api_key=OPENAI_UPSTREAM_KEY, default_headers={"X-Consentry-Key": PROXY_KEY}
    )
    client.chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    (sent,) = openai_fake.recorder.requests
    assert sent.headers["OpenAI-Organization"] == ORGANIZATION and sent.headers["OpenAI-Project"] == PROJECT


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_openai_response_headers_by_allow_list(proxy: ProxyHarness, openai_fake: Fake, stream: bool) -> None:
    advice = {"retry-after-ms": "20", "openai-version": "2020-10-01"}
    openai_fake.tweaks.extra_headers.update({**HOSTILE_RESPONSE_HEADERS, **RATE_AND_ID_HEADERS, **advice})
    with openai_client(proxy).chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=CHAT, stream=stream
    ) as raw:
        headers = raw.headers
        if stream:
            text = "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices)
        else:
            text = raw.parse().choices[0].message.content or ""
    assert text == "Echo: " + PROMPT
    assert relayed(headers) == {
        "content-type",
        "x-ratelimit-remaining-requests",
        "x-request-id",
        "retry-after-ms",
        "openai-version",
    }
    assert headers["x-request-id"] == "req_upstream_1" and raw.request_id == "req_upstream_1"


def test_openai_upstream_error_keeps_retry_headers(proxy: ProxyHarness, openai_fake: Fake) -> None:
    openai_fake.tweaks.extra_headers.update({**HOSTILE_RESPONSE_HEADERS, "retry-after": "1"})
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client(proxy).chat.completions.create(model="error-429", messages=CHAT)
    assert relayed(caught.value.response.headers) == {"content-type", "retry-after"}


# ---------------------------------------------------------------- Azure headers


def test_azure_request_and_response_headers(proxy: ProxyHarness, openai_fake: Fake) -> None:
    azure_edge = {
        "apim-request-id": "3f2a-apim",
        "x-ms-region": "Sweden Central",
        "x-ms-rai-invoked": "true",
        "x-ms-deployment-name": "gpt4o",
        # Azure echoes the client request id it received (here: the pseudonym).
        "x-ms-client-request-id": "echoed-by-azure",
    }
    openai_fake.tweaks.extra_headers.update({**HOSTILE_RESPONSE_HEADERS, **RATE_AND_ID_HEADERS, **azure_edge})
    client = azure_client(
        proxy,
        organization="org-caller",
        default_headers={"X-Evil": EMAIL, "x-ms-client-request-id": "client-req-for-jane"},
    )
    raw = client.chat.completions.with_raw_response.create(
        model="gpt4o", messages=CHAT, extra_headers={"Idempotency-Key": IDEMPOTENCY_KEY}
    )
    assert raw.parse().choices[0].message.content == "Echo: " + PROMPT
    (sent,) = openai_fake.recorder.requests
    assert names(sent.headers) == {
        "host",
        "accept",
        "accept-encoding",
        "content-length",
        "content-type",
        "api-key",
        "idempotency-key",
        "x-ms-client-request-id",
    }
    pseudonym = proxy.pipeline.hasher.pseudonym
    assert sent.headers["Idempotency-Key"] == pseudonym(IDEMPOTENCY_KEY)
    assert sent.headers["x-ms-client-request-id"] == pseudonym("client-req-for-jane")
    assert relayed(raw.headers) == {"content-type", *RATE_AND_ID_HEADERS, *azure_edge}
    # The caller gets back the client request id it chose, not the pseudonym Azure saw.
    assert raw.headers["x-ms-client-request-id"] == "client-req-for-jane"
    assert raw.headers["x-ms-rai-invoked"] == "true"


# ---------------------------------------------------------------- Gemini headers


def test_gemini_request_and_response_headers(proxy: ProxyHarness, gemini_fake: Fake) -> None:
    extra = {**HOSTILE_RESPONSE_HEADERS, **RATE_AND_ID_HEADERS, "Retry-After": "3"}
    gemini_fake.tweaks.extra_headers.update(extra)
    client = gemini_client(proxy, headers={"X-Evil": EMAIL})
    answer = client.models.generate_content(model=GEMINI_MODEL, contents=PROMPT)
    assert answer.text == "Echo: " + PROMPT
    (sent,) = gemini_fake.recorder.requests
    assert names(sent.headers) == {
        "host",
        "accept",
        "accept-encoding",
        "content-length",
        "content-type",
        "x-goog-api-key",
        "x-goog-api-client",
    }
    assert sent.headers["x-goog-api-client"].startswith("google-genai-sdk/")
    assert answer.sdk_http_response is not None
    assert relayed(answer.sdk_http_response.headers or {}) == {"content-type", "retry-after"}


def test_gemini_api_client_header_that_is_no_version_string_is_dropped(
    proxy: ProxyHarness, gemini_fake: Fake
) -> None:
    # The SDK puts its own version in front of what the caller set: the whole value is dropped.
    client = gemini_client(proxy, headers={"x-goog-api-client": f"customer {EMAIL}"})
    client.models.generate_content(model=GEMINI_MODEL, contents=PROMPT)
    (sent,) = gemini_fake.recorder.requests
    assert "x-goog-api-client" not in names(sent.headers)
    assert_masked(gemini_fake.recorder)


# ---------------------------------------------------------------- Bedrock headers


def test_bedrock_request_and_response_headers(proxy: ProxyHarness, bedrock_fake: Fake) -> None:
    bedrock_fake.tweaks.extra_headers.update(
        {**HOSTILE_RESPONSE_HEADERS, **RATE_AND_ID_HEADERS, "x-amzn-RequestId": "c0ffee-request-id"}
    )
    client = bedrock_client(proxy, {"X-Evil": EMAIL})
    answer = client.converse(modelId=HAIKU, messages=CONVERSE)
    assert answer["output"]["message"]["content"] == [{"text": "Echo: " + PROMPT}]
    assert answer["ResponseMetadata"]["RequestId"] == "c0ffee-request-id"
    assert relayed(answer["ResponseMetadata"]["HTTPHeaders"]) == {"content-type", "x-amzn-requestid"}
    (sent,) = bedrock_fake.recorder.requests
    assert names(sent.headers) == {
        "host",
        "accept",
        "accept-encoding",
        "content-length",
        "content-type",
        "authorization",
        "x-amz-date",
    }
    assert "x-evil" not in sent.headers["Authorization"].lower()


def test_bedrock_invoke_model_headers_reach_boto3(proxy: ProxyHarness, bedrock_fake: Fake) -> None:
    bedrock_fake.tweaks.extra_headers.update(HOSTILE_RESPONSE_HEADERS)
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
    }
    response = bedrock_client(proxy).invoke_model(
        modelId=HAIKU, body=json.dumps(body), trace="DISABLED", performanceConfigLatency="standard"
    )
    assert response["contentType"] == "application/json"
    assert json.loads(response["body"].read())["content"][0]["text"] == "Echo: " + PROMPT
    assert relayed(response["ResponseMetadata"]["HTTPHeaders"]) == {
        "content-type",
        "x-amzn-requestid",
        "x-amzn-bedrock-input-token-count",
        "x-amzn-bedrock-output-token-count",
        "x-amzn-bedrock-invocation-latency",
    }
    assert response["ResponseMetadata"]["RequestId"]
    (sent,) = bedrock_fake.recorder.requests
    # The operation's own parameters travel as headers, signed by the proxy.
    assert sent.headers["X-Amzn-Bedrock-Trace"] == "DISABLED"
    assert sent.headers["X-Amzn-Bedrock-PerformanceConfig-Latency"] == "standard"


def test_bedrock_error_code_reaches_boto3(proxy: ProxyHarness, bedrock_fake: Fake) -> None:
    bedrock_fake.tweaks.extra_headers.update(HOSTILE_RESPONSE_HEADERS)
    with pytest.raises(ClientError) as caught:
        bedrock_client(proxy).converse(modelId="anthropic.error-throttle-v1:0", messages=CONVERSE)
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    headers = caught.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert relayed(headers) == {"content-type", "x-amzn-errortype", "x-amzn-requestid"}


# ---------------------------------------------------------------- the pieces


def test_allow_list_never_lets_a_redirect_or_cookie_through() -> None:
    broad = HeaderAllowList(frozenset({"Location", "Set-Cookie", "Content-Type"}), ("x-", "access-control-"))
    picked = broad.pick(
        {
            "Location": "http://elsewhere",
            "Set-Cookie": "a=b",
            "Access-Control-Allow-Origin": "*",
            "X-Goog-Upload-URL": "http://elsewhere/upload",
            "Content-Type": "application/json",
            "X-Request-Id": "r1",
        }
    )
    assert picked == {"Content-Type": "application/json", "X-Request-Id": "r1"}


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("google-genai-sdk/3.6.1 gl-python/3.11.9", True),
        ("langchain-google-genai/2.0.1 google-genai-sdk/1.2.0 gl-python/3.13.0rc1", True),
        ("google-genai-sdk/3.6.1 gl-python/3.11.9 " + EMAIL, False),
        ("customer Jane Doe", False),
        ("gl-python/3.11.9\r\nX-Evil: 1", False),
        (" ".join(["gl-python/3.11.9"] * 20), False),
        ("", False),
    ],
)
def test_sdk_version_string(value: str, kept: bool) -> None:
    assert (sdk_version_string(value) == value) is kept


def test_openai_account_settings_from_config_and_environment() -> None:
    raw = {"providers": {"openai": {"organization": "org-file", "project": "proj_file"}}, "hash_key": "k"}
    config = parse_config(raw, env={"CONSENTRY_OPENAI_PROJECT": "proj_env"})
    adapter = OpenAIAdapter(config.provider("openai"), KeyRing(config.apps))
    assert adapter.account_headers == {"OpenAI-Organization": "org-file", "OpenAI-Project": "proj_env"}
    bad = parse_config({"providers": {"openai": {"organization": "org x\n"}}, "hash_key": "k"}, env={})
    with pytest.raises(ConfigError, match=r"providers\.openai\.organization"):
        OpenAIAdapter(bad.provider("openai"), KeyRing(bad.apps))
