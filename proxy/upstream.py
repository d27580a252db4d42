"""The one HTTP client to providers. Hosts come only from configuration (the adapters build URLs
from configured base URLs); failures become 502/504 for the caller."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from proxy.errors import answer_too_large, bad_gateway, gateway_timeout, not_found
from proxy.providers.base import UpstreamRequest
from proxy.providers.common import unsafe_path


class Upstream:
    def __init__(self, resolver: AbstractResolver | None = None) -> None:
        self._resolver = resolver  # None: aiohttp's default (tests pass a slow one)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=0, ttl_dns_cache=300, enable_cleanup_closed=True, resolver=self._resolver
        )
        # No cookie jar: one caller's provider cookies must never reach another caller's request.
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(
        self, request: UpstreamRequest, connect_timeout_s: float, read_timeout_s: float
    ) -> aiohttp.ClientResponse:
        """The provider's response, once its headers are in.

        `connect_timeout_s` bounds name resolution and connecting; with `read_timeout_s` it bounds
        the whole wait for the headers, so that a provider trickling bytes cannot hold a request
        forever. The body has no per-read timeout here: its reader bounds it (`read` for a whole
        answer, the stream relay's idle timeout and duration for a stream), so that a stream's
        idle limit is the one configured, not the smaller of two.
        """
        assert self._session is not None, "upstream client not started"
        # Sent exactly as the adapter wrote it: a URL parsed without encoded=True has its dot
        # segments and %2E resolved, and would reach another path than the one routed and checked.
        url = request.url if isinstance(request.url, URL) else URL(request.url, encoded=True)
        if unsafe_path(url.raw_path, encoded_slashes=True):
            raise not_found("unknown path: it could resolve to another upstream path")
        timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout_s, sock_connect=connect_timeout_s, sock_read=None
        )
        try:
            async with asyncio.timeout(connect_timeout_s + read_timeout_s):
                return await self._session.request(
                    request.method,
                    url,
                    headers=request.headers,
                    data=request.body,
                    timeout=timeout,
                    # A redirect is never followed (it would take the request to a host that is not
                    # configured); the pipeline turns it into a 502 for the caller.
                    allow_redirects=False,
                    skip_auto_headers=("User-Agent",),
                )
        except TimeoutError:
            raise gateway_timeout("the provider did not answer in time") from None
        except asyncio.CancelledError:
            raise
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise bad_gateway(f"the provider could not be reached ({type(exc).__name__})") from None

    @staticmethod
    async def read(response: aiohttp.ClientResponse, timeout_s: float, max_bytes: int) -> bytes:
        """A whole (non-streamed) answer, within `timeout_s` in all (a per-read timeout alone
        never fires while a provider sends a byte now and then) and at most `max_bytes` long
        (decompressed): a larger one is refused as soon as it passes the bound, not held."""
        declared = response.content_length
        if declared is not None and declared > max_bytes and "Content-Encoding" not in response.headers:
            raise answer_too_large(max_bytes)
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(timeout_s):
                async for chunk in response.content.iter_any():
                    size += len(chunk)
                    if size > max_bytes:
                        raise answer_too_large(max_bytes)
                    chunks.append(chunk)
            return b"".join(chunks)
        except TimeoutError:
            raise gateway_timeout("the provider stopped answering") from None
        except (aiohttp.ClientError, ConnectionError):
            raise bad_gateway("the provider's answer was cut off") from None
