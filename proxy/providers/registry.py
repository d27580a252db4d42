"""Transports: the adapter class that reaches each kind of provider.

Provider *names* live in `models.providers` (and in configuration, for OpenAI-compatible
providers); this maps each transport to the one adapter class that speaks it. A new transport is
one adapter module plus one line here.
"""

from __future__ import annotations

from models.providers import BUILTIN_PROVIDERS, CONFIGURABLE_FORMATS
from proxy.auth import KeyRing
from proxy.config import Config
from proxy.providers.azure import AzureOpenAIAdapter
from proxy.providers.base import ProviderAdapter
from proxy.providers.bedrock import BedrockAdapter
from proxy.providers.gemini import GeminiAdapter
from proxy.providers.openai import OpenAIAdapter

TRANSPORTS: dict[str, type[ProviderAdapter]] = {
    "openai": OpenAIAdapter,
    "azure": AzureOpenAIAdapter,
    "bedrock": BedrockAdapter,
    "gemini": GeminiAdapter,
}


# Every built-in provider is its own transport, and every configurable format is one of them.
assert set(TRANSPORTS) == set(BUILTIN_PROVIDERS), "a built-in provider without a transport"
assert set(TRANSPORTS) >= CONFIGURABLE_FORMATS, "a configurable format without a transport"


def build_adapters(config: Config, keys: KeyRing) -> dict[str, ProviderAdapter]:
    """One adapter per configured provider, keyed by the provider's name (its path prefix)."""
    return {
        name: TRANSPORTS[provider.transport or name](provider, keys)
        for name, provider in config.providers.items()
    }
