"""Where a request is going: provider, operation, model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderTarget:
    provider: str  # "openai", "azure", "bedrock", "gemini"
    operation: str  # "chat", "responses", "embeddings", "completions", "models", ...
    model: str  # "" when the operation has none (e.g. listing models)
    region: str = ""
