"""What the PostgreSQL stores (sharing ledger, consent records) share: schema names and closing a
connection pool within a bounded time."""

from __future__ import annotations

import asyncio
import re
from typing import Any

# The consent store LISTENs on consentry_consent_<schema>, and a channel is an identifier of at
# most 63 bytes: the schema name leaves room for the prefix.
CHANNEL_PREFIX = "consentry_consent_"
MAX_SCHEMA_CHARS = 63 - len(CHANNEL_PREFIX)
SCHEMA_NAME = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{MAX_SCHEMA_CHARS - 1}}}")


def quote_schema(name: str) -> str:
    """`name` as a quoted identifier; only plain names are accepted (they go into SQL text)."""
    if not SCHEMA_NAME.fullmatch(name):
        raise ValueError("a PostgreSQL schema name must be letters, digits and underscores")
    return f'"{name}"'


async def close_pool(pool: Any, timeout_s: float) -> None:
    """Closes an asyncpg pool, terminating its connections if they do not close in time."""
    try:
        await asyncio.wait_for(pool.close(), timeout_s)
    except TimeoutError:
        pool.terminate()
