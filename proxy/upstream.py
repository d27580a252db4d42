"""The one HTTP client to providers. Hosts come only from configuration (the adapters build URLs
from configured base URLs); failures become 502/504 for the caller."""

from __future__ import annotations

import asyncio

import aiohttp

from proxy.errors import bad_gateway, gateway_timeout
from proxy.providers.base import UpstreamRequest


class Upstream:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
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
        assert self._session is not None, "upstream client not started"
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s, sock_read=read_timeout_s)
        try:
            return await self._session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body,
                timeout=timeout,
                allow_redirects=False,
                skip_auto_headers=("User-Agent",),
            )
        except TimeoutError:
            raise gateway_timeout("the provider did not answer in time") from None
        except asyncio.CancelledError:
            raise
        except aiohttp.ClientError as exc:
            raise bad_gateway(f"the provider could not be reached ({type(exc).__name__})") from None
