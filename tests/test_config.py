"""Configuration: defaults, environment overrides, refused settings, the generated hash key."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxy.config import DEVELOPMENT_APP_KEY, ConfigError, load_config, parse_config

GOOD_KEY = "k" * 16
HASH_ENV = {"CONSENTRY_HASH_KEY": "test-hash-key-0123456789"}


def ledger(tmp_path: Path, **more: Any) -> dict[str, Any]:
    """A raw config whose ledger (and so any generated key file) lives in tmp_path."""
    return {"ledger": {"path": str(tmp_path / "ledger.db")}, **more}


def test_defaults(tmp_path: Path) -> None:
    config = parse_config(ledger(tmp_path), env=HASH_ENV)
    assert config.host == "127.0.0.1"
    assert config.port == 8080
    assert [(a.name, a.key) for a in config.apps] == [("local-dev", DEVELOPMENT_APP_KEY)]
    openai = config.provider("openai")
    assert openai.base_url == "https://api.openai.com/v1"
    assert openai.auth_mode == "managed"
    assert openai.api_key == ""
    assert openai.allow_paths == ()
    assert config.provider("gemini").base_url == "https://generativelanguage.googleapis.com"
    assert config.provider("nosuch").base_url == ""  # unknown: empty, never guessed from the request
    assert config.hash_key == b"test-hash-key-0123456789"


def test_env_overrides_provider_url_and_key(tmp_path: Path) -> None:
    raw = ledger(
        tmp_path, providers={"openai": {"base_url": "https://file.example/v1", "api_key": "sk-file"}}
    )
    env = {
        **HASH_ENV,
        "CONSENTRY_OPENAI_BASE_URL": "http://127.0.0.1:9999/v1",
        "CONSENTRY_OPENAI_API_KEY": "sk-env",
    }
    openai = parse_config(raw, env).provider("openai")
    assert openai.base_url == "http://127.0.0.1:9999/v1"
    assert openai.api_key == "sk-env"
    from_file = parse_config(raw, HASH_ENV).provider("openai")
    assert from_file.base_url == "https://file.example/v1"
    assert from_file.api_key == "sk-file"


def test_env_overrides_for_other_providers(tmp_path: Path) -> None:
    raw = ledger(tmp_path, providers={"azure": {"base_url": "https://x.openai.azure.com", "deployment": "d"}})
    env = {**HASH_ENV, "CONSENTRY_AZURE_API_KEY": "az-key", "CONSENTRY_AZURE_BASE_URL": "https://y.example"}
    azure = parse_config(raw, env).provider("azure")
    assert azure.api_key == "az-key"
    assert azure.base_url == "https://y.example"
    assert azure.extra == {"deployment": "d"}


def test_env_overrides_port_host_and_hash_key(tmp_path: Path) -> None:
    raw = ledger(tmp_path, server={"port": 7000, "host": "127.0.0.1"}, hash_key="from-file-key-xxxxxx")
    assert parse_config(raw, {}).port == 7000
    assert parse_config(raw, {}).hash_key == b"from-file-key-xxxxxx"
    config = parse_config(raw, {"CONSENTRY_PORT": "9090", "CONSENTRY_HASH_KEY": "from-env-key-yyyyyy"})
    assert config.port == 9090
    assert config.hash_key == b"from-env-key-yyyyyy"
    assert not (tmp_path / "ledger.key").exists()  # a configured key means nothing is generated


def test_app_keys_from_env(tmp_path: Path) -> None:
    raw = ledger(tmp_path, apps={"billing-api": {"key": "b" * 20}, "support": None, "chat": {}})
    env = {**HASH_ENV, "CONSENTRY_APP_BILLING_API_KEY": "e" * 24, "CONSENTRY_APP_SUPPORT_KEY": "s" * 16}
    apps = {a.name: a.key for a in parse_config(raw, env).apps}
    assert apps == {"billing-api": "e" * 24, "support": "s" * 16, "chat": ""}
    # Configured apps replace the built-in development app.
    assert "local-dev" not in apps
    assert {a.name: a.key for a in parse_config(raw, HASH_ENV).apps}["billing-api"] == "b" * 20


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.5", "::", "example.com"])
def test_development_key_refused_off_loopback(tmp_path: Path, host: str) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        parse_config(ledger(tmp_path, server={"host": host}), HASH_ENV)
    with pytest.raises(ConfigError):
        parse_config(ledger(tmp_path), {**HASH_ENV, "CONSENTRY_HOST": host})
    # Also when a configured app uses it.
    with pytest.raises(ConfigError):
        parse_config(
            ledger(tmp_path, server={"host": host}, apps={"a": {"key": DEVELOPMENT_APP_KEY}}), HASH_ENV
        )
    # A real key is fine on any address.
    config = parse_config(ledger(tmp_path, server={"host": host}, apps={"a": {"key": GOOD_KEY}}), HASH_ENV)
    assert config.host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "localhost"])
def test_development_key_allowed_on_loopback(tmp_path: Path, host: str) -> None:
    config = parse_config(ledger(tmp_path, server={"host": host}), HASH_ENV)
    assert config.apps[0].key == DEVELOPMENT_APP_KEY


def test_short_keys_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="16"):
        parse_config(ledger(tmp_path, apps={"a": {"key": "k" * 15}}), HASH_ENV)
    with pytest.raises(ConfigError):
        parse_config(
            ledger(tmp_path, apps={"a": {"key": GOOD_KEY}}), {**HASH_ENV, "CONSENTRY_APP_A_KEY": "short"}
        )
    assert parse_config(ledger(tmp_path, apps={"a": {"key": GOOD_KEY}}), HASH_ENV).apps[0].key == GOOD_KEY


def test_bad_auth_mode_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="auth_mode"):
        parse_config(ledger(tmp_path, providers={"openai": {"auth_mode": "forward"}}), HASH_ENV)
    config = parse_config(ledger(tmp_path, providers={"openai": {"auth_mode": "passthrough"}}), HASH_ENV)
    assert config.provider("openai").auth_mode == "passthrough"


def test_bad_ledger_backend_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        parse_config({"ledger": {"backend": "mongo", "path": str(tmp_path / "x.db")}}, HASH_ENV)


def test_generated_hash_key_is_private_and_reused(tmp_path: Path) -> None:
    raw = {"ledger": {"path": str(tmp_path / "data" / "ledger.db")}}
    first = parse_config(raw, {}).hash_key
    key_file = tmp_path / "data" / "ledger.key"
    assert key_file.exists()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert re.fullmatch(rb"[0-9a-f]{64}", first)
    assert key_file.read_bytes() == first
    # Stable across restarts: the second start reads the same key.
    assert parse_config(raw, {}).hash_key == first
    # Another ledger gets another key.
    other = parse_config({"ledger": {"path": str(tmp_path / "other.db")}}, {}).hash_key
    assert other != first
    assert (tmp_path / "other.key").exists()


def test_db_path_env_moves_the_generated_key(tmp_path: Path) -> None:
    config = parse_config({}, {"CONSENTRY_DB_PATH": str(tmp_path / "env.db")})
    assert config.ledger.path == str(tmp_path / "env.db")
    assert (tmp_path / "env.key").read_bytes() == config.hash_key


def test_load_config_from_file(tmp_path: Path) -> None:
    path = tmp_path / "consentry.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "server": {"host": "0.0.0.0", "port": 8443},
                "apps": {"backend": {"key": "x" * 32}},
                "ledger": {"path": str(tmp_path / "l.db")},
                "providers": {"openai": {"allow_paths": ["/files"], "timeout_s": 30}},
            }
        )
    )
    config = load_config(path, env=HASH_ENV)
    assert (config.host, config.port) == ("0.0.0.0", 8443)
    assert config.provider("openai").allow_paths == ("/files",)
    assert config.provider("openai").timeout_s == 30.0
    assert load_config(env={**HASH_ENV, "CONSENTRY_CONFIG": str(path)}).port == 8443


def test_provider_env_overrides_work_without_a_config_section(tmp_path: Path) -> None:
    env = {"CONSENTRY_GEMINI_API_KEY": "gm-from-env", "CONSENTRY_GEMINI_BASE_URL": "http://127.0.0.1:9/gm"}
    config = parse_config({"ledger": {"path": str(tmp_path / "l.db")}}, env=env)
    assert config.provider("gemini").api_key == "gm-from-env"
    assert config.provider("gemini").base_url == "http://127.0.0.1:9/gm"


def test_phone_regions_configurable(tmp_path: Path) -> None:
    config = parse_config(
        {"ledger": {"path": str(tmp_path / "l.db")}, "detection": {"phone_regions": ["ch", "SE"]}}, env={}
    )
    assert config.detection.phone_regions == ("CH", "SE")
    assert parse_config({"ledger": {"path": str(tmp_path / "l.db")}}, env={}).detection.phone_regions is None
