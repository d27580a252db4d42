"""The shape every provider adapter has.

An adapter is built once per provider; `open()` gives a per-request exchange that holds the
request's state (parsed body, target, stream state), like a translator in an AI gateway:
request body in, upstream request out, response chunks in, client chunks out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field

from multidict import CIMultiDictProxy, MultiDictProxy
from yarl import URL

from models.target import ProviderTarget
from proxy.auth import KeyRing
from proxy.codecs.bounds import DEFAULT_MAX_PIECE_BYTES
from proxy.config import ProviderConfig
from proxy.errors import ProxyError
from proxy.formats.answers import ResponseTransformer
from proxy.providers.headers import CONTENT_HEADERS, HeaderAllowList, Pseudonymiser
from proxy.restore import Restorer
from proxy.textslots import TextSlots


@dataclass(frozen=True)
class IncomingRequest:
    method: str
    subpath: str  # below the provider prefix, percent-encoding kept ("/v1/chat/completions")
    query: MultiDictProxy[str]
    # Percent-decoded (aiohttp's query_string): adapters forward only the parameters an operation
    # needs, re-encoded from `query` (`common.encode_query`).
    raw_query: str
    headers: CIMultiDictProxy[str]
    # The request target exactly as received (prefixes and query included, percent-encoding
    # untouched): what a caller's SigV4 signature covers.
    raw_path: str = ""


@dataclass
class UpstreamRequest:
    method: str
    # A yarl.URL built with encoded=True is sent exactly as written (a SigV4-signed path must be).
    url: str | URL
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass(frozen=True)
class ErrorReply:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


class ProviderExchange(ABC):
    """One request's passage through an adapter."""

    operation: str = ""
    # False for operations forwarded without a body to scan (listing models, allowed extra paths).
    scanned: bool = True
    streamed: bool = False
    # The upstream response headers a caller gets: what the provider's official SDK reads.
    response_allowlist: HeaderAllowList = CONTENT_HEADERS

    @abstractmethod
    def authenticate(self, body: bytes) -> str:
        """The calling application's name, or ProxyError(401)."""

    @abstractmethod
    def parse(self, body: bytes) -> None:
        """Parse the request body; ProxyError(400) when it is not what the operation takes."""

    @property
    @abstractmethod
    def target(self) -> ProviderTarget: ...

    @abstractmethod
    def collect(self, slots: TextSlots) -> None:
        """Register every piece of user text (and unscannable content) in the parsed body."""

    @abstractmethod
    def upstream_request(self, pseudonym: Pseudonymiser | None = None) -> UpstreamRequest:
        """The request to send upstream, from the (now masked) parsed body.

        Headers go by the adapter's allow-list. Identifier-like headers a caller fills in freely
        (Idempotency-Key) go as `pseudonym(value)`; without a pseudonymiser they are not sent.
        """

    @abstractmethod
    def response_transformer(
        self,
        status: int,
        headers: Mapping[str, str],
        restorer: Restorer,
        *,
        max_event_bytes: int = DEFAULT_MAX_PIECE_BYTES,
    ) -> ResponseTransformer:
        """How the answer reaches the caller. A streamed answer of a format the adapter knows is
        decoded even with nothing to restore, holding at most `max_event_bytes` of one event, so
        that the proxy can end it with an error event the provider's SDK raises on."""

    def response_headers(self, upstream: Mapping[str, str]) -> dict[str, str]:
        """The upstream answer's headers to relay to the caller (allow-listed, never a redirect)."""
        return self.response_allowlist.pick(upstream)

    def customer_hint(self) -> str | None:
        """A customer id carried in the provider's own request shape, if the adapter knows one."""
        return None


class ProviderAdapter(ABC):
    # The provider's name (its path prefix, rules word and metric label): the configuration's.
    name: str = ""

    def __init__(self, config: ProviderConfig, keys: KeyRing) -> None:
        self.config = config
        self.keys = keys
        self.name = config.name

    @abstractmethod
    def open(self, incoming: IncomingRequest) -> ProviderExchange:
        """The exchange for this request, or ProxyError(404) for a path the adapter does not serve."""

    @abstractmethod
    def error_reply(self, error: ProxyError) -> ErrorReply:
        """A proxy-made error in the provider's own shape, so its SDK raises its usual exception."""
