"""Where a request is going: provider, operation, model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderTarget:
    provider: str  # "openai", "azure", "bedrock", "gemini"
    operation: str  # "chat", "responses", "embeddings", "completions", "models", ...
    model: str  # "" when the operation has none (e.g. listing models)
    region: str = ""
    # False only for requests that share no customer data (listing models): a customer whose
    # consent names allowed models is refused any data-carrying request whose model is unknown.
    carries_data: bool = True
