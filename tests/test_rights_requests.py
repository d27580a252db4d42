"""Access, portability and erasure end to end: records written by real requests through the
official openai SDK come back as JSON Lines and CSV with the documented columns, the summary
counts them, and erasure removes exactly them; the erased customer's next request follows the
default policy again."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import openai
import orjson
import pytest

from proxy.admin.exports import COLUMNS
from tests.admin_client import ADMIN_SETTINGS, AdminClient
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness, free_port
from tests.fakes.server import BackgroundServer, Recorder

NAME = "Jane Doe"
EMAIL = "jane.doe@example.com"
PROMPT = f"Please write to {NAME} at {EMAIL} about the invoice."
CUSTOMER = "cust-rights-9"


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, openai_upstream: BackgroundServer) -> ProxyHarness:
    return make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        extra={"admin": {**ADMIN_SETTINGS, "port": free_port()}},
    )


@pytest.fixture()
def upstream(openai_recorder: Recorder) -> Iterator[Recorder]:
    openai_recorder.clear()
    yield openai_recorder


def sdk(proxy: ProxyHarness, customer: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{proxy.url}/c/{customer}/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=30
    )


def test_export_summary_and_erasure_round_trip(proxy: ProxyHarness, upstream: Recorder) -> None:
    admin = AdminClient(proxy.admin_url)
    client = sdk(proxy, CUSTOMER)
    messages = [{"role": "user", "content": PROMPT}]
    answers = [client.chat.completions.create(model="gpt-4o-mini", messages=messages) for _ in range(2)]
    assert all(NAME in (a.choices[0].message.content or "") for a in answers), "restored in the answer"
    streamed = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
        if chunk.choices
    )
    assert NAME in streamed
    client.embeddings.create(model="text-embedding-3-small", input=PROMPT)
    # One refused request is a sharing record too.
    admin.patch(f"/admin/v1/customers/{CUSTOMER}/consent", json={"providers": ["azure"]})
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    admin.patch(f"/admin/v1/customers/{CUSTOMER}/consent", json={"providers": None})
    sdk(proxy, "cust-someone-else").chat.completions.create(model="gpt-4o-mini", messages=messages)
    seen = upstream.all_bytes()
    assert NAME.encode() not in seen and EMAIL.encode() not in seen

    # Access and portability: JSON Lines.
    jsonl = admin.get(f"/admin/v1/customers/{CUSTOMER}/records", params={"format": "jsonl"})
    assert jsonl.status_code == 200 and jsonl.headers["Content-Type"].startswith("application/x-ndjson")
    assert "attachment" in jsonl.headers["Content-Disposition"]
    rows = [orjson.loads(line) for line in jsonl.content.splitlines()]
    assert len(rows) == 5
    assert all(list(row) == list(COLUMNS) for row in rows)
    assert {row["customer_id"] for row in rows} == {CUSTOMER}
    assert [row["decision"] for row in rows].count("blocked") == 1
    assert [row["operation"] for row in rows].count("embeddings") == 1
    assert sum(row["streamed"] for row in rows) == 1
    forwarded = [row for row in rows if row["decision"] == "forwarded"]
    assert all(row["entities"]["PERSON"]["count"] == 1 for row in forwarded)
    assert all(row["entities"]["EMAIL_ADDRESS"] == {"count": 1, "action": "mask"} for row in forwarded)
    assert NAME.encode() not in jsonl.content and EMAIL.encode() not in jsonl.content
    assert [row["timestamp"] for row in rows] == sorted(row["timestamp"] for row in rows)

    # CSV: the same records, the same columns.
    exported = admin.get(f"/admin/v1/customers/{CUSTOMER}/records", params={"format": "csv"})
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(exported.text)))
    assert tuple(table[0]) == COLUMNS
    assert [r[0] for r in table[1:]] == [row["request_id"] for row in rows]
    entities_column = COLUMNS.index("entities")
    assert "EMAIL_ADDRESS:1:mask" in table[1][entities_column].split(";")
    assert table[1][COLUMNS.index("streamed")] in ("true", "false")

    # Filters.
    none = admin.get(f"/admin/v1/customers/{CUSTOMER}/records", params={"provider": "azure"})
    assert none.status_code == 200 and none.content == b""
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert admin.get(f"/admin/v1/customers/{CUSTOMER}/records", params={"since": later}).content == b""
    assert (
        admin.get(f"/admin/v1/customers/{CUSTOMER}/records", params={"provider": "nope"}).status_code == 400
    )
    assert admin.get(f"/admin/v1/customers/{CUSTOMER}/records", params={"format": "xml"}).status_code == 400

    # Summary.
    summary = admin.get(f"/admin/v1/customers/{CUSTOMER}/records/summary").json()
    assert summary["total"] == 5
    assert summary["by_provider"]["openai"] == {"records": 5, "forwarded": 4, "blocked": 1, "failed": 0}
    assert summary["by_entity_type"]["EMAIL_ADDRESS"] == {"entities": 4, "records": 4}
    month = datetime.now(UTC).strftime("%Y-%m")
    assert summary["by_month"] == {month: {"openai": 5}}
    everyone = admin.get("/admin/v1/records/summary").json()
    assert everyone["customer_id"] is None and everyone["total"] >= 6

    # Erasure: confirmation first, then everything about the customer goes.
    unconfirmed = admin.post(f"/admin/v1/customers/{CUSTOMER}/erase", json={"confirm": "someone"})
    assert unconfirmed.status_code == 400
    assert unconfirmed.json()["error"]["code"] == "confirmation_required"
    history_before = admin.get(f"/admin/v1/customers/{CUSTOMER}/consent/history").json()["history"]
    erased = admin.post(f"/admin/v1/customers/{CUSTOMER}/erase", json={"confirm": CUSTOMER})
    assert erased.status_code == 200
    assert erased.json()["erased"] == {
        "sharing_records": 5,
        "consent_record": True,
        "history_entries": len(history_before),
        "known_identifiers": 0,
    }
    assert admin.get(f"/admin/v1/customers/{CUSTOMER}/records").content == b""
    assert admin.get(f"/admin/v1/customers/{CUSTOMER}/records/summary").json()["total"] == 0
    assert admin.get(f"/admin/v1/customers/{CUSTOMER}/consent/history").json()["history"] == []
    view = admin.get(f"/admin/v1/customers/{CUSTOMER}/consent").json()
    assert view["source"] == "default" and view["stored"] is None
    assert len(proxy.records("cust-someone-else")) == 1, "other customers' records stay"

    # The erased customer's next request is decided by the default policy: forwarded and masked.
    upstream.clear()
    again = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert NAME in (again.choices[0].message.content or "")
    assert NAME.encode() not in upstream.all_bytes()
    after = [
        orjson.loads(line)
        for line in admin.get(f"/admin/v1/customers/{CUSTOMER}/records").content.splitlines()
    ]
    assert len(after) == 1 and after[0]["decision"] == "forwarded"
    assert "+c" not in after[0]["consent_version"], "no stored consent applies any more"
    admin.close()
