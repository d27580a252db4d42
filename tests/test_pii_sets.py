"""The committed evaluation sets in benchmarks/pii_sets/ are well-formed, and the quality scorer counts right.

Fast: no spaCy model is loaded. The sets themselves are read as committed; the scorer is fed
hand-made detections.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from benchmarks.pii_quality import QUASI_IDENTIFIERS, SETS, score
from benchmarks.pii_sets import checks

ROOT = Path(__file__).resolve().parent.parent
SET_NAMES = ("eu", "secrets", "chat", "obfuscated", "technical")
SCORED_TYPES = {
    "PERSON",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "STREET_ADDRESS",
    "IBAN_CODE",
    "NATIONAL_ID",
    "SECRET",
    "USER_HANDLE",
}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[A-Za-z]{2,}\b")


def rows_of(name: str) -> list[dict]:
    return [orjson.loads(line) for line in SETS[name].read_bytes().splitlines() if line.strip()]


@pytest.mark.parametrize("name", SET_NAMES)
def test_rows_are_well_formed(name: str) -> None:
    rows = rows_of(name)
    assert len(rows) >= 80
    for row in rows:
        text = row["text"]
        assert isinstance(text, str) and text.strip()
        assert row["kind"]
        previous_end = 0
        for span in sorted(row["spans"], key=lambda s: s["start"]):
            assert 0 <= span["start"] < span["end"] <= len(text)
            assert text[span["start"] : span["end"]] == span["value"], span
            assert span["value"] == span["value"].strip(), span
            assert span["entity_type"] in SCORED_TYPES | QUASI_IDENTIFIERS, span
            assert span["start"] >= previous_end, f"overlapping gold spans in {row}"
            previous_end = span["end"]


def test_set_sizes_and_coverage() -> None:
    eu = rows_of("eu")
    locales = {r["locale"] for r in eu}
    assert {"de", "fr", "es", "it", "nl", "pl", "en-GB", "en-IN"} <= locales
    assert all(sum(r["locale"] == loc for r in eu) >= 60 for loc in locales)
    subtypes = {s["subtype"] for r in eu for s in r["spans"] if s["entity_type"] == "NATIONAL_ID"}
    assert subtypes == set(checks.VALIDATORS)
    assert len(rows_of("secrets")) >= 200
    assert len(rows_of("chat")) >= 300
    assert len(rows_of("obfuscated")) >= 150


def test_national_ids_and_ibans_pass_their_checks() -> None:
    seen = 0
    for name in ("eu", "chat", "obfuscated"):
        for row in rows_of(name):
            for span in row["spans"]:
                if span["entity_type"] == "NATIONAL_ID":
                    assert checks.VALIDATORS[span["subtype"]](span["value"]), span
                    seen += 1
                elif span["entity_type"] == "IBAN_CODE":
                    assert checks.valid_iban(span["value"]), span
                    seen += 1
    assert seen > 200


def test_secrets_have_a_subtype_and_their_format() -> None:
    prefixes = {
        "AWS_ACCESS_KEY_ID": ("AKIA", "ASIA"),
        "GITHUB_TOKEN": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        "GITHUB_FINE_GRAINED_PAT": ("github_pat_",),
        "GITLAB_TOKEN": ("glpat-",),
        "SLACK_TOKEN": ("xoxb-", "xoxp-"),
        "SLACK_WEBHOOK": ("https://hooks.slack.com/services/",),
        "STRIPE_KEY": ("sk_live_", "rk_live_"),
        "OPENAI_KEY": ("sk-",),
        "ANTHROPIC_KEY": ("sk-ant-api03-",),
        "GOOGLE_API_KEY": ("AIza",),
        "PEM_PRIVATE_KEY": ("-----BEGIN ",),
    }
    for row in rows_of("secrets"):
        for span in row["spans"]:
            assert span["entity_type"] == "SECRET" and span["subtype"], span
            if span["subtype"] in prefixes:
                assert span["value"].startswith(prefixes[span["subtype"]]), span
            if span["subtype"] == "JWT":
                header = span["value"].split(".")[0]
                assert orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"]


def test_technical_rows_carry_no_personal_data() -> None:
    rows = rows_of("technical")
    assert len(rows) >= 80
    for row in rows:
        assert row["spans"] == []
        assert not EMAIL.search(row["text"]), row["text"]
        assert 3 <= row["text"].count("\n") + 1 <= 40


@pytest.mark.parametrize(
    ("validator", "good", "bad"),
    [
        (checks.valid_it_fiscal_code, "RSSMRA85T10A562S", "RSSMRA85T10A562T"),
        (checks.valid_fr_nir, "2 69 05 49 588 157 80", "2 69 05 49 588 157 81"),
        (checks.valid_es_nif, "12345678Z", "12345678A"),
        (checks.valid_es_nie, "X1234567L", "X1234567M"),
        (checks.valid_nl_bsn, "111222333", "111222334"),
        (checks.valid_pl_pesel, "44051401359", "44051401358"),
        (checks.valid_de_tax_id, "86095742719", "86095742718"),
        (checks.valid_de_pension_number, "10010490A443", "10010490A444"),
        (checks.valid_uk_nino, "AB123456C", "QQ123456C"),
        (checks.valid_in_pan, "ABCPE1234F", "ABC1E1234F"),
        (checks.valid_iban, "GB82 WEST 1234 5698 7654 32", "GB82 WEST 1234 5698 7654 33"),
    ],
)
def test_check_digits_on_published_examples(validator, good: str, bad: str) -> None:
    assert validator(good)
    assert not validator(bad)


def test_verhoeff_aadhaar() -> None:
    assert checks.verhoeff_check("236") == 3  # the textbook example
    body = "23412341234"
    good = body + str(checks.verhoeff_check(body))
    assert checks.valid_in_aadhaar(good)
    assert not checks.valid_in_aadhaar(body + str((checks.verhoeff_check(body) + 1) % 10))


def test_scorer_counts_a_leak_subtypes_locales_and_over_masking() -> None:
    text = "Call Anna Weber on 030 1234567 in Berlin, id 86095742719."
    anna, phone, city, tax = (text.index(v) for v in ("Anna Weber", "030 1234567", "Berlin", "86095742719"))
    row = {
        "text": text,
        "locale": "de",
        "spans": [
            {"start": anna, "end": anna + 10, "entity_type": "PERSON", "value": "Anna Weber"},
            {"start": phone, "end": phone + 11, "entity_type": "PHONE_NUMBER", "value": "030 1234567"},
            {"start": city, "end": city + 6, "entity_type": "GPE", "value": "Berlin"},
            {
                "start": tax,
                "end": tax + 11,
                "entity_type": "NATIONAL_ID",
                "subtype": "DE_TAX_ID",
                "value": "86095742719",
            },
        ],
    }
    # the phone fully, the name only in part (a leak), the town (a quasi-identifier: not scored,
    # not over-masking), "Call" (over-masking); the tax id missed
    detected = [
        [
            (phone, phone + 11, "PHONE_NUMBER"),
            (anna, anna + 4, "PERSON"),
            (city, city + 6, "LOCATION"),
            (0, 4, "X"),
        ]
    ]
    result = score([row], detected)
    assert result.gold == {"PERSON": 1, "PHONE_NUMBER": 1, "NATIONAL_ID": 1}
    assert result.leaked == {"PERSON": 1, "PHONE_NUMBER": 0, "NATIONAL_ID": 1}
    assert result.leak_rate() == pytest.approx(2 / 3)
    assert result.gold_subtype == {"NATIONAL_ID/DE_TAX_ID": 1}
    assert result.leaked_subtype == {"NATIONAL_ID/DE_TAX_ID": 1}
    assert result.gold_locale == {"de": 3} and result.leaked_locale == {"de": 2}
    assert result.outside_chars == 4
    assert result.total_chars == sum(not c.isspace() for c in text)


def test_scorer_lists_altered_prompts_without_gold() -> None:
    rows = [{"text": t, "spans": []} for t in ("kubectl get pods", "SELECT 1;", "docker ps -a")]
    detected = [[], [(0, 6, "PERSON"), (7, 8, "PHONE_NUMBER")], []]
    result = score(rows, detected)
    assert result.altered == [(1, ("PERSON", "PHONE_NUMBER"))]
    assert result.gold == {} and result.leak_rate() == 0.0
    assert result.outside_chars == 7


def test_generator_reproduces_the_committed_files() -> None:
    pytest.importorskip("faker")
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.pii_sets.generate", "--check"],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_aadhaar_check_digit_follows_the_published_verhoeff_example() -> None:
    from benchmarks.pii_sets.checks import verhoeff_check

    assert verhoeff_check("236") == 3  # the worked example of Verhoeff's scheme
    assert verhoeff_check("12345") == 1
