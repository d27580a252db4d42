# ruff: noqa: E501  (templates are messages, one per line)
"""`chat.jsonl`: chat, CRM and prompt-style English text where names lose their usual cues.

Lower-case names after "thanks,", "met with", "talked to", "ask X to"; lower-case surnames opening
a sentence ("williams said ok"); e-mail signatures; @handles (USER_HANDLE, without the `@`); JSON
snippets with personal fields, also under Spanish, French, German and Italian keys ("nombre",
"telefono", "adresse", "strasse"); `Key: value` blocks; CSV with a header row. Templates written
here; values from Faker (en_US, en_GB, es_ES, fr_FR, de_DE, it_IT, en_IN names and streets).
"""

from __future__ import annotations

import random

from faker import Faker

from benchmarks.pii_sets.common import Field, ascii_fold, render

SEED = 9104
US_AREA_CODES = (
    "212",
    "213",
    "312",
    "415",
    "512",
    "617",
    "646",
    "702",
    "718",
    "206",
    "303",
    "305",
    "404",
    "503",
)
COMPANY_DOMAINS = [
    "northwind.io",
    "brightpath.co",
    "lumenhq.com",
    "orbitlabs.dev",
    "tallyware.net",
    "gmail.com",
]

LOWER_CUES = [
    "thanks, {first_l}! will do",
    "met with {full_l} from procurement today, they want a demo next week",
    "talked to {first_l} about the renewal, fine with 12 months",
    "ask {first_l} to send over the updated deck before friday",
    "can you loop in {full_l}? owns the budget on their side",
    "cc {first_l} {last_l}",
    "{first_l} is out today, ping {first2_l} instead",
    "just got off a call with {last_l}, they're probably churning",
    "fyi {first_l} left the company, new contact is {full2_l}",
    "ok thx {first_l}",
    "spoke with {full_l} re: the onboarding issue, sent them the docs",
    "pls have {first_l} call the client back tomorrow",
    "reminder: lunch w/ {first_l} and {first2_l} at 1",
    "got a voicemail from {full_l}, something about the invoice",
    "thanks {first_l}, appreciate the quick turnaround",
    "draft a polite reply to {full_l} saying we can't refund after 30 days",
]
SURNAME_VERB = [
    "{last_l} said ok to the 10% discount",
    "{last_l} wants the invoice split in two",
    "{last_l} called again about the refund, third time this week",
    "{last_l} confirmed the meeting for tuesday 3pm",
    "{last_l} asked whether we support SSO with okta",
    "{last_l} hasn't paid yet, send a reminder",
    "{last_l} agreed to move the launch to march",
    "{last_l} thinks the pricing page is confusing",
]
SIGNATURES = [
    "Let me know if you need anything else.\n\nBest,\n{First} {Last}\nSenior Account Manager | Brightpath\n{phone}\n{email}",
    "Thanks for the update, I'll review tonight.\n\n--\n{First} {Last}\nm: {phone}",
    "Sounds good, see you Thursday.\n\nCheers,\n{first_cap}",
    "Please find the signed copy attached.\n\nKind regards,\n\n{First} {Last}\nOperations Lead\nT {phone} | E {email}",
    "summarize this email thread for me:\n> Hi team, the vendor call moved to 4pm.\n> Regards, {First} {Last}",
    "Sent from my iPhone\n\n{First} {Last} | {phone}",
]
HANDLES = [
    "@{h} can you review this PR when you get a sec?",
    "thanks @{h} and @{h2} for the quick fix on the checkout bug",
    "assigning to @{h}, @{h2} is on PTO",
    "hey @{h} is the staging deploy done?",
    "@{h} @{h2} standup moved to 10:15",
    "ping @{h} if the alerts fire again tonight",
]
JSON_TEMPLATES = [
    (
        "en_US",
        'parse this and tell me what\'s missing:\n{{"name": "{full}", "email": "{email}", "phone": "{phone}", "plan": "pro"}}',
    ),
    (
        "en_US",
        '{{"id": 48211, "customer": {{"first_name": "{First}", "last_name": "{Last}", "email": "{email}"}}, "total": 129.9}}',
    ),
    (
        "es_ES",
        'valida este JSON: {{"nombre": "{full}", "telefono": "{phone}", "correo": "{email}", "direccion": "{street}"}}',
    ),
    ("fr_FR", '{{"nom": "{Last}", "prenom": "{First}", "adresse": "{street}", "tel": "{phone}"}}'),
    (
        "de_DE",
        '{{"vorname": "{First}", "nachname": "{Last}", "strasse": "{street}", "telefon": "{phone}", "email": "{email}"}}',
    ),
    ("it_IT", '{{"nome": "{full}", "indirizzo": "{street}", "cellulare": "{phone}"}}'),
    (
        "en_IN",
        'convert to a table:\n[{{"name": "{full}", "mobile": "{phone}"}}, {{"name": "{full2}", "mobile": "{phone2}"}}]',
    ),
    (
        "en_GB",
        '{{\n  "contact": {{\n    "fullName": "{full}",\n    "address": "{street}",\n    "email": "{email}"\n  }},\n  "status": "active"\n}}',
    ),
]
KEY_VALUE = [
    "Name: {full}\nEmail: {email}\nPhone: {phone}\nAddress: {street}\nPlan: Business",
    "Customer: {full}\nContact: {email}\nIssue: cannot export reports\nPriority: high",
    "write a welcome message for this lead:\nFirst name: {First}\nLast name: {Last}\nCompany: Tallyware\nMobile: {phone}",
    "Ticket #88213\nReporter: {full}\nReporter email: {email}\nSeverity: 2",
    "Emergency contact: {full2}\nRelationship: sister\nPhone: {phone2}",
]


def _phone(rng: random.Random, locale: str) -> str:
    d = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    if locale == "en_GB":
        mobile = rng.choice("45789") + d(2)  # 074-079: mobiles
        return rng.choice([f"07{mobile} {d(6)}", f"+44 7{mobile} {d(6)}"])
    if locale == "en_IN":
        return rng.choice([f"+91 9{d(4)} {d(5)}", f"9{d(9)}"])
    if locale in ("es_ES", "fr_FR", "de_DE", "it_IT"):
        cc = {"es_ES": "+34 6", "fr_FR": "+33 6", "de_DE": "+49 17", "it_IT": "+39 34"}[locale]
        return f"{cc}{d(2)} {d(3)} {d(3)}"
    # NANP: an area code in service, an exchange starting 2-9 and not 555
    area, exchange = rng.choice(US_AREA_CODES), f"{rng.randint(2, 9)}{rng.randint(0, 4)}{d(1)}"
    return rng.choice(
        [
            f"({area}) {exchange}-{d(4)}",
            f"{area}-{exchange}-{d(4)}",
            f"+1 {area} {exchange} {d(4)}",
        ]
    )


def _handle(first: str, last: str, rng: random.Random) -> str:
    f, l_ = ascii_fold(first).replace(" ", ""), ascii_fold(last).replace(" ", "")
    return rng.choice(
        [f"{f}{l_[0]}", f"{f[0]}{l_}", f"{f}.{l_}", f"{f}_{l_[:3]}", f"{f}{rng.randint(1, 99)}"]
    )


def _person(fake: Faker, locale: str, rng: random.Random) -> dict[str, Field]:
    loc = fake[locale]
    first, last = loc.first_name(), loc.last_name()
    first2, last2 = loc.first_name(), loc.last_name()
    em = f"{ascii_fold(first)}.{ascii_fold(last)}@{rng.choice(COMPANY_DOMAINS)}".replace(" ", "")
    street = " ".join(loc.street_address().replace("\n", ", ").split())
    return {
        "first_l": Field(first.lower(), "PERSON"),
        "last_l": Field(last.lower(), "PERSON"),
        "full_l": Field(f"{first} {last}".lower(), "PERSON"),
        "first2_l": Field(first2.lower(), "PERSON"),
        "full2_l": Field(f"{first2} {last2}".lower(), "PERSON"),
        "First": Field(first, "PERSON"),
        "Last": Field(last, "PERSON"),
        "first_cap": Field(first, "PERSON"),
        "full": Field(f"{first} {last}", "PERSON"),
        "full2": Field(f"{first2} {last2}", "PERSON"),
        "email": Field(em, "EMAIL_ADDRESS"),
        "phone": Field(_phone(rng, locale), "PHONE_NUMBER"),
        "phone2": Field(_phone(rng, locale), "PHONE_NUMBER"),
        "street": Field(street, "STREET_ADDRESS"),
        "h": Field(_handle(first, last, rng), "USER_HANDLE"),
        "h2": Field(_handle(first2, last2, rng), "USER_HANDLE"),
    }


def _csv(fake: Faker, rng: random.Random) -> dict:
    locale = rng.choice(["en_US", "en_GB", "en_US"])
    header = rng.choice(
        ["name,email,phone,city", "full_name,email,signup_date", "email,first_name,last_name,plan"]
    )
    template_lines = [
        "clean up this csv and dedupe by email:" if rng.random() < 0.5 else "import.csv:",
        header,
    ]
    fields: dict[str, Field | str] = {}
    for i in range(rng.randint(2, 4)):
        p = _person(fake, locale, rng)
        fields |= {
            f"full{i}": p["full"],
            f"email{i}": p["email"],
            f"phone{i}": p["phone"],
            f"First{i}": p["First"],
            f"Last{i}": p["Last"],
            f"city{i}": Field(fake[locale].city(), "GPE"),
            f"date{i}": f"2024-0{rng.randint(1, 9)}-1{i}",
        }
        line = {
            "name,email,phone,city": f"{{full{i}}},{{email{i}}},{{phone{i}}},{{city{i}}}",
            "full_name,email,signup_date": f'"{{full{i}}}",{{email{i}}},{{date{i}}}',
            "email,first_name,last_name,plan": f"{{email{i}}},{{First{i}}},{{Last{i}}},{rng.choice(['free', 'pro'])}",
        }[header]
        template_lines.append(line)
    return render("\n".join(template_lines), fields, locale="en", kind="csv")


def generate() -> list[dict]:
    rng = random.Random(SEED)
    fake = Faker(["en_US", "en_GB", "es_ES", "fr_FR", "de_DE", "it_IT", "en_IN"])
    fake.seed_instance(SEED)
    english = ["en_US", "en_US", "en_GB", "en_IN"]
    rows: list[dict] = []

    def add(templates: list[str], count: int, kind: str) -> None:
        for i in range(count):
            locale = rng.choice(english)
            rows.append(
                render(templates[i % len(templates)], _person(fake, locale, rng), locale="en", kind=kind)
            )

    add(LOWER_CUES, 80, "lowercase_name")
    add(SURNAME_VERB, 40, "lowercase_surname")
    add(SIGNATURES, 40, "signature")
    add(HANDLES, 40, "handle")
    for i in range(40):
        locale, template = JSON_TEMPLATES[i % len(JSON_TEMPLATES)]
        rows.append(render(template, _person(fake, locale, rng), locale="en", kind="json"))
    add(KEY_VALUE, 30, "key_value")
    rows.extend(_csv(fake, rng) for _ in range(30))
    return rows
