"""The admin side: consent changes, customers' rights requests and the privacy console, on a
listener of its own (never through the proxy port), with its own bearer tokens."""
