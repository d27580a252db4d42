"""A customer's sharing records as JSON Lines or CSV, one line at a time (never the whole export
in memory), with the columns the README documents."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import orjson

from models.sharing import SharingRecord

COLUMNS = (
    "request_id",
    "timestamp",
    "customer_id",
    "app",
    "provider",
    "operation",
    "model",
    "decision",
    "reason",
    "streamed",
    "request_bytes",
    "response_bytes",
    "upstream_status",
    "upstream_latency_ms",
    "total_latency_ms",
    "consent_version",
    "entities",
)
FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
# A spreadsheet would read a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Lines per chunk written to the client.
CHUNK_LINES = 200


def as_row(record: SharingRecord) -> dict[str, Any]:
    return {
        "request_id": record.request_id,
        "timestamp": record.timestamp,
        "customer_id": record.customer_id,
        "app": record.app,
        "provider": record.provider,
        "operation": record.operation,
        "model": record.model,
        "decision": record.decision,
        "reason": record.reason,
        "streamed": record.streamed,
        "request_bytes": record.request_bytes,
        "response_bytes": record.response_bytes,
        "upstream_status": record.upstream_status,
        "upstream_latency_ms": record.upstream_latency_ms,
        "total_latency_ms": record.total_latency_ms,
        "consent_version": record.consent_version,
        "entities": {k: {"count": v.count, "action": v.action} for k, v in sorted(record.entities.items())},
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_line(row: dict[str, Any]) -> bytes:
    buffer = io.StringIO()
    cells = [_cell(row[c]) for c in COLUMNS[:-1]]
    cells.append(";".join(f"{k}:{v['count']}:{v['action']}" for k, v in row["entities"].items()))
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue().encode()


def csv_header() -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(COLUMNS)
    return buffer.getvalue().encode()


async def encode(records: AsyncIterator[SharingRecord], fmt: str) -> AsyncIterator[bytes]:
    """The export as chunks of whole lines."""
    lines: list[bytes] = [csv_header()] if fmt == "csv" else []
    async for record in records:
        row = as_row(record)
        lines.append(csv_line(row) if fmt == "csv" else orjson.dumps(row) + b"\n")
        if len(lines) >= CHUNK_LINES:
            yield b"".join(lines)
            lines.clear()
    if lines:
        yield b"".join(lines)
