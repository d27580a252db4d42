"""`obfuscated.jsonl`: phone numbers and e-mail addresses written the way that defeats naive patterns.

Phones with non-breaking (U+00A0), narrow no-break (U+202F, French typography) and thin (U+2009)
spaces, full-width digits (U+FF10-FF19, as CJK input methods produce), `030 / 1234 5678` area
slashes, `+49 (0) 176 - 234 567 89` trunk zeros with dashes, and digits spaced one by one. E-mail
addresses with spaces around `@`, a full-width at sign (U+FF20), a zero-width space (U+200B) inside,
spelled out ("john dot smith at gmail dot com") or bracketed ("jane(at)example(dot)org"). The span
is the whole written form; the subtype names the trick. Values: Faker names, own digits.
"""

from __future__ import annotations

import random

from faker import Faker

from benchmarks.pii_sets.common import Field, ascii_fold, render
from benchmarks.pii_sets.eu import IT_MOBILE, PL_MOBILE

SEED = 9103
NBSP, NNBSP, THIN, ZWSP = "\u00a0", "\u202f", "\u2009", "\u200b"
# the full-width forms of ASCII sit at a fixed offset (U+FF01-FF5E for U+0021-007E)
FULLWIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "0123456789+()-"})
FULLWIDTH_AT = "\uff20"


def _d(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _nz(rng: random.Random, lowest: int = 1) -> str:
    """A first digit of a subscriber number (never the trunk 0; US exchanges start at 2)."""
    return str(rng.randint(lowest, 9))


def phone(rng: random.Random) -> tuple[str, str, str]:
    """(value, subtype, locale)."""
    kind = rng.randrange(8)
    if kind == 0:
        m = f"17{rng.randint(0, 9)}"
        return (
            NBSP.join(["+49", m, _d(rng, 8)]) if rng.random() < 0.5 else f"0{m}{NBSP}{_d(rng, 8)}",
            "NBSP",
            "de",
        )
    if kind == 1:
        pairs = [f"0{rng.choice('67')}"] + [_d(rng, 2) for _ in range(4)]
        if pairs[0] == "07":  # only 073-079 are open to mobiles
            pairs[1] = rng.choice("3456789") + pairs[1][1]
        if rng.random() < 0.5:
            return NNBSP.join(pairs), "NNBSP", "fr"
        return f"+33{NNBSP}{pairs[0][1]}{NNBSP}" + NNBSP.join(pairs[1:]), "NNBSP", "fr"
    if kind == 2:
        n = f"7{rng.choice('4789')}{_d(rng, 2)}"
        return (
            THIN.join(["+44", n, _d(rng, 6)])
            if rng.random() < 0.5
            else f"0{n}{THIN}{_d(rng, 3)}{THIN}{_d(rng, 3)}",
            "THIN_SPACE",
            "en-GB",
        )
    if kind == 3:
        plain = rng.choice(
            [
                f"+49 176 {_d(rng, 8)}",
                f"090-{_d(rng, 4)}-{_d(rng, 4)}",
                f"+44 7{rng.choice('4789')}{_d(rng, 2)} {_d(rng, 6)}",
                f"(030) {_nz(rng)}{_d(rng, 7)}",
                f"+1 (415) {_nz(rng, 2)}{_d(rng, 2)}-{_d(rng, 4)}",
            ]
        )
        return plain.translate(FULLWIDTH), "FULLWIDTH_DIGITS", "mixed"
    if kind == 4:
        area = rng.choice(["030", "089", "040", "0221", "069"])
        return (
            rng.choice(
                [
                    f"{area} / {_nz(rng)}{_d(rng, 3)} {_d(rng, 4)}",
                    f"{area} / {_nz(rng)}{_d(rng, 1)} {_d(rng, 2)} {_d(rng, 2)} {_d(rng, 2)}",
                    f"{area}/ {_nz(rng)}{_d(rng, 6)}",
                ]
            ),
            "AREA_SLASH",
            "de",
        )
    if kind == 5:
        m = rng.choice(["176", "151", "160", "172"])
        return (
            rng.choice(
                [
                    f"+49 (0) {m} - {_d(rng, 3)} {_d(rng, 3)} {_d(rng, 2)}",
                    f"+49 (0)-{m}-{_d(rng, 8)}",
                    f"(+49) 0{m} - {_d(rng, 4)} {_d(rng, 4)}",
                ]
            ),
            "TRUNK_ZERO_DASHES",
            "de",
        )
    if kind == 6:
        n = f"07{rng.choice('45789')}{_d(rng, 8)}" if rng.random() < 0.5 else f"06{_d(rng, 8)}"
        return " ".join(n), "SPACED_DIGITS", "en-GB" if n.startswith("07") else "fr"
    # mobiles: Italy 3xx + 7 digits, Spain 6xx, the Netherlands 6 + 8 digits, Poland's mobile blocks
    cc, national = rng.choice(
        [
            ("+39", rng.choice(IT_MOBILE) + _d(rng, 7)),
            ("+34", "6" + _d(rng, 8)),
            ("+31", "6" + rng.choice("12345") + _d(rng, 7)),
            ("+48", rng.choice(PL_MOBILE) + _d(rng, 7)),
        ]
    )
    sep = rng.choice([NBSP, NNBSP, THIN])
    return sep.join([cc, national[:3], national[3:6], national[6:]]), "MIXED_SPACES", "mixed"


def email(f: Faker, rng: random.Random) -> tuple[str, str]:
    first, last = ascii_fold(f.first_name()).replace(" ", ""), ascii_fold(f.last_name()).replace(" ", "")
    user = rng.choice(
        [f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}", f"{first}{rng.randint(1, 99)}"]
    )
    domain, tld = rng.choice(
        [
            ("gmail", "com"),
            ("web", "de"),
            ("outlook", "com"),
            ("yahoo", "fr"),
            ("proton", "me"),
            ("libero", "it"),
            ("acme-corp", "io"),
            ("uni-hamburg", "de"),
        ]
    )
    kind = rng.randrange(8)
    if kind == 0:
        return f"{user} @ {domain}.{tld}", "SPACED_AT"
    if kind == 1:
        at = FULLWIDTH_AT
        return rng.choice([f"{user}{at}{domain}.{tld}", f"{user} {at} {domain}.{tld}"]), "FULLWIDTH_AT"
    if kind == 2:
        cut = rng.randint(1, len(user) - 1)
        return rng.choice(
            [
                f"{user[:cut]}{ZWSP}{user[cut:]}@{domain}.{tld}",
                f"{user}@{ZWSP}{domain}.{tld}",
                f"{user}{ZWSP}@{domain}.{tld}",
            ]
        ), "ZERO_WIDTH"
    if kind == 3:
        spoken = user.replace(".", " dot ").replace("_", " underscore ")
        return rng.choice(
            [f"{spoken} at {domain} dot {tld}", f"{spoken} AT {domain} DOT {tld}"]
        ), "SPELLED_AT_DOT"
    if kind == 4:
        return rng.choice(
            [
                f"{user}(at){domain}(dot){tld}",
                f"{user} (at) {domain} (dot) {tld}",
                f"{user}(at){domain}.{tld}",
            ]
        ), "PAREN_AT"
    if kind == 5:
        return rng.choice(
            [
                f"{user} [at] {domain} [dot] {tld}",
                f"{user}[at]{domain}.{tld}",
                f"{user}{{at}}{domain}{{dot}}{tld}",
            ]
        ), "BRACKET_AT"
    if kind == 6:
        return f"{user}@{domain} .{tld}" if rng.random() < 0.5 else f"{user}@ {domain}.{tld}", "SPACED_DOT"
    return f"{user.upper()}@{domain.upper()}.{tld.upper()}", "UPPERCASE"


PHONE_TEMPLATES = [
    "You can reach me on {p} any time after 10.",
    "Tel.: {p}",
    "Bitte um Rückruf unter {p}, danke!",
    "Mon numéro : {p} (laissez un message)",
    "Call {name} at {p} about the invoice.",
    "mobile: {p}\nplease don't share it",
    "Kontakt: {name}, {p}",
    "my new number is {p}, the old one is gone",
]
EMAIL_TEMPLATES = [
    "write to me at {e}, not the work address",
    "E-Mail: {e}",
    "Contact {name}: {e}",
    "pls send the contract to {e} thx",
    "Mon adresse : {e}",
    "reach out via {e} if anything changes",
    "Scrivimi a {e} per conferma.",
]


def generate() -> list[dict]:
    rng = random.Random(SEED)
    fake = Faker(["en_GB", "de_DE", "fr_FR", "it_IT"])
    fake.seed_instance(SEED)
    rows: list[dict] = []
    for i in range(80):
        value, subtype, locale = phone(rng)
        fields = {
            "p": Field(value, "PHONE_NUMBER", subtype),
            "name": Field(f"{fake.first_name()} {fake.last_name()}", "PERSON"),
        }
        rows.append(
            render(PHONE_TEMPLATES[i % len(PHONE_TEMPLATES)], fields, locale=locale, kind="obfuscated")
        )
    for i in range(72):
        value, subtype = email(fake, rng)
        fields = {
            "e": Field(value, "EMAIL_ADDRESS", subtype),
            "name": Field(f"{fake.first_name()} {fake.last_name()}", "PERSON"),
        }
        rows.append(render(EMAIL_TEMPLATES[i % len(EMAIL_TEMPLATES)], fields, kind="obfuscated"))
    return rows
