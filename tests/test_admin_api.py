"""The admin API on its own listener: tokens and roles, consent changes that the very next
request through the proxy obeys, history without identifier values, sealed identifiers at rest,
audit events without personal data, and every answer checked against /admin/openapi.json."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from tests.admin_client import ADMIN_SETTINGS, ADMIN_TOKEN, READER_TOKEN, AdminClient
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness
from tests.fakes.server import BackgroundServer, Recorder

CONSENT = "/admin/v1/customers/{}/consent"


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, openai_upstream: BackgroundServer) -> ProxyHarness:
    return make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}},
        extra={"admin": {**ADMIN_SETTINGS, "port": _free_port()}},
    )


def _free_port() -> int:
    from tests.conftest import free_port

    return free_port()


@pytest.fixture()
def upstream(openai_recorder: Recorder) -> Iterator[Recorder]:
    openai_recorder.clear()
    yield openai_recorder


@pytest.fixture()
def admin(proxy: ProxyHarness) -> Iterator[AdminClient]:
    client = AdminClient(proxy.admin_url)
    yield client
    client.close()


def chat(proxy: ProxyHarness, customer: str, text: str = "Say hello to the team.") -> str:
    client = openai.OpenAI(
        base_url=f"{proxy.url}/c/{customer}/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=30
    )
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
    return answer.choices[0].message.content or ""


# -- tokens, roles, listener -----------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "not-a-valid-token-at-all-000000", ""])
def test_missing_or_unknown_token_is_401(proxy: ProxyHarness, token: str | None) -> None:
    client = AdminClient(proxy.admin_url, token=token)
    for method, path in (("GET", "/admin/v1/whoami"), ("POST", CONSENT.format("c-1") + "/withdraw")):
        reply = client.request(method, path)
        assert reply.status_code == 401
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        assert reply.json()["error"]["code"] == "unauthenticated"
    client.close()


def test_unknown_admin_path_needs_a_token_before_it_is_a_404(proxy: ProxyHarness) -> None:
    anonymous = httpx.get(proxy.admin_url + "/admin/v1/nothing-here", timeout=10)
    assert anonymous.status_code == 401
    known = httpx.get(
        proxy.admin_url + "/admin/v1/nothing-here",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert known.status_code == 404 and known.json()["error"]["code"] == "not_found"


def test_reader_reads_but_changes_nothing(proxy: ProxyHarness, admin: AdminClient) -> None:
    reader = AdminClient(proxy.admin_url, token=READER_TOKEN)
    assert reader.get("/admin/v1/whoami").json() == {"name": "auditor", "role": "reader"}
    assert reader.get(CONSENT.format("reader-case")).status_code == 200
    for method, path, body in (
        ("PUT", CONSENT.format("reader-case"), {"state": "withdrawn"}),
        ("PATCH", CONSENT.format("reader-case"), {"state": "withdrawn"}),
        ("POST", CONSENT.format("reader-case") + "/withdraw", None),
        ("POST", "/admin/v1/customers/reader-case/erase", {"confirm": "reader-case"}),
    ):
        reply = reader.request(method, path, json=body)
        assert reply.status_code == 403, (method, path)
        assert reply.json()["error"]["code"] == "forbidden"
    # Nothing was stored by the refused calls.
    assert admin.get(CONSENT.format("reader-case")).json()["stored"] is None
    assert admin.get("/admin/v1/whoami").json() == {"name": "privacy-officer", "role": "admin"}
    reader.close()


def test_admin_api_is_not_reachable_through_the_proxy_port(proxy: ProxyHarness) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for path in ("/admin/v1/whoami", "/admin/openapi.json", "/admin/", CONSENT.format("c-1")):
        reply = httpx.get(proxy.url + path, headers=headers, timeout=10)
        assert reply.status_code in (400, 401, 404), path
        assert b"privacy-officer" not in reply.content and b"openapi" not in reply.content
    withdraw = httpx.post(proxy.url + CONSENT.format("c-1") + "/withdraw", headers=headers, timeout=10)
    assert withdraw.status_code in (400, 401, 404)


def test_openapi_document_names_exactly_the_served_routes(proxy: ProxyHarness) -> None:
    document = httpx.get(proxy.admin_url + "/admin/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1")
    from proxy.admin.app import build_admin_app

    app = build_admin_app(None, None, None, frozenset())  # type: ignore[arg-type]
    served = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        served.add((route.method.lower(), path.replace("{action}", "")))
    documented = set()
    for path, item in document["paths"].items():
        for method in item:
            if method in ("get", "put", "patch", "post", "delete"):
                documented.add((method, path))
    # The state changes are one route with an {action} segment, documented one path per action.
    state_actions = {"restrict", "object", "withdraw", "reactivate"}
    documented_states = {
        (m, p) for m, p in documented if p.rsplit("/", 1)[-1] in state_actions and "/consent/" in p
    }
    assert len(documented_states) == 4
    documented -= documented_states
    documented.add(("post", "/admin/v1/customers/{customer_id}/consent/"))
    assert served == documented


# -- consent changes ------------------------------------------------------------------------------


def test_withdraw_applies_to_the_very_next_request(
    proxy: ProxyHarness, admin: AdminClient, upstream: Recorder
) -> None:
    customer = "cust-live-1"
    assert chat(proxy, customer)
    assert len(upstream.requests) == 1
    view = admin.post(CONSENT.format(customer) + "/withdraw")
    assert view.status_code == 200
    body = view.json()
    assert body["source"] == "store" and body["effective"]["state"] == "withdrawn"
    assert body["stored"]["version"] == 1 and view.headers["ETag"] == '"1"'
    with pytest.raises(openai.PermissionDeniedError) as refused:
        chat(proxy, customer)
    assert refused.value.status_code == 403
    assert "consent_withdrawn" in str(refused.value.body)
    assert len(upstream.requests) == 1, "nothing may reach the provider after the withdrawal"
    records = proxy.records(customer)
    assert records[-1].decision == "blocked" and records[-1].reason == "consent_withdrawn"
    assert records[-1].consent_version == body["effective"]["version"]
    assert "+c1:" in records[-1].consent_version

    again = admin.post(CONSENT.format(customer) + "/reactivate").json()
    assert again["effective"]["state"] == "active" and again["stored"]["version"] == 2
    assert chat(proxy, customer)
    assert len(upstream.requests) == 2


@pytest.mark.parametrize(
    ("action", "state", "reason"),
    [("restrict", "restricted", "consent_restricted"), ("object", "objected", "consent_objected")],
)
def test_restrict_and_object_refuse(
    proxy: ProxyHarness, admin: AdminClient, upstream: Recorder, action: str, state: str, reason: str
) -> None:
    customer = f"cust-{action}"
    assert admin.post(CONSENT.format(customer) + f"/{action}").json()["effective"]["state"] == state
    with pytest.raises(openai.PermissionDeniedError) as refused:
        chat(proxy, customer)
    assert reason in str(refused.value.body)
    assert upstream.requests == []
    history = admin.get(CONSENT.format(customer) + "/history").json()["history"]
    assert history[0]["action"] == action
    assert history[0]["changes"] == {"state": {"from": None, "to": state}}


def test_replace_patch_and_history(proxy: ProxyHarness, admin: AdminClient, upstream: Recorder) -> None:
    customer = "cust-doc"
    document = {
        "providers": ["azure"],
        "actions": {"EMAIL_ADDRESS": "redact"},
        "thresholds": {"PERSON": 0.7},
        "known_identifiers": {"ACCOUNT_NAME": ["zephyr-prod-7", "zephyr-dev-2"]},
    }
    put = admin.put(CONSENT.format(customer), json=document, headers={"If-Match": "0"})
    assert put.status_code == 200
    view = put.json()
    assert view["stored"]["document"]["known_identifier_counts"] == {"ACCOUNT_NAME": 2}
    assert "known_identifiers" not in view["stored"]["document"]
    assert b"zephyr" not in put.content
    assert view["effective"]["providers"] == ["azure"]
    assert view["effective"]["actions"]["EMAIL_ADDRESS"] == "redact"
    with pytest.raises(openai.PermissionDeniedError) as refused:
        chat(proxy, customer)
    assert "provider_not_allowed" in str(refused.value.body)

    # A stale If-Match is refused; the current one goes through.
    stale = admin.patch(CONSENT.format(customer), json={"providers": None}, headers={"If-Match": "7"})
    assert stale.status_code == 412 and stale.headers["ETag"] == '"1"'
    patched = admin.patch(
        CONSENT.format(customer),
        json={"providers": None, "actions": {"EMAIL_ADDRESS": None, "PERSON": "mask"}},
        headers={"If-Match": '"1"'},
    ).json()
    assert "providers" not in patched["stored"]["document"]
    assert patched["stored"]["document"]["actions"] == {"PERSON": "mask"}
    assert "openai" in patched["effective"]["providers"]
    assert chat(proxy, customer)

    history = admin.get(CONSENT.format(customer) + "/history").json()["history"]
    assert [h["version"] for h in history] == [2, 1]
    assert history[1]["changes"]["known_identifier_counts"] == {"from": None, "to": {"ACCOUNT_NAME": 2}}
    assert history[0]["changes"]["providers"] == {"from": ["azure"], "to": None}
    # Each entry holds the whole document from that version on, identifiers as counts.
    assert history[1]["document"] == {
        "providers": ["azure"],
        "actions": {"EMAIL_ADDRESS": "redact"},
        "thresholds": {"PERSON": 0.7},
        "known_identifier_counts": {"ACCOUNT_NAME": 2},
    }
    assert history[0]["document"] == {
        "actions": {"PERSON": "mask"},
        "thresholds": {"PERSON": 0.7},
        "known_identifier_counts": {"ACCOUNT_NAME": 2},
    }
    assert all(h["actor"] == "privacy-officer" for h in history)
    assert b"zephyr" not in orjson.dumps(history)


def test_known_identifiers_are_masked_and_sealed_at_rest(
    proxy: ProxyHarness, admin: AdminClient, upstream: Recorder
) -> None:
    customer = "cust-known"
    secret = "Quillon Barthwick-Ames"
    reply = admin.put(CONSENT.format(customer), json={"known_identifiers": {"PERSON": [secret]}})
    assert reply.status_code == 200
    answer = chat(proxy, customer, f"Write a short note to {secret} about the renewal.")
    seen = upstream.all_bytes()
    assert secret.encode() not in seen and b"Quillon" not in seen
    assert secret in answer, "the masked value comes back restored"
    # At rest: the database file holds no identifier in clear.
    path = Path(proxy.config.ledger.path)
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert secret.encode() not in raw and b"Quillon" not in raw
    with sqlite3.connect(path) as conn:
        (sealed,) = conn.execute(
            "SELECT sealed_identifiers FROM consent_records WHERE customer_id = ?", (customer,)
        ).fetchone()
    assert sealed.startswith("v1.") and "Quillon" not in sealed


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"state": "paused"}, "invalid_consent"),
        ({"providers": ["nope"]}, "invalid_consent"),
        ({"thresholds": {"PERSON": 3}}, "invalid_consent"),
        ({"colour": "blue"}, "invalid_consent"),
        ({"known_identifiers": {"PERSON": "Jane"}}, "invalid_consent"),
        ([1, 2], "invalid_consent"),
    ],
)
def test_invalid_documents_are_400_and_change_nothing(admin: AdminClient, body: object, code: str) -> None:
    customer = "cust-invalid"
    reply = admin.put(CONSENT.format(customer), json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == code
    assert b"Jane" not in reply.content
    assert admin.get(CONSENT.format(customer)).json()["stored"] is None


def test_bad_requests_get_clear_json_errors(proxy: ProxyHarness, admin: AdminClient) -> None:
    assert admin.get(CONSENT.format("bad id with spaces")).status_code == 400
    assert admin.get(CONSENT.format("x@y.example")).json()["error"]["code"] == "invalid_customer"
    not_json = admin.put(
        CONSENT.format("c-2"), content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_json"
    huge = admin.put(
        CONSENT.format("c-2"),
        content=b'{"known_identifiers": {"PERSON": ["' + b"a" * (2 * 1024 * 1024) + b'"]}}',
        headers={"Content-Type": "application/json"},
    )
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "request_too_large"
    text = admin.put(
        CONSENT.format("c-2"), content=b"state=withdrawn", headers={"Content-Type": "text/plain"}
    )
    assert text.status_code == 400
    bad_time = admin.get("/admin/v1/records/summary", params={"since": "yesterday"})
    assert bad_time.status_code == 400 and bad_time.json()["error"]["code"] == "invalid_time"
    method = httpx.delete(
        proxy.admin_url + CONSENT.format("c-2"),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    assert method.status_code == 405 and method.json()["error"]["code"] == "method_not_allowed"


def test_audit_events_name_who_did_what_without_personal_data(
    proxy: ProxyHarness, admin: AdminClient
) -> None:
    customer = "cust-audited-77"
    admin.put(CONSENT.format(customer), json={"known_identifiers": {"EMAIL_ADDRESS": ["ines@corp.example"]}})
    admin.post(CONSENT.format(customer) + "/withdraw")
    AdminClient(proxy.admin_url, token=READER_TOKEN).post(CONSENT.format(customer) + "/reactivate")
    AdminClient(proxy.admin_url, token=None).get(CONSENT.format(customer))
    exported = admin.get("/admin/v1/audit", params={"format": "jsonl"})
    assert exported.status_code == 200
    events = [orjson.loads(line) for line in exported.content.splitlines()]
    assert customer.encode() not in exported.content and b"ines@corp" not in exported.content
    ref = events[-1]["customer_ref"]
    mine = [e for e in events if e["customer_ref"] == ref]
    assert [(e["actor"], e["action"], e["outcome"]) for e in mine] == [
        ("privacy-officer", "consent.replace", "ok"),
        ("privacy-officer", "consent.withdraw", "ok"),
        ("auditor", "consent.reactivate", "denied"),
        ("anonymous", "consent.get", "denied"),
    ]
    assert mine[0]["detail"]["fields"] == ["known_identifier_counts"]
    as_json = admin.get("/admin/v1/audit", params={"format": "json"}).json()
    assert len(as_json["events"]) >= len(events)
    assert proxy.scrape("consentry_admin_requests_total", action="consent.withdraw", outcome="ok") >= 1


def test_console_is_served_with_a_strict_policy(proxy: ProxyHarness) -> None:
    page = httpx.get(proxy.admin_url + "/admin/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"


def test_an_empty_patch_stores_nothing(admin: AdminClient) -> None:
    reply = admin.patch(CONSENT.format("cust-empty-patch"), json={})
    assert reply.status_code == 200 and reply.json()["stored"] is None
    assert admin.get(CONSENT.format("cust-empty-patch") + "/history").json()["history"] == []


def test_generated_token_file_must_be_private(tmp_path: Path) -> None:
    from proxy.admin.auth import AdminTokens, TokenFileError
    from proxy.config import AdminConfig

    token_file = tmp_path / "consentry.admin-token"
    tokens = AdminTokens(AdminConfig(token_file=str(token_file)))
    assert token_file.stat().st_mode & 0o777 == 0o600
    secret = token_file.read_text().strip()
    assert tokens.identify(f"Bearer {secret}") is not None
    assert tokens.identify(f"Bearer {secret}x") is None
    token_file.chmod(0o644)
    with pytest.raises(TokenFileError, match="readable by other users"):
        AdminTokens(AdminConfig(token_file=str(token_file)))
