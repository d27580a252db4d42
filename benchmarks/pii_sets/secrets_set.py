"""`secrets.jsonl`: prompts (code, config, shell, logs, chat) holding credentials.

Each value is random (seeded `random.Random`, never a real credential) in the format its issuer
documents: AWS access key ids (AKIA/ASIA + 16 base32 characters) and 40-character secret keys;
GitHub tokens (ghp_/gho_/ghu_/ghs_/ghr_ + 30 random characters + a 6-character base62 CRC32, as
GitHub described in its 2021 token-format post) and fine-grained `github_pat_` tokens; GitLab
`glpat-`; Slack bot/user tokens and incoming-webhook URLs; Stripe `sk_live_`/`rk_live_`; OpenAI
`sk-` and `sk-proj-`; Anthropic `sk-ant-api03-`; Google `AIza` keys; JWTs (three base64url parts,
a real JSON header and payload); PEM private keys; passwords in connection URLs and in
`password=` / `secret:` assignments; opaque Bearer tokens. entity_type is SECRET, with the format
as subtype. The span is the secret itself: the password, not the user or host around it.
"""

from __future__ import annotations

import base64
import json
import random
import string
import zlib

from benchmarks.pii_sets.common import Field, render

SEED = 9102
ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"


def _rand(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _base62(n: int, width: int) -> str:
    digits = string.digits + string.ascii_uppercase + string.ascii_lowercase
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = digits[r] + out
    return out.rjust(width, "0")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def aws_key_id(rng: random.Random) -> str:
    return rng.choice(["AKIA", "AKIA", "ASIA"]) + _rand(rng, 16, string.ascii_uppercase + "234567")


def aws_secret(rng: random.Random) -> str:
    return _rand(rng, 40, ALNUM + "/+")


def github_token(rng: random.Random) -> str:
    body = _rand(rng, 30)
    return (
        rng.choice(["ghp_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_"])
        + body
        + _base62(zlib.crc32(body.encode()), 6)
    )


def github_pat(rng: random.Random) -> str:
    return f"github_pat_{_rand(rng, 22)}_{_rand(rng, 59)}"


def gitlab_token(rng: random.Random) -> str:
    return "glpat-" + _rand(rng, 20, B64URL)


def slack_token(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"xoxb-{rng.randint(10**10, 10**13)}-{rng.randint(10**10, 10**13)}-{_rand(rng, 24)}"
    team, user, app = rng.randint(10**10, 10**13), rng.randint(10**10, 10**13), rng.randint(10**11, 10**13)
    return f"xoxp-{team}-{user}-{app}-{_rand(rng, 32, '0123456789abcdef')}"


def slack_webhook(rng: random.Random) -> str:
    up = string.ascii_uppercase + string.digits
    return f"https://hooks.slack.com/services/T{_rand(rng, 8, up)}/B{_rand(rng, 10, up)}/{_rand(rng, 24)}"


def stripe_key(rng: random.Random) -> str:
    return rng.choice(["sk_live_", "sk_live_", "rk_live_"]) + _rand(rng, rng.choice([24, 99]))


def openai_key(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        return f"sk-{_rand(rng, 20)}T3BlbkFJ{_rand(rng, 20)}"
    if kind < 0.85:
        return f"sk-proj-{_rand(rng, 74, B64URL)}T3BlbkFJ{_rand(rng, 74, B64URL)}"
    return f"sk-svcacct-{_rand(rng, 74, B64URL)}T3BlbkFJ{_rand(rng, 74, B64URL)}"


def anthropic_key(rng: random.Random) -> str:
    return f"sk-ant-api03-{_rand(rng, 93, B64URL)}AA"


def google_key(rng: random.Random) -> str:
    return "AIza" + _rand(rng, 35, B64URL)


def jwt(rng: random.Random) -> str:
    alg = rng.choice(["HS256", "RS256", "ES256"])
    header = {"alg": alg, "typ": "JWT"} if rng.random() < 0.7 else {"alg": alg, "kid": _rand(rng, 8)}
    now = rng.randint(1_700_000_000, 1_760_000_000)
    payload = {
        "sub": str(rng.randint(10_000, 999_999)),
        "iat": now,
        "exp": now + 3600,
        "scope": rng.choice(["read", "read write", "admin"]),
    }
    sig = _rand(rng, 43 if alg == "HS256" else 86, B64URL)
    return ".".join(
        [
            _b64url(json.dumps(header, separators=(",", ":")).encode()),
            _b64url(json.dumps(payload, separators=(",", ":")).encode()),
            sig,
        ]
    )


def pem_key(rng: random.Random) -> str:
    label = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    # a DER SEQUENCE header so the body starts like a real key ("MII..."), the rest random
    body = base64.b64encode(
        b"\x30\x82\x04\xa4\x02\x01\x00" + rng.randbytes(rng.choice([180, 300, 420]))
    ).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----"


def password(rng: random.Random) -> str:
    if rng.random() < 0.5:
        word = rng.choice(["Summer", "Winter", "Banana", "Dragon", "Welcome", "Sunshine", "Coffee", "Falcon"])
        return f"{word}{rng.randint(1, 2030)}{rng.choice('!#$%*?')}"
    return _rand(rng, rng.choice([12, 16, 20, 24]), ALNUM + "!#%*-_")


def url_password(rng: random.Random) -> str:
    # no '@', ':' or '/' so the URL stays parseable, as a URL-encoded password would be
    return _rand(rng, rng.choice([10, 14, 18, 24]), ALNUM + "!*-_~")


def bearer(rng: random.Random) -> str:
    return _rand(rng, rng.choice([32, 40, 48, 64]), B64URL + ".")


GENERIC = [
    "why do I get 401 with this? I'm sending {s} as the key",
    "export {VAR}={s}",
    "{VAR}={s}",
    '  {var}: "{s}"',
    "docker run -e {VAR}={s} -p 8080:8080 myimage:latest",
    'config = {{\n    "{var}": "{s}",\n    "timeout": 30,\n}}',
    "2024-06-03 09:12:44,117 DEBUG loaded credentials {var}={s} from environment",
    "here's my .env, can you tell me what's wrong?\n\nDEBUG=true\n{VAR}={s}\nPORT=3000",
    'const {var} = process.env.{VAR} || "{s}";',
    'os.environ.setdefault("{VAR}", "{s}")',
]

SPECIFIC: dict[str, tuple[str, str, list[str]]] = {
    "GITHUB_TOKEN": (
        "GITHUB_TOKEN",
        "github_token",
        [
            'curl -H "Authorization: token {s}" https://api.github.com/user/repos',
            "git clone https://{s}@github.com/acme/infra.git",
            "gh auth login --with-token <<< {s}",
        ],
    ),
    "GITHUB_FINE_GRAINED_PAT": (
        "GH_PAT",
        "github_pat",
        [
            'curl -H "Authorization: Bearer {s}" https://api.github.com/repos/acme/site/actions/runs',
            "- uses: actions/checkout@v4\n  with:\n    token: {s}",
        ],
    ),
    "GITLAB_TOKEN": (
        "GITLAB_TOKEN",
        "private_token",
        [
            'curl --header "PRIVATE-TOKEN: {s}" "https://gitlab.com/api/v4/projects"',
            "git remote set-url origin https://oauth2:{s}@gitlab.com/group/project.git",
        ],
    ),
    "SLACK_TOKEN": (
        "SLACK_BOT_TOKEN",
        "slack_token",
        [
            'client = WebClient(token="{s}")\nclient.chat_postMessage(channel="#deploys", text="done")',
            "curl -X POST -H 'Authorization: Bearer {s}' https://slack.com/api/chat.postMessage",
        ],
    ),
    "SLACK_WEBHOOK": (
        "SLACK_WEBHOOK_URL",
        "webhook_url",
        [
            "curl -X POST -H 'Content-type: application/json' --data '{{\"text\":\"build failed\"}}' {s}",
            'requests.post("{s}", json={{"text": "nightly job finished"}})',
        ],
    ),
    "STRIPE_KEY": (
        "STRIPE_SECRET_KEY",
        "stripe_key",
        [
            "const stripe = require('stripe')('{s}');",
            'stripe.api_key = "{s}"\nstripe.Charge.list(limit=3)',
            "curl https://api.stripe.com/v1/charges -u {s}:",
        ],
    ),
    "OPENAI_KEY": (
        "OPENAI_API_KEY",
        "api_key",
        [
            'from openai import OpenAI\nclient = OpenAI(api_key="{s}")\nprint(client.models.list())',
            'curl https://api.openai.com/v1/chat/completions -H "Authorization: Bearer {s}" -d @body.json',
        ],
    ),
    "ANTHROPIC_KEY": (
        "ANTHROPIC_API_KEY",
        "api_key",
        [
            'client = anthropic.Anthropic(api_key="{s}")',
            'curl https://api.anthropic.com/v1/messages -H "x-api-key: {s}"'
            ' -H "anthropic-version: 2023-06-01"',
        ],
    ),
    "GOOGLE_API_KEY": (
        "GOOGLE_API_KEY",
        "key",
        [
            "https://maps.googleapis.com/maps/api/geocode/json?address=Main+Square&key={s}",
            '<script src="https://maps.googleapis.com/maps/api/js?key={s}&callback=initMap"></script>',
            'genai.configure(api_key="{s}")',
        ],
    ),
    "JWT": (
        "ACCESS_TOKEN",
        "token",
        [
            "Authorization: Bearer {s}",
            "the API keeps saying token expired, this is the one I got back: {s}",
            'localStorage.setItem("jwt", "{s}");',
        ],
    ),
    "PEM_PRIVATE_KEY": (
        "PRIVATE_KEY",
        "private_key",
        [
            "can you tell me why ssh says 'invalid format'? my key file:\n{s}",
            "tls:\n  key: |\n{s}",
            'PRIVATE_KEY="{s}"',
            "{s}",
        ],
    ),
    "URL_PASSWORD": (
        "DATABASE_URL",
        "dsn",
        [
            "DATABASE_URL=postgres://app:{s}@db.internal:5432/orders",
            'engine = create_engine("postgresql+psycopg2://reporting:{s}@10.0.3.12/analytics")',
            "mongodb+srv://svc_api:{s}@cluster0.ab1cd.mongodb.net/prod?retryWrites=true",
            "redis://:{s}@cache.internal:6379/0",
            "amqp://worker:{s}@rabbitmq:5672/%2F",
            "psql: error: connection to server failed, tried mysql://root:{s}@localhost:3306/shop first",
        ],
    ),
    "PASSWORD_ASSIGNMENT": (
        "DB_PASSWORD",
        "password",
        [
            "password={s}",
            "db:\n  host: localhost\n  user: app\n  password: {s}",
            "spring.datasource.password={s}",
            '"passwd": "{s}",',
            "secret: {s}",
            "my wifi password is {s} but the printer won't connect",
            "mysql -u admin -p'{s}' -h 127.0.0.1",
        ],
    ),
    "BEARER_TOKEN": (
        "API_TOKEN",
        "token",
        [
            'curl -H "Authorization: Bearer {s}" https://api.internal.acme.io/v2/reports',
            'headers = {{"Authorization": "Bearer {s}", "Accept": "application/json"}}',
            '10.0.0.5 - - [03/Jun/2024:10:01:22 +0000] "GET /api/orders HTTP/1.1" 200 512 auth="Bearer {s}"',
        ],
    ),
}

MAKERS = {
    "GITHUB_TOKEN": github_token,
    "GITHUB_FINE_GRAINED_PAT": github_pat,
    "GITLAB_TOKEN": gitlab_token,
    "SLACK_TOKEN": slack_token,
    "SLACK_WEBHOOK": slack_webhook,
    "STRIPE_KEY": stripe_key,
    "OPENAI_KEY": openai_key,
    "ANTHROPIC_KEY": anthropic_key,
    "GOOGLE_API_KEY": google_key,
    "JWT": jwt,
    "PEM_PRIVATE_KEY": pem_key,
    "URL_PASSWORD": url_password,
    "PASSWORD_ASSIGNMENT": password,
    "BEARER_TOKEN": bearer,
}
NO_GENERIC = {"URL_PASSWORD", "PASSWORD_ASSIGNMENT", "BEARER_TOKEN", "SLACK_WEBHOOK", "PEM_PRIVATE_KEY"}

AWS_TEMPLATES = [
    "[default]\naws_access_key_id = {k}\naws_secret_access_key = {s}\nregion = eu-west-1",
    "export AWS_ACCESS_KEY_ID={k}\nexport AWS_SECRET_ACCESS_KEY={s}\naws s3 ls s3://build-artifacts",
    's3 = boto3.client("s3", aws_access_key_id="{k}", aws_secret_access_key="{s}")',
    'provider "aws" {{\n  region     = "us-east-1"\n  access_key = "{k}"\n  secret_key = "{s}"\n}}',
    "getting SignatureDoesNotMatch with key {k} and secret {s}, what am I doing wrong?",
    "env:\n  - name: AWS_ACCESS_KEY_ID\n    value: {k}\n  - name: AWS_SECRET_ACCESS_KEY\n    value: {s}",
    "An error occurred (InvalidClientTokenId): The security token included in the request is invalid."
    " key={k}",
]


def generate() -> list[dict]:
    rng = random.Random(SEED)
    rows: list[dict] = []
    for i in range(28):
        template = AWS_TEMPLATES[i % len(AWS_TEMPLATES)]
        fields = {
            "k": Field(aws_key_id(rng), "SECRET", "AWS_ACCESS_KEY_ID"),
            "s": Field(aws_secret(rng), "SECRET", "AWS_SECRET_KEY"),
        }
        rows.append(render(template, fields, kind="secret"))
    for subtype, (var, lower, specific) in SPECIFIC.items():
        templates = specific + ([] if subtype in NO_GENERIC else GENERIC)
        count = 14 if subtype in NO_GENERIC else 13
        for i in range(count):
            template = templates[i % len(templates)] if i < len(templates) else rng.choice(templates)
            value = MAKERS[subtype](rng)
            if subtype == "PEM_PRIVATE_KEY" and "key: |" in template:
                value = "\n".join("    " + line for line in value.splitlines()).lstrip()
                template = template.replace("{s}", "    {s}")
            fields = {"s": Field(value, "SECRET", subtype), "VAR": var, "var": lower}
            rows.append(render(template, fields, kind="secret"))
    return rows
