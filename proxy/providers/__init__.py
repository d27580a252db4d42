"""Provider adapters: each knows its provider's paths, bodies, credentials and stream format."""
