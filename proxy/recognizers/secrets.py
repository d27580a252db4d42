"""Credentials: keys, tokens and passwords in their published formats, validated where the
format allows it. Account data as much as a name is, and worse to leak: the bundled rules redact
every type here (never restored).

Each format is anchored on its issuer's prefix (AKIA, ghp_, xoxb-, sk_live_, AIza, eyJ) or its
armour (-----BEGIN ... PRIVATE KEY-----), so ordinary words and identifiers are never taken for
one. Unprefixed secrets count only where a key word assigns them (`password=`, `secret:`), or
beside an AWS access key id for its secret key.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Sequence

import orjson
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from proxy.recognizers.results import scored_result

AWS_ACCESS_KEY = "AWS_ACCESS_KEY"
AWS_SECRET_KEY = "AWS_SECRET_KEY"
API_KEY = "API_KEY"
ACCESS_TOKEN = "ACCESS_TOKEN"
JWT = "JWT"
PRIVATE_KEY = "PRIVATE_KEY"
PASSWORD = "PASSWORD"
SECRET_TYPES = (AWS_ACCESS_KEY, AWS_SECRET_KEY, API_KEY, ACCESS_TOKEN, JWT, PRIVATE_KEY, PASSWORD)

_B = r"(?<![A-Za-z0-9_])"  # no word character right before
_E = r"(?![A-Za-z0-9_])"  # nor right after
# (entity type, pattern, score): issuer-prefixed formats, each as its issuer documents it.
_PREFIXED: tuple[tuple[str, re.Pattern[str], float], ...] = (
    (AWS_ACCESS_KEY, re.compile(rf"{_B}(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{{16}}{_E}"), 0.95),
    (ACCESS_TOKEN, re.compile(rf"{_B}gh[pousr]_[A-Za-z0-9]{{36,251}}{_E}"), 0.95),  # GitHub
    (ACCESS_TOKEN, re.compile(rf"{_B}github_pat_[A-Za-z0-9]{{22}}_[A-Za-z0-9]{{59}}{_E}"), 0.95),
    (ACCESS_TOKEN, re.compile(rf"{_B}gl(?:pat|dt|rt|ptt|cbt|imt|agent)-[A-Za-z0-9_-]{{20,64}}{_E}"), 0.95),
    (ACCESS_TOKEN, re.compile(rf"{_B}xox[abposr]-(?:[0-9]+-){{1,3}}[A-Za-z0-9]{{16,64}}{_E}"), 0.95),  # Slack
    (
        ACCESS_TOKEN,
        re.compile(r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,48}"),
        0.95,
    ),
    (API_KEY, re.compile(rf"{_B}(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{{16,247}}{_E}"), 0.95),  # Stripe
    (API_KEY, re.compile(rf"{_B}whsec_[A-Za-z0-9]{{24,64}}{_E}"), 0.9),  # Stripe webhook secret
    (API_KEY, re.compile(rf"{_B}sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{{20,200}}{_E}"), 0.9),  # OpenAI
    (API_KEY, re.compile(rf"{_B}sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{{40,120}}{_E}"), 0.95),  # Anthropic
    (API_KEY, re.compile(rf"{_B}AIza[0-9A-Za-z_-]{{35}}{_E}"), 0.95),  # Google
)
_JWT = re.compile(rf"{_B}eyJ[A-Za-z0-9_-]{{8,}}\.eyJ[A-Za-z0-9_-]{{8,}}\.[A-Za-z0-9_-]{{8,}}{_E}")
_PEM = re.compile(
    r"-----BEGIN ((?:[A-Z0-9]+ ){0,3})PRIVATE KEY((?: BLOCK)?)-----"
    r"[\s\S]{16,16384}?-----END \1PRIVATE KEY\2-----"
)
# scheme://user:password@host — the password only.
_URL_PASSWORD = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]{1,15}://[^\s:/@?#]{0,128}:([^\s@/?#]{1,128})@[A-Za-z0-9.-]"  # redis://:pw@h
)
# `password=...`, `"api_key": "..."`, `secret: ...`, `Authorization: Bearer ...`.
_ASSIGNMENT = re.compile(
    r"(?i)(?<![A-Za-z0-9])"
    r"(pass(?:word|wd|phrase)?|pwd|secret|client[_-]?secret|api[_-]?key|apikey|access[_-]?key|"
    r"auth[_-]?token|access[_-]?token|refresh[_-]?token|token|private[_-]?key|"
    r"aws[_-]?secret[_-]?access[_-]?key)"
    r"[\"']?\s{0,3}(?:[:=]|=>|\bis\b)\s{0,3}[\"']?"
    r"([^\s\"',;<>(){}\[\]]{6,256})"
    r"|(?i:(bearer))\s{1,3}([A-Za-z0-9._~+/=-]{16,2048})"
)
# A quoted password after a key word (it may hold spaces and punctuation), in several languages,
# and the shapes of SQL and command lines: `IDENTIFIED BY 'x'`, `WITH PASSWORD 'x'`, `--password x`.
_PASSWORD_WORDS = (
    r"pass(?:word|wd|phrase)?|pwd|pw|passwort|kennwort|mot\s+de\s+passe|mdp|contrase[ñn]a|clave"
    r"|wachtwoord|has[łl]o|senha|parola\s+d'ordine"
)
_QUOTED_PASSWORD = re.compile(
    rf"(?i)(?<![A-Za-z0-9])(?:{_PASSWORD_WORDS})[\"']?\s{{0,3}}(?:[:=]|=>|\bis\b|\best\b|\bist\b|\bes\b)"
    r"\s{0,3}(?P<q>[\"'`])(?P<value>[^\"'`\n]{4,128})(?P=q)"
)
_SQL_PASSWORD = re.compile(r"(?i)\b(?:identified\s+by|with\s+(?:encrypted\s+)?password)\s+'([^'\n]{4,128})'")
_FLAG_PASSWORD = re.compile(
    r"(?i)(?<![\w-])--?(?:password|passwd|pass|pwd)(?:=|\s+)([^\s\"'-][^\s\"']{3,127})"
)
# mysql's password glued to its -p option: `mysql -u app -p'S3cret!'`, `mysqldump -pS3cret db`.
_MYSQL_PASSWORD = re.compile(
    r"(?i)\b(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)\b[^\n]*?\s-p(?P<q>['\"]?)(?P<value>[^\s'\"]{4,128})(?P=q)"
)
_UNQUOTED_PASSWORD = re.compile(
    rf"(?i)(?<![A-Za-z0-9])(?:{_PASSWORD_WORDS})\s{{0,3}}(?:[:=]|\bis\b|\best\b|\bist\b|\bes\b)\s{{0,3}}"
    r"(?P<value>[^\s\"',;<>(){}\[\]]{6,128})"
)
_AWS_SECRET = re.compile(rf"{_B}[A-Za-z0-9/+]{{40}}{_E}")
_KIND = {"pass": PASSWORD, "pwd": PASSWORD}
# Values an assignment often has that are not secrets: placeholders, booleans, references.
_NOT_SECRET = re.compile(
    r"(?i)(?:x+|\*+|\.+|<[^>]*>|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|%\([a-z_]+\)s|"
    r"true|false|null|none|required|optional|string|example|changeme|redacted|"
    r"reset|expired|expires|invalid|incorrect|protected|manager|policy|field|strength)"
)
_EXPLANATION = "credential format"


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _looks_random(value: str) -> bool:
    """A token that mixes kinds of characters with high entropy, not a word or a number."""
    kinds = sum(
        (any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value))
    )
    return len(value) >= 16 and kinds >= 2 and _entropy(value) >= 3.5


def _chosen_password(value: str) -> bool:
    """A password a person chose: 8+ characters mixing letters with digits or signs."""
    letters = any(c.isalpha() for c in value)
    others = any(not c.isalpha() for c in value)
    return len(value) >= 8 and letters and others and not value.isdigit()


_IDENTIFIER_PATH = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+|[A-Z][A-Z0-9_]*|[a-z]+(?:_[a-z]+)+"
)


def _code_reference(text: str, end: int, value: str) -> bool:
    """`password = settings.DB_PASSWORD`, `secret = get_secret(...)`: code naming where a secret
    comes from, not the secret (changing it would change the code the model sees)."""
    return text[end : end + 1] in ("(", "[", ".") or bool(_IDENTIFIER_PATH.fullmatch(value))


def _jwt_header(token: str) -> bool:
    header = token.split(".", 1)[0]
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


class SecretRecognizer(EntityRecognizer):
    """Credentials of published formats, and secrets assigned to a key word."""

    def __init__(self, supported_language: str = "en", name: str = "ConsentrySecretRecognizer") -> None:
        super().__init__(
            supported_entities=list(SECRET_TYPES), supported_language=supported_language, name=name
        )

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: Sequence[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        wanted = set(entities or SECRET_TYPES)
        found: list[RecognizerResult] = []

        seen: set[tuple[str, int, int]] = set()

        def add(entity: str, start: int, end: int, score: float) -> None:
            if entity in wanted and (entity, start, end) not in seen:
                seen.add((entity, start, end))
                found.append(scored_result(self, start, end, score, _EXPLANATION, entity))

        access_keys: list[int] = []
        for entity, pattern, score in _PREFIXED:
            for match in pattern.finditer(text):
                add(entity, match.start(), match.end(), score)
                if entity == AWS_ACCESS_KEY:
                    access_keys.append(match.end())
        for match in _JWT.finditer(text):
            if _jwt_header(match.group()):
                add(JWT, match.start(), match.end(), 0.95)
        for match in _PEM.finditer(text):
            add(PRIVATE_KEY, match.start(), match.end(), 1.0)
        for match in _URL_PASSWORD.finditer(text):
            add(PASSWORD, match.start(1), match.end(1), 0.9)
        for match in _ASSIGNMENT.finditer(text):
            if match.group(3) is not None:  # Authorization: Bearer <token>
                add(ACCESS_TOKEN, match.start(4), match.end(4), 0.85)
                continue
            value = match.group(2)
            if _NOT_SECRET.fullmatch(value) or _code_reference(text, match.end(2), value):
                continue
            word = match.group(1).lower()
            entity = PASSWORD if word.startswith(("pass", "pwd")) else API_KEY
            if entity == API_KEY and not _looks_random(value):
                if word == "secret" and _chosen_password(value):
                    entity = PASSWORD  # `secret: Summer2024?`: a secret someone chose
                else:
                    continue  # `token: expired`, `api_key: see below`: a key word, not a key
            add(entity, match.start(2), match.end(2), 0.85)
        for pattern, group in (
            (_QUOTED_PASSWORD, "value"),
            (_UNQUOTED_PASSWORD, "value"),
            (_SQL_PASSWORD, 1),
            (_FLAG_PASSWORD, 1),
            (_MYSQL_PASSWORD, "value"),
        ):
            for match in pattern.finditer(text):
                value = match.group(group)
                if _NOT_SECRET.fullmatch(value.strip()) or _code_reference(text, match.end(group), value):
                    continue
                add(PASSWORD, match.start(group), match.end(group), 0.85)
        # An AWS secret access key: 40 characters, within a line or two of its access key id.
        for end in access_keys:
            for match in _AWS_SECRET.finditer(text, end, min(len(text), end + 200)):
                if _looks_random(match.group()):
                    add(AWS_SECRET_KEY, match.start(), match.end(), 0.9)
        return found
