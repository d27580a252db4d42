"""Credentials in their published formats are found (and only they); the bundled rules redact
them upstream and they are never restored in the answer."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest
import yaml

from proxy.recognizers.secrets import SecretRecognizer
from rules.loader import BUNDLED_RULES
from tests.conftest import OPENAI_UPSTREAM_KEY, PROXY_KEY, ProxyFactory, ProxyHarness
from tests.fakes.server import BackgroundServer, Recorder

RECOGNIZER = SecretRecognizer()
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkphbmUifQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBk3k5nK0yX0fDq1m0TQ8b2F9mZ1pXyW\n-----END EC PRIVATE KEY-----"


def found(text: str) -> list[tuple[str, str]]:
    return sorted((r.entity_type, text[r.start : r.end]) for r in RECOGNIZER.analyze(text, []))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id AKIAIOSFODNN7EXAMPLE", [("AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE")]),
        (
            "AKIAIOSFODNN7EXAMPLE\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            [
                ("AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE"),
                ("AWS_SECRET_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            ],
        ),
        ("ghp_" + "a1B2c3D4e5" * 4, [("ACCESS_TOKEN", "ghp_" + "a1B2c3D4e5" * 4)]),
        ("glpat-xYz123AbC456dEf789gH", [("ACCESS_TOKEN", "glpat-xYz123AbC456dEf789gH")]),
        (
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            [("ACCESS_TOKEN", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx")],
        ),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", [("API_KEY", "sk_live_4eC39HqLyjWDarjtT1zdp7dc")]),
        ("OPENAI=sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12", [("API_KEY", "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12")]),
        (
            "key AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI",
            [("API_KEY", "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI")],
        ),
        (f"token {JWT}", [("JWT", JWT)]),
        (f"here:\n{PEM}\n", [("PRIVATE_KEY", PEM)]),
        ("postgres://app:s3cr3tP4ss@db.internal:5432/app", [("PASSWORD", "s3cr3tP4ss")]),
        ("password: hunter2secret", [("PASSWORD", "hunter2secret")]),
        ('{"client_secret": "x7Gh29LkPq81ZzR3bN5m"}', [("API_KEY", "x7Gh29LkPq81ZzR3bN5m")]),
        ("Authorization: Bearer abcDEF123456ghiJKL789012", [("ACCESS_TOKEN", "abcDEF123456ghiJKL789012")]),
    ],
)
def test_published_formats_are_found(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == sorted(expected)


@pytest.mark.parametrize(
    "text",
    [
        "Reset your password from the settings page.",
        "Passwordless login is enabled for this tenant.",
        "password = settings.DB_PASSWORD",
        "secret = get_secret(name)",
        "token: expired",
        "def refresh(token): return token.split('.')",
        "api_key = os.environ['API_KEY']",
        "The JWT header is eyJhbGciOi... truncated in the log",
        "AKIA is the prefix of long-term access key ids",
        "sk-abc is too short to be a key",
        "Use `kubectl get secret db-credentials -o yaml` to inspect it.",
        "eyJub3QiOiJhIGp3dCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlX3ZhbHVl",  # header without alg
    ],
)
def test_words_code_and_near_misses_are_not_secrets(text: str) -> None:
    assert found(text) == []


@pytest.mark.parametrize(
    "shape",
    [
        "password: " * 4000,
        "AKIA" * 8000,
        "-----BEGIN PRIVATE KEY-----" * 1200,
        "Bearer " * 4500,
        "a://b:" * 6000,
    ],
)
def test_adversarial_input_is_analysed_in_linear_time(shape: str) -> None:
    started = time.perf_counter()
    RECOGNIZER.analyze(shape, [])
    assert time.perf_counter() - started < 4.0


# ---------------------------------------------------------------- through the proxy with the bundled rules


@pytest.fixture(scope="module")
def proxy(make_proxy: ProxyFactory, openai_upstream: BackgroundServer) -> ProxyHarness:
    bundled = yaml.safe_load(BUNDLED_RULES.read_text())
    return make_proxy(
        {"openai": {"base_url": openai_upstream.url + "/v1", "api_key": OPENAI_UPSTREAM_KEY}}, rules=bundled
    )


@pytest.fixture()
def upstream(openai_recorder: Recorder) -> Iterator[Recorder]:
    openai_recorder.clear()
    yield openai_recorder


def test_a_key_in_a_prompt_is_redacted_upstream_and_never_restored(
    proxy: ProxyHarness, upstream: Recorder
) -> None:
    key, secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    prompt = f"Why does boto3 refuse {key} with secret {secret}?"
    client = openai.OpenAI(base_url=f"{proxy.url}/c/cust-7/openai/v1", api_key=PROXY_KEY, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}]
    )
    answer = raw.parse().choices[0].message.content or ""
    sent = upstream.all_bytes()
    assert key.encode() not in sent and secret.encode() not in sent.replace(b"\\/", b"/")
    assert b"[AWS_ACCESS_KEY]" in sent and b"[AWS_SECRET_KEY]" in sent
    assert key not in answer and "[AWS_ACCESS_KEY]" in answer  # redacted: never restored
    record = proxy.record(raw.headers["x-consentry-request-id"])
    assert record.entities["AWS_ACCESS_KEY"].action == "redact"
    assert key not in repr(record)


@pytest.mark.parametrize(
    ("text", "password"),
    [
        ('password: "Summer 2024!"', "Summer 2024!"),
        ("mysql -u root --password=S3cr3t!x", "S3cr3t!x"),
        ("CREATE USER app IDENTIFIED BY 'Tr0ub4dor&3';", "Tr0ub4dor&3"),
        ("ALTER ROLE app WITH PASSWORD 'blue horse 42';", "blue horse 42"),
        ("Mein Passwort ist Sonnenblume77", "Sonnenblume77"),
        ("mot de passe : 'Chat-noir-19'", "Chat-noir-19"),
        ("contraseña: Girasol2023", "Girasol2023"),
        ("hasło: Kwiatek#2020", "Kwiatek#2020"),
    ],
)
def test_human_passwords_after_a_password_word_in_several_languages(text: str, password: str) -> None:
    results = SecretRecognizer().analyze(text, ["PASSWORD"])
    covered = {text[r.start : r.end] for r in results}
    assert password in covered, covered


@pytest.mark.parametrize(
    "text",
    [
        "--password $PGPASSWORD",
        "the password is required",
        "password: '<your password>'",
        "Reset your password at the link below",
        "if password == 'x':",
    ],
)
def test_password_words_without_a_password(text: str) -> None:
    assert SecretRecognizer().analyze(text, ["PASSWORD"]) == []


@pytest.mark.parametrize(
    ("text", "password"),
    [
        ("secret: Summer2024?", "Summer2024?"),
        ("mysql -u admin -p'a_B#cdEfgh1' shop", "a_B#cdEfgh1"),
        ("mysqldump -pWinter99% shop > backup.sql", "Winter99%"),
    ],
)
def test_chosen_secrets_and_mysql_glued_passwords(text: str, password: str) -> None:
    covered = {text[r.start : r.end] for r in SecretRecognizer().analyze(text, ["PASSWORD"])}
    assert password in covered


@pytest.mark.parametrize("text", ["ssh -p 2222 deploy@host", "docker run -p 8080:80 web", "secret: expired"])
def test_port_options_and_words_after_secret_are_not_passwords(text: str) -> None:
    assert SecretRecognizer().analyze(text, ["PASSWORD"]) == []


def test_a_password_in_a_url_without_a_user_name() -> None:
    text = "REDIS_URL=redis://:Xy9kLmN2pQ@cache.internal:6379/0"
    covered = {text[r.start : r.end] for r in SecretRecognizer().analyze(text, ["PASSWORD"])}
    assert "Xy9kLmN2pQ" in covered
