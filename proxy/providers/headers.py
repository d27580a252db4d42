"""Which headers cross the proxy, in either direction: allow-lists, never deny-lists.

Each adapter names the headers its provider needs from a caller and the response headers its
official SDK reads (content type, request ids, rate limits); everything else stays at the proxy.
A header that could send the caller somewhere else (Location, an upload URL), set state in it
(Set-Cookie), challenge it (WWW-Authenticate) or describe the hop is never relayed, whatever an
allow-list says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

# Turns an identifier a caller chose (an idempotency key, a client request id) into a keyed
# pseudonym: the same value gives the same pseudonym, so a retry keeps its key.
Pseudonymiser = Callable[[str], str]

# Never relayed to a caller, even if an allow-list (say, by a prefix) would take one of them.
NEVER_RELAYED = frozenset(
    {
        # where to go next: the caller's SDK would follow it and send its original body elsewhere
        "location",
        "content-location",
        "refresh",
        "link",
        "alt-svc",
        "x-goog-upload-url",
        # caller state and authentication meant for another party
        "set-cookie",
        "set-cookie2",
        "www-authenticate",
        "proxy-authenticate",
        "authorization",
        # the provider account behind the proxy
        "openai-organization",
        "openai-project",
        # the hop, not the answer (aiohttp sets its own length and framing)
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "via",
        "content-length",
        "content-encoding",
        "server",
        "date",
    }
)
NEVER_RELAYED_PREFIXES = ("access-control-",)


def never_relayed(name: str) -> bool:
    lowered = name.lower()
    return lowered in NEVER_RELAYED or lowered.startswith(NEVER_RELAYED_PREFIXES)


@dataclass(frozen=True)
class HeaderAllowList:
    """Header names (any case) and name prefixes (a family such as `x-ratelimit-`) let through."""

    names: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset(n.lower() for n in self.names))
        object.__setattr__(self, "prefixes", tuple(p.lower() for p in self.prefixes))

    def allows(self, name: str) -> bool:
        lowered = name.lower()
        allowed = lowered in self.names or lowered.startswith(self.prefixes)
        return allowed and not never_relayed(lowered)

    def pick(self, headers: Mapping[str, str]) -> dict[str, str]:
        """The allowed headers of `headers`, named as they came (a repeated one: its last value)."""
        return {name: value for name, value in headers.items() if self.allows(name)}

    def extended(self, names: Iterable[str] = (), prefixes: Iterable[str] = ()) -> HeaderAllowList:
        return HeaderAllowList(self.names | frozenset(names), (*self.prefixes, *prefixes))


# What every provider's answer keeps: its media type (the proxy sets its own length and framing).
CONTENT_HEADERS = HeaderAllowList(frozenset({"content-type"}))


def forward_headers(
    incoming: Mapping[str, str],
    names: Iterable[str],
    identifiers: Iterable[str] = (),
    pseudonym: Pseudonymiser | None = None,
) -> dict[str, str]:
    """The caller's headers that go upstream: `names` as they came if their value is a list of
    tokens (`Accept`, `OpenAI-Beta`; anything else is dropped, it would go unscanned),
    `identifiers` (identifier-like headers a caller fills in freely) as pseudonyms; without a
    pseudonymiser those are not sent."""
    headers = {name: incoming[name] for name in names if token_list(incoming.get(name)) is not None}
    if pseudonym is not None:
        headers.update({name: pseudonym(incoming[name]) for name in identifiers if name in incoming})
    return headers


# `application/json, text/event-stream;q=0.9`, `assistants=v2`: tokens, `=` values, `;` params.
_ITEM = r"[A-Za-z0-9*][A-Za-z0-9*.+_/-]{0,63}(?:=[A-Za-z0-9.+_\"-]{1,63})?"
_ITEMS = rf"{_ITEM}(?: ?; ?{_ITEM})*"
_TOKEN_LIST = re.compile(rf"{_ITEMS}(?: ?, ?{_ITEMS})*")
MAX_TOKEN_LIST = 256


def token_list(value: str | None) -> str | None:
    """`value` if it is a bounded list of header tokens, else None."""
    if value is None or len(value) > MAX_TOKEN_LIST or not _TOKEN_LIST.fullmatch(value):
        return None
    return value


# An SDK's self-description ("google-genai-sdk/3.6.1 gl-python/3.11.9"): product/version tokens.
# Version components are short numbers ("3.11.9", "1.52.0rc1"): a phone number is not a version.
_CLIENT_TOKEN = (
    r"[A-Za-z][A-Za-z0-9_-]{0,39}/v?\d{1,4}(?:\.\d{1,4}){0,3}(?:[.+_-]?[A-Za-z][A-Za-z0-9]{0,15})?"
)
_CLIENT_VERSION = re.compile(rf"{_CLIENT_TOKEN}(?: {_CLIENT_TOKEN}){{0,7}}")
MAX_CLIENT_VERSION = 256


def sdk_version_string(value: str | None) -> str | None:
    """`value` if it looks like an SDK version string (bounded product/version tokens), else None:
    a header a caller may fill with anything must not carry free text upstream unscanned."""
    if value is None or len(value) > MAX_CLIENT_VERSION or not _CLIENT_VERSION.fullmatch(value):
        return None
    return value
