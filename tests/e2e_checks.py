"""Checks the SDK end-to-end tests share: what went upstream, what the ledger recorded."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from tests.conftest import ProxyHarness
from tests.fakes.server import Recorder

SEND_MAIL_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {"name": "send_mail", "parameters": {"type": "object"}},
}


def assert_masked_upstream(upstream: Recorder, secrets: Iterable[bytes], also_seen: bytes = b"") -> bytes:
    """Everything the upstream received (plus `also_seen`, e.g. query strings): none of `secrets`,
    and the first person and email placeholders. Returns it for further provider checks."""
    assert upstream.requests, "nothing reached the upstream"
    seen = upstream.all_bytes() + also_seen
    for secret in secrets:
        assert secret not in seen
    assert b"<PERSON_1>" in seen and b"<EMAIL_ADDRESS_1>" in seen
    return seen


def assert_forwarded_record(
    proxy: ProxyHarness,
    request_id: str,
    *,
    provider: str,
    operation: str,
    streamed: bool,
    secrets: Iterable[bytes],
    customer: str = "cust-42",
    persons: int = 1,
    emails: int = 1,
) -> Any:
    """The sharing record of a forwarded, masked request; returned for provider-specific checks."""
    record = proxy.record(request_id)
    assert record is not None, "no sharing record"
    assert record.customer_id == customer and record.provider == provider and record.operation == operation
    assert record.decision == "forwarded" and record.app == "backend" and record.streamed is streamed
    assert record.entities["PERSON"].count == persons and record.entities["PERSON"].action == "mask"
    assert record.entities["EMAIL_ADDRESS"].count == emails
    assert record.upstream_status == 200 and record.request_bytes > 0 and record.response_bytes > 0
    assert record.consent_version.startswith("test-1:")
    stored = repr(record).encode()
    assert not any(secret in stored for secret in secrets)
    return record


def forwarded_requests(
    proxy: ProxyHarness, provider: str, operation: str, decision: str = "forwarded", status: str = "200"
) -> float:
    return proxy.metric(
        "consentry_requests_total", provider=provider, operation=operation, decision=decision, status=status
    )


def tool_call_history(name: str, email: str, prompt: str) -> list[dict[str, Any]]:
    """A chat where an earlier send_mail call carried `email` in its JSON arguments and its result
    `name`, then the user sends `prompt`: personal data in tool arguments and tool results."""
    previous_call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "send_mail", "arguments": json.dumps({"to": email, "quote": 'say "hi"'})},
    }
    return [
        {"role": "user", "content": "mail someone"},
        {"role": "assistant", "tool_calls": [previous_call]},
        {"role": "tool", "tool_call_id": "call_1", "content": f"sent to {name}"},
        {"role": "user", "content": prompt},
    ]


def assert_tool_call_masked(upstream: Recorder, seen: bytes) -> None:
    """What `tool_call_history` looks like upstream: arguments masked inside their JSON string."""
    sent = json.loads(upstream.requests[-1].body)
    args = json.loads(sent["messages"][1]["tool_calls"][0]["function"]["arguments"])
    assert args["to"] == "<EMAIL_ADDRESS_1>" and args["quote"] == 'say "hi"'
    assert b"sent to <PERSON_1>" in seen
