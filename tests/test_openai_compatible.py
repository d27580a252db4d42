"""An OpenAI-compatible provider declared in configuration alone, driven by the official openai SDK.

No code names `groq` anywhere: the YAML section `providers.groq: {format: openai, base_url,
api_key}` makes it routable at `/groq/...`, nameable in consent rules, and labelled in records
and metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
import yaml

from proxy.app import build_app
from proxy.config import ConfigError, load_config, parse_config
from proxy.detection import PresidioDetector
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, TEST_RULES, ProxyHarness
from tests.e2e_checks import assert_forwarded_record, assert_masked_upstream
from tests.fakes.server import BackgroundServer, Recorder

NAME = "Jane Doe"
EMAIL = "jane.doe@example.com"
PROMPT = f"Please write to {NAME} at {EMAIL} about the invoice."
SECRETS = (NAME.encode(), EMAIL.encode())


@pytest.fixture(scope="module")
def proxy(
    tmp_path_factory: pytest.TempPathFactory, detector: PresidioDetector, openai_upstream: BackgroundServer
) -> Iterator[ProxyHarness]:
    workdir: Path = tmp_path_factory.mktemp("compatible")
    rules = {
        **TEST_RULES,
        "default": {**TEST_RULES["default"], "providers": ["openai", "groq"]},
        "customers": {
            "cust-no-groq": {"providers": ["openai"]},
            "cust-groq-llama": {"models": {"groq": ["llama-*"]}},
        },
    }
    (workdir / "rules.yaml").write_text(yaml.safe_dump(rules))
    config_file = workdir / "consentry.yaml"
    config_file.write_text(
        f"""
rules: {workdir / "rules.yaml"}
hash_key: test-hash-key
apps:
  backend: {{key: {PROXY_KEY}}}
ledger: {{path: {workdir / "ledger.db"}, flush_interval_s: 0.01}}
providers:
  groq:
    format: openai
    base_url: {openai_upstream.url}/v1
    api_key: {OPENAI_UPSTREAM_KEY}
"""
    )
    config = load_config(config_file, env={})
    server = BackgroundServer(lambda: build_app(config, detector=detector, owns_detector=False)).start()
    yield ProxyHarness(server, config)
    server.stop()


@pytest.fixture()
def upstream(openai_recorder: Recorder) -> Iterator[Recorder]:
    openai_recorder.clear()
    yield openai_recorder


def client(proxy: ProxyHarness, customer: str = "cust-42") -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{proxy.url}/c/{customer}/groq/v1", api_key=PROXY_KEY, max_retries=0, timeout=30
    )


def test_chat_is_masked_upstream_restored_and_recorded_under_its_name(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    raw = client(proxy).chat.completions.with_raw_response.create(
        model="llama-3.3-70b", messages=[{"role": "user", "content": PROMPT}]
    )
    assert raw.parse().choices[0].message.content == "Echo: " + PROMPT
    assert_masked_upstream(upstream, SECRETS)
    # The provider's own key, at the configured base URL.
    assert upstream.requests[-1].headers["Authorization"] == f"Bearer {OPENAI_UPSTREAM_KEY}"
    assert upstream.requests[-1].path == "/v1/chat/completions"
    request_id = raw.headers["x-consentry-request-id"]
    assert_forwarded_record(
        proxy, request_id, provider="groq", operation="chat", streamed=False, secrets=SECRETS
    )
    assert (
        proxy.scrape("consentry_requests_total", provider="groq", operation="chat", decision="forwarded") >= 1
    )


def test_stream_is_restored(proxy: ProxyHarness, upstream: Recorder) -> None:
    stream = client(proxy).chat.completions.create(
        model="llama-3.3-70b", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Echo: " + PROMPT
    assert_masked_upstream(upstream, SECRETS)


def test_consent_rules_name_it_like_any_other_provider(proxy: ProxyHarness, upstream: Recorder) -> None:
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client(proxy, "cust-no-groq").chat.completions.create(
            model="llama-3.3-70b", messages=[{"role": "user", "content": PROMPT}]
        )
    assert refused.value.body["code"] == "provider_not_allowed"  # type: ignore[index]
    with pytest.raises(openai.PermissionDeniedError) as model_refused:
        client(proxy, "cust-groq-llama").chat.completions.create(
            model="mixtral-8x7b", messages=[{"role": "user", "content": PROMPT}]
        )
    assert model_refused.value.body["code"] == "model_not_allowed"  # type: ignore[index]
    assert not upstream.requests
    allowed = client(proxy, "cust-groq-llama").chat.completions.create(
        model="llama-3.1-8b", messages=[{"role": "user", "content": "hello"}]
    )
    assert allowed.choices[0].message.content == "Echo: hello"


def test_built_in_providers_stay_routable_beside_it(proxy: ProxyHarness) -> None:
    with pytest.raises(openai.NotFoundError):
        openai.OpenAI(
            base_url=f"{proxy.url}/c/cust-42/nosuch/v1", api_key=PROXY_KEY, max_retries=0
        ).chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"groq": {"base_url": "https://api.groq.com/openai/v1"}}, "declare its format"),
        ({"groq": {"format": "anthropic", "base_url": "https://x"}}, "declare its format"),
        ({"groq": {"format": "openai"}}, "needs a base_url"),
        ({"Bad Name": {"format": "openai", "base_url": "https://x"}}, "provider name"),
        ({"metrics": {"format": "openai", "base_url": "https://x"}}, "provider name"),
        ({"openai": {"format": "gemini"}}, "built in"),
    ],
)
def test_a_provider_section_must_say_how_to_reach_it(section: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"providers": section}, env={})


def test_rules_may_name_only_configured_providers(tmp_path: Path) -> None:
    from rules.loader import RulesError
    from rules.store import RulesFileConsentStore

    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"version": "v", "default": {"providers": ["openai", "mistral"]}}))
    with pytest.raises(RulesError, match="unknown providers"):
        RulesFileConsentStore(rules)
    declared = parse_config(
        {"providers": {"mistral": {"format": "openai", "base_url": "https://api.mistral.ai/v1"}}}, env={}
    )
    store = RulesFileConsentStore(rules, declared.provider_names)
    assert "mistral" in store.rules.consent_for("anyone").providers
