"""The registry of provider names: every provider Consentry knows is named here once.

Routing (`/{provider}/...`), configuration sections, the provider names consent rules may use and
the `provider` label of metrics and sharing records all come from this table and from providers
declared in configuration with one of `CONFIGURABLE_FORMATS`. Plain data: the adapters that
implement each transport are mapped in `proxy.providers.registry`.
"""

from __future__ import annotations

import re
from types import MappingProxyType

# Built-in providers: name -> default upstream base URL ("" where it comes from other settings:
# Azure's per-resource endpoints, Bedrock's region). Each is its own transport.
BUILTIN_PROVIDERS = MappingProxyType(
    {
        "openai": "https://api.openai.com/v1",
        "azure": "",
        "bedrock": "",
        "gemini": "https://generativelanguage.googleapis.com",
    }
)

# Formats a provider can be declared with in configuration alone (`providers.<name>.format`):
# any OpenAI-compatible upstream (Mistral, Groq, Together, vLLM, ...) reuses the OpenAI transport.
CONFIGURABLE_FORMATS = frozenset({"openai"})

# A provider name is a path segment, a config key, a rules word and a metric label value.
PROVIDER_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# First path segments the proxy serves itself; no provider may take them.
RESERVED_NAMES = frozenset({"c", "healthz", "readyz", "metrics", "admin"})
