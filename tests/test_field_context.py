"""A field's name is evidence for its value: JSON sent as JSON (tool arguments, tool results) and
structured text pasted into prompts (JSON, `Key: value` lines, CSV and Markdown tables).

Every example here is made up for these tests."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from proxy.detection import scan_texts
from proxy.field_names import field_type, labelled
from proxy.recognizers.fields import FieldRecognizer, plausible
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness
from tests.fakes.server import BackgroundServer, Recorder


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("name", "PERSON"),
        ("first_name", "PERSON"),
        ("customerName", "PERSON"),
        ("Nachname", "PERSON"),
        ("prénom", "PERSON"),
        ("nazwisko", "PERSON"),
        ("email", "EMAIL_ADDRESS"),
        ("work-email", "EMAIL_ADDRESS"),
        ("correo_electronico", "EMAIL_ADDRESS"),
        ("mobile", "PHONE_NUMBER"),
        ("Telefonnummer", "PHONE_NUMBER"),
        ("numero_di_telefono", "PHONE_NUMBER"),
        ("billing_address", "STREET_ADDRESS"),
        ("Straße", "STREET_ADDRESS"),
        ("postcode", "STREET_ADDRESS"),
        ("city", "LOCATION"),
        ("dateOfBirth", "DATE_OF_BIRTH"),
        ("geburtsdatum", "DATE_OF_BIRTH"),
        ("iban", "IBAN_CODE"),
        ("codice_fiscale", "NATIONAL_ID"),
        ("ssn", "NATIONAL_ID"),
    ],
)
def test_field_names_in_several_languages(key: str, expected: str) -> None:
    assert field_type(key) == expected


@pytest.mark.parametrize(
    "key", ["product_name", "file_name", "ip_address", "mac_address", "version", "id", "status", "model"]
)
def test_names_of_things_are_not_personal_fields(key: str) -> None:
    assert field_type(key) is None


def test_a_value_is_read_under_its_key_and_spans_map_back() -> None:
    assert labelled("nombre", "maría garcía") == ("nombre: maría garcía", 8)
    assert labelled("description", "text") == ("text", 0)
    assert labelled(None, "text") == ("text", 0)


@pytest.mark.parametrize(
    ("entity", "value", "key", "expected"),
    [
        ("PERSON", "Raven Pounds", "name", True),
        ("PERSON", "debora humes", "name", True),
        ("PERSON", "web-deployment", "name", False),
        ("PERSON", "nginx", "name", False),
        ("PERSON", "Build and test", "name", False),
        ("PERSON", "Set up Python", "name", False),
        ("PERSON", "CI", "name", False),
        ("PERSON", "Django", "name", False),
        ("PERSON", "{{ user.name }}", "name", False),
        ("PERSON", "null", "name", False),
        ("PHONE_NUMBER", "+48 512 345 678", "phone", True),
        ("PHONE_NUMBER", "ask me", "phone", False),
        ("STREET_ADDRESS", "Via Roma 12", "address", True),
        ("STREET_ADDRESS", "0x7ffd5e8a", "address", False),
        ("STREET_ADDRESS", "proxy", "via", False),
        ("STREET_ADDRESS", "75002", "postcode", True),
        ("STREET_ADDRESS", "n/a", "postcode", False),
        ("DATE_OF_BIRTH", "12.03.1984", "dob", True),
        ("DATE_OF_BIRTH", "March 12, 1984", "dob", True),
        ("DATE_OF_BIRTH", "soon", "dob", False),
        ("NATIONAL_ID", "RSSMRA85T10A562S", "codice_fiscale", True),
        ("NATIONAL_ID", "pending", "ssn", False),
    ],
)
def test_a_value_must_have_the_shape_of_its_field(entity: str, value: str, key: str, expected: bool) -> None:
    assert plausible(entity, value, key) is expected


def found(text: str) -> list[tuple[str, str]]:
    results = FieldRecognizer().analyze(text, FieldRecognizer.ENTITIES)
    return sorted((r.entity_type, text[r.start : r.end]) for r in results)


def test_pasted_json_and_label_lines() -> None:
    assert found('{"name": "Raven Pounds", "email": "rp@example.org", "plan": "pro"}') == [
        ("EMAIL_ADDRESS", "rp@example.org"),
        ("PERSON", "Raven Pounds"),
    ]
    assert found("Name: debora humes\nTelefon: 030 1234 5678\nGeburtsdatum: 12.03.1984\nPlan: Pro") == [
        ("DATE_OF_BIRTH", "12.03.1984"),
        ("PERSON", "debora humes"),
        ("PHONE_NUMBER", "030 1234 5678"),
    ]
    assert found("Name: Tomas Lind, Email: tl@example.net, Phone: 555-201-7788") == [
        ("EMAIL_ADDRESS", "tl@example.net"),
        ("PERSON", "Tomas Lind"),
        ("PHONE_NUMBER", "555-201-7788"),
    ]


def test_csv_and_markdown_tables_by_their_header() -> None:
    csv = "nombre;apellidos;telefono;plan\nLucía;Ortega Ruiz;612 000 111;basic\nIker;Sanz;699 222 333;pro"
    assert found(csv) == [
        ("PERSON", "Iker"),
        ("PERSON", "Lucía"),
        ("PERSON", "Ortega Ruiz"),
        ("PERSON", "Sanz"),
        ("PHONE_NUMBER", "612 000 111"),
        ("PHONE_NUMBER", "699 222 333"),
    ]
    table = "| Customer name | Tier |\n|---|---|\n| Olga Brandt | gold |\n| Idris Haddad | silver |"
    assert found(table) == [("PERSON", "Idris Haddad"), ("PERSON", "Olga Brandt")]


def test_configuration_and_code_keep_their_names() -> None:
    manifest = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-deployment\n"
        "spec:\n  template:\n    spec:\n      containers:\n      - name: nginx\n        image: nginx:1.25\n"
    )
    workflow = "jobs:\n  test:\n    steps:\n      - name: Set up Python\n      - name: Run the tests\n"
    package = '{"name": "consentry", "version": "0.1.0", "description": "egress proxy"}'
    code = 'user = User(name=form.name, email=form.email)\nprint(f"{user.name}")'
    for text in (manifest, workflow, package, code):
        assert found(text) == [], text


def test_the_scan_masks_field_values_it_would_otherwise_miss() -> None:
    text = "crm export:\nname: debora humes\nmobile: 0151 2345 6789\nnotes: prefers email"
    (spans,) = scan_texts([text])
    masked = {text[s.start : s.end] for s in spans}
    assert "debora humes" in masked
    assert any("0151 2345 6789" in m for m in masked)
    assert not any("prefers" in m for m in masked)


# ------------------------------------------------------------------ through the proxy, JSON as JSON

ARGUMENT_NAME = "debora humes"
ARGUMENT_PHONE = "0151 2345 6789"
PASTED_NAME = "lucía ortega"


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, openai_upstream: BackgroundServer) -> ProxyHarness:
    return make_proxy({"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}})


@pytest.fixture()
def upstream(openai_recorder: Recorder) -> Iterator[Recorder]:
    openai_recorder.clear()
    yield openai_recorder


def test_tool_arguments_are_read_with_their_keys_and_pasted_json_is_restored(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    arguments = {"customer": {"nombre": ARGUMENT_NAME, "telefono": ARGUMENT_PHONE, "plan": "pro"}}
    prompt = f'Summarise this record: {{"name": "{PASTED_NAME}", "tier": "gold"}}'
    messages = [
        {"role": "user", "content": "look the customer up"},
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": json.dumps(arguments)},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "found"},
        {"role": "user", "content": prompt},
    ]
    client = openai.OpenAI(
        base_url=f"{proxy.url}/c/cust-fields/openai/v1", api_key=PROXY_KEY, max_retries=0, timeout=30
    )
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]

    seen = upstream.all_bytes()
    for value in (ARGUMENT_NAME, ARGUMENT_PHONE, PASTED_NAME):
        assert value.encode() not in seen, value
        assert json.dumps(value).encode() not in seen, value
    sent = json.loads(upstream.requests[-1].body)
    sent_arguments = json.loads(sent["messages"][1]["tool_calls"][0]["function"]["arguments"])
    assert sent_arguments["customer"]["plan"] == "pro"
    assert sent_arguments["customer"]["nombre"].startswith("<PERSON_")
    assert sent_arguments["customer"]["telefono"].startswith("<PHONE_NUMBER_")
    # the fake model echoes the last prompt: the pasted name comes back restored
    assert PASTED_NAME in (answer.choices[0].message.content or "")


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("I was born on 12 March 1984 in Leeds.", "12 March 1984"),
        ("Geboren am 3.4.1990 in Köln", "3.4.1990"),
        ("Elle est née le 5 mai 1979.", "5 mai 1979"),
        ("nacido el 7 de julio de 1988", "7 de julio de 1988"),
        ("Patient d.o.b. 04/11/1975, seen today", "04/11/1975"),
    ],
)
def test_a_date_of_birth_in_prose_is_its_own_type(text: str, date: str) -> None:
    assert found(text) == [("DATE_OF_BIRTH", date)]


@pytest.mark.parametrize(
    "text", ["born in 1984", "The feature was born on the 5th sprint", "released on 12 March 1984"]
)
def test_other_dates_are_not_dates_of_birth(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    ("key", "value"),
    [("contact_name", "Mrs Fisher"), ("customer-name", "Mr Baker"), ("lastName", "Mr Cook")],
)
def test_titled_surnames_under_snake_case_keys_are_masked(key: str, value: str) -> None:
    text, shift = labelled(key, value)
    (spans,) = scan_texts([text])
    covered = {text[s.start : s.end] for s in spans if s.end > shift}
    assert any(value.split()[1] in c for c in covered), (text, covered)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('{"last_name": "Fischer", "first_name": "Ana"}', ["Ana", "Fischer"]),
        ("email,first,last\nana@example.org,Ana,Baker", ["Ana", "Baker"]),
        ('{"surname": "Baker"}', ["Baker"]),
    ],
)
def test_surnames_that_are_english_words_under_surname_keys(text: str, names: list[str]) -> None:
    assert sorted(v for t, v in found(text) if t == "PERSON") == names


def test_a_bare_name_key_still_needs_a_name_shaped_value() -> None:
    assert found("steps:\n  - name: Build\n  - name: Deploy\n") == []
