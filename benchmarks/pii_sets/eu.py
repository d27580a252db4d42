# ruff: noqa: E501  (templates are sentences, one per line)
"""`eu.jsonl`: support tickets and short customer messages in nine locales.

Templates are written here per language (orders, accounts, address changes, refunds to an IBAN,
call-back numbers, tax and national ids), filled with Faker values of the locale (names, street
names, postcodes, cities, IBANs, national ids where Faker's pass their checks) and with values
from `ids.py` and from the phone formats below, which follow each country's numbering plan as
people write it (local and international). Gold: PERSON, EMAIL_ADDRESS, PHONE_NUMBER,
STREET_ADDRESS (the street line; with postcode and city when they follow on the same line),
IBAN_CODE, NATIONAL_ID (with a subtype), and GPE / ZIP_CODE for a town or postcode on its own.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from faker import Faker

from benchmarks.pii_sets import ids
from benchmarks.pii_sets.common import Field, ascii_fold, render

SEED = 9101
ROWS_PER_LOCALE = 78


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _subscriber(rng: random.Random, n: int) -> str:
    # a fixed-line subscriber number never starts with 0 (that is the trunk prefix)
    return rng.choice("123456789") + _digits(rng, n - 1)


# --- phones: (national form, international form) per numbering plan -----------------------------


# mobile ranges in use (operators' published blocks), so no number is invalid by its prefix
IT_MOBILE = (
    "320",
    "324",
    "327",
    "328",
    "329",
    "330",
    "331",
    "333",
    "334",
    "335",
    "336",
    "337",
    "338",
    "339",
    "340",
    "342",
    "345",
    "346",
    "347",
    "348",
    "349",
    "350",
    "351",
    "366",
    "370",
    "371",
    "377",
    "380",
    "388",
    "389",
    "391",
    "392",
    "393",
)
PL_MOBILE = ("45", "50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88")


def phone_de(rng: random.Random) -> str:
    if rng.random() < 0.55:
        pre = rng.choice(["151", "152", "157", "160", "162", "170", "171", "172", "175", "176", "177", "179"])
        # 015x blocks have eight-digit subscriber numbers, 016x/017x seven or eight
        sub = _digits(rng, 8 if pre.startswith("15") else rng.choice([7, 8]))
        return rng.choice(
            [
                f"0{pre} {sub}",
                f"0{pre}/{sub}",
                f"+49 {pre} {sub}",
                f"+49 (0){pre} {sub[:4]} {sub[4:]}",
                f"0049 {pre} {sub}",
                f"0{pre}-{sub}",
            ]
        )
    area = rng.choice(["30", "40", "89", "69", "221", "211", "711", "351", "341", "511", "421", "6221"])
    sub = _subscriber(rng, 10 - len(area) if len(area) < 4 else 6)
    return rng.choice(
        [f"0{area} {sub}", f"(0{area}) {sub}", f"+49 {area} {sub}", f"0{area}-{sub[:3]} {sub[3:]}"]
    )


def phone_fr(rng: random.Random) -> str:
    first = rng.choice("67") if rng.random() < 0.6 else rng.choice("12345")
    pairs = [_digits(rng, 2) for _ in range(4)]
    if first == "7":  # ARCEP has opened 073-079 to mobiles so far
        pairs[0] = rng.choice("3456789") + pairs[0][1]
    return rng.choice(
        [
            f"0{first} {' '.join(pairs)}",
            f"0{first}.{'.'.join(pairs)}",
            f"0{first}{''.join(pairs)}",
            f"+33 {first} {' '.join(pairs)}",
            f"+33 (0){first} {' '.join(pairs)}",
            f"+33{first}{''.join(pairs)}",
        ]
    )


def phone_es(rng: random.Random) -> str:
    if rng.random() < 0.6:
        # mobiles: all of 6xx, and 71x-74x since 2011
        n = rng.choice(["6" + _digits(rng, 1), "7" + rng.choice("1234")]) + _digits(rng, 7)
        return rng.choice(
            [
                f"{n[:3]} {n[3:6]} {n[6:]}",
                n,
                f"+34 {n[:3]} {n[3:6]} {n[6:]}",
                f"+34 {n[:3]} {n[3:5]} {n[5:7]} {n[7:]}",
                f"0034 {n}",
            ]
        )
    n = rng.choice(["91", "93", "96", "95", "94"]) + _digits(rng, 7)
    return rng.choice([f"{n[:2]} {n[2:5]} {n[5:7]} {n[7:]}", f"+34 {n[:3]} {n[3:6]} {n[6:]}", n])


def phone_it(rng: random.Random) -> str:
    if rng.random() < 0.6:
        n = rng.choice(IT_MOBILE) + _digits(rng, 7)
        return rng.choice(
            [
                f"{n[:3]} {n[3:6]} {n[6:]}",
                n,
                f"+39 {n[:3]} {n[3:6]} {n[6:]}",
                f"+39 {n}",
                f"{n[:3]}/{n[3:]}",
                f"0039 {n[:3]} {n[3:]}",
            ]
        )
    area = rng.choice(["06", "02", "011", "055", "081", "051", "041"])
    sub = _subscriber(rng, 10 - len(area))
    return rng.choice([f"{area} {sub[:4]} {sub[4:]}", f"{area} {sub}", f"+39 {area} {sub}", f"{area}-{sub}"])


def phone_nl(rng: random.Random) -> str:
    if rng.random() < 0.6:
        sub = rng.choice("12345") + _digits(rng, 7)  # 06-6 is for pagers, 06-7 unused
        return rng.choice(
            [
                f"06-{sub}",
                f"06 {sub[:4]} {sub[4:]}",
                f"+31 6 {sub}",
                f"+31 (0)6 {sub[:4]} {sub[4:]}",
                f"0031 6 {sub}",
                f"06{sub}",
            ]
        )
    area = rng.choice(["20", "10", "70", "30", "40", "50"])
    sub = _subscriber(rng, 7)
    return rng.choice([f"0{area}-{sub}", f"0{area} {sub[:3]} {sub[3:]}", f"+31 {area} {sub[:3]} {sub[3:]}"])


def phone_pl(rng: random.Random) -> str:
    if rng.random() < 0.6:
        n = rng.choice(PL_MOBILE) + _digits(rng, 7)
        return rng.choice(
            [
                f"{n[:3]} {n[3:6]} {n[6:]}",
                f"+48 {n[:3]} {n[3:6]} {n[6:]}",
                f"+48 {n[:3]}-{n[3:6]}-{n[6:]}",
                n,
                f"+48{n}",
            ]
        )
    area = rng.choice(["22", "12", "61", "71", "58", "42"])
    sub = _subscriber(rng, 7)
    return rng.choice(
        [
            f"{area} {sub[:3]} {sub[3:5]} {sub[5:]}",
            f"+48 {area} {sub[:3]} {sub[3:5]} {sub[5:]}",
            f"({area}) {sub[:3]} {sub[3:5]} {sub[5:]}",
        ]
    )


def phone_gb(rng: random.Random) -> str:
    if rng.random() < 0.55:
        n = "7" + rng.choice("45789") + _digits(rng, 8)
        return rng.choice(
            [
                f"0{n[:4]} {n[4:]}",
                f"+44 {n[:4]} {n[4:]}",
                f"+44 (0){n[:4]} {n[4:7]} {n[7:]}",
                f"0{n}",
                f"0{n[:4]} {n[4:7]} {n[7:]}",
            ]
        )
    area, sub = rng.choice(
        [("20", 8), ("161", 7), ("113", 7), ("121", 7), ("131", 7), ("1223", 6), ("117", 7)]
    )
    # London numbers start 3, 7 or 8 after 020; the other areas here start 2-4
    s = rng.choice("378" if area == "20" else "234") + _digits(rng, sub - 1)
    if area == "20":
        return rng.choice([f"020 {s[:4]} {s[4:]}", f"+44 20 {s[:4]} {s[4:]}", f"(020) {s[:4]} {s[4:]}"])
    return rng.choice([f"0{area} {s[:3]} {s[3:]}", f"+44 {area} {s[:3]} {s[3:]}", f"(0{area}) {s}"])


def phone_in(rng: random.Random) -> str:
    if rng.random() < 0.7:
        n = rng.choice("6789") + _digits(rng, 9)
        return rng.choice(
            [f"{n[:5]} {n[5:]}", f"+91 {n[:5]} {n[5:]}", f"+91-{n}", n, f"0{n[:5]} {n[5:]}", f"+91 {n}"]
        )
    area, sub = rng.choice([("22", 8), ("11", 8), ("80", 8), ("44", 8), ("40", 8), ("20", 8), ("33", 8)])
    s = "2" + _digits(rng, sub - 1)  # BSNL-era landlines of the metros start with 2
    return rng.choice([f"0{area} {s[:4]} {s[4:]}", f"0{area}-{s}", f"+91 {area} {s[:4]} {s[4:]}"])


# --- addresses: (street line, postcode, city) ---------------------------------------------------


def _num(rng: random.Random, letters: str = "") -> str:
    n = str(rng.choice([rng.randint(1, 30), rng.randint(1, 180)]))
    return n + rng.choice(letters) if letters and rng.random() < 0.2 else n


def street_de(f: Faker, rng: random.Random) -> str:
    name = rng.choice(
        [
            f.street_name(),
            f.street_name(),
            rng.choice(
                ["Hauptstraße", "Bahnhofstraße", "Am Markt", "Lindenweg", "Schillerstraße", "Gartenstraße"]
            ),
        ]
    )
    return f"{name} {_num(rng, 'abc')}"


def street_fr(f: Faker, rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        return f"{_num(rng)}, {f.street_name()}"
    if kind < 0.5:
        return f"{_num(rng)} {rng.choice(['bis', 'ter'])} {f.street_name()}"
    if kind < 0.7:
        return (
            f"{_num(rng)} {rng.choice(['rue', 'avenue', 'boulevard', 'chemin', 'allée', 'impasse'])} "
            + rng.choice(
                [
                    "des Lilas",
                    "Victor Hugo",
                    "de la Paix",
                    "du Moulin",
                    "des Vignes",
                    "Jean Jaurès",
                    "Pasteur",
                ]
            )
        )
    return f"{_num(rng)} {f.street_name()}"


def street_es(f: Faker, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f.street_address()
    base = (
        rng.choice(["Calle", "C/", "Avda.", "Avenida de", "Paseo de", "Plaza"])
        + " "
        + rng.choice(
            ["Mayor", "Alcalá", "la Constitución", "Gran Vía", "San Vicente", "Colón", "los Reyes Católicos"]
        )
    )
    floor = rng.choice(
        ["", f", {rng.randint(1, 8)}º {rng.choice('ABCD')}", f", {rng.randint(1, 8)}ºD", ", bajo"]
    )
    return f"{base}, {_num(rng)}{floor}" if rng.random() < 0.6 else f"{base} {_num(rng)}{floor}"


def street_it(f: Faker, rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.4:
        return f.street_address()
    name = (
        rng.choice(["Via", "Viale", "Piazza", "Corso", "Vicolo", "Largo"])
        + " "
        + rng.choice(
            [
                "Roma",
                "Garibaldi",
                "Giuseppe Mazzini",
                "Vittorio Emanuele II",
                "Dante",
                "dei Mille",
                f.last_name(),
            ]
        )
    )
    return f"{name} {_num(rng)}" if kind < 0.75 else f"{name}, {_num(rng)}"


def street_nl(f: Faker, rng: random.Random) -> str:
    name = rng.choice([f.street_name(), rng.choice(["Kerkstraat", "Dorpsstraat", "Stationsweg", "Molenweg"])])
    return f"{name} {_num(rng, 'ABC')}" if rng.random() < 0.8 else f"{name} {_num(rng)}-{rng.randint(1, 3)}"


def street_pl(f: Faker, rng: random.Random) -> str:
    prefix = rng.choice(["ul. ", "ul. ", "al. ", "os. ", ""])
    flat = f"/{rng.randint(1, 80)}" if rng.random() < 0.5 else ""
    return f"{prefix}{f.street_name()} {_num(rng)}{flat}"


def street_gb(f: Faker, rng: random.Random) -> str:
    road = f"{f.last_name()} {rng.choice(['Road', 'Street', 'Lane', 'Close', 'Avenue', 'Drive', 'Gardens', 'Crescent', 'Way'])}"
    if rng.random() < 0.3:
        road = rng.choice(
            ["High Street", "Church Lane", "Station Road", "Mill Lane", "Victoria Road", "Park Avenue"]
        )
    kind = rng.random()
    if kind < 0.2:
        return f"Flat {rng.randint(1, 24)}, {_num(rng)} {road}"
    if kind < 0.3:
        return f"{rng.choice(['Rose Cottage', 'The Old Rectory', 'Orchard House', 'Willow Barn'])}, {road}"
    return f"{_num(rng, 'ab')} {road}"


def street_in(f: Faker, rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.35:
        return (
            f"Flat {rng.randint(1, 14)}0{rng.randint(1, 8)}, {rng.choice(['Sai', 'Shanti', 'Green', 'Lake'])} "
            f"{rng.choice(['Residency', 'Apartments', 'Heights', 'Enclave'])}, {f.street_name()}"
        )
    if kind < 0.6:
        return f"H.No. {rng.randint(1, 20)}-{rng.randint(1, 9)}-{rng.randint(1, 300)}, {f.street_name()}"
    if kind < 0.8:
        return f"{rng.randint(1, 400)}, {rng.choice(['MG Road', '2nd Cross', '4th Main Road', 'Station Road'])}, {f.street_name()}"
    return f.street_address()


GB_TOWNS = ["Leeds", "Manchester", "Bristol", "Sheffield", "Reading", "Norwich", "York", "Cardiff", "Glasgow"]
IN_CITIES = ["Pune", "Bengaluru", "Hyderabad", "Chennai", "Mumbai", "New Delhi", "Kolkata", "Jaipur", "Kochi"]


def postcode(f: Faker, locale: str, rng: random.Random) -> str:
    if locale == "en-IN":
        return f"{rng.randint(11, 85)}{rng.randint(0, 9999):04d}"
    code = f.postcode()
    if locale == "nl" and rng.random() < 0.6:
        code = f"{code[:4]} {code[4:]}"
    return code


def city(f: Faker, locale: str, rng: random.Random) -> str:
    if locale == "en-GB":
        return rng.choice(GB_TOWNS)
    if locale == "en-IN":
        return rng.choice(IN_CITIES)
    return f.city()


def full_address(street: str, zip_: str, town: str, locale: str, rng: random.Random) -> str:
    if locale == "en-GB":
        return f"{street}, {town} {zip_}"
    if locale == "en-IN":
        return f"{street}, {town} {rng.choice(['', '- '])}{zip_}"
    if locale == "it" and rng.random() < 0.3:
        return f"{street}, {zip_} {town} ({town[:2].upper()})"
    return f"{street}, {zip_} {town}"


# --- national ids -------------------------------------------------------------------------------


def national_id(f: Faker, locale: str, rng: random.Random, last: str) -> Field:
    if locale == "de":
        if rng.random() < 0.5:
            v = ids.de_tax_id(rng)
            return Field(
                rng.choice([v, ids.group(v, (2, 3, 3, 3)), ids.group(v, (3, 3, 3, 2))]),
                "NATIONAL_ID",
                "DE_TAX_ID",
            )
        v = ids.de_pension_number(rng, last, f.date_of_birth(minimum_age=18, maximum_age=80))
        return Field(rng.choice([v, ids.group(v, (2, 6, 1, 3))]), "NATIONAL_ID", "DE_PENSION_NUMBER")
    if locale == "fr":
        v = f.ssn()
        return Field(rng.choice([v, ids.group(v, (1, 2, 2, 2, 3, 3, 2))]), "NATIONAL_ID", "FR_NIR")
    if locale == "es":
        return (
            Field(f.nif(), "NATIONAL_ID", "ES_NIF")
            if rng.random() < 0.6
            else Field(f.nie(), "NATIONAL_ID", "ES_NIE")
        )
    if locale == "it":
        return Field(f.ssn(), "NATIONAL_ID", "IT_FISCAL_CODE")
    if locale == "nl":
        v = f.ssn()
        return Field(rng.choice([v, v, ids.group(v, (4, 2, 3), ".")]), "NATIONAL_ID", "NL_BSN")
    if locale == "pl":
        return Field(f.pesel(), "NATIONAL_ID", "PL_PESEL")
    if locale == "en-GB":
        v = ids.uk_nino(rng)
        return Field(rng.choice([v, ids.group(v, (2, 2, 2, 2, 1))]), "NATIONAL_ID", "UK_NINO")
    if rng.random() < 0.5:
        v = ids.in_aadhaar(rng)
        return Field(
            rng.choice([ids.group(v, (4, 4, 4)), ids.group(v, (4, 4, 4)), v]), "NATIONAL_ID", "IN_AADHAAR"
        )
    return Field(ids.in_pan(rng, last), "NATIONAL_ID", "IN_PAN")


MAIL_DOMAINS = {
    "de": ["gmx.de", "web.de", "t-online.de", "gmail.com", "posteo.de"],
    "fr": ["orange.fr", "laposte.net", "free.fr", "gmail.com", "sfr.fr"],
    "es": ["gmail.com", "hotmail.es", "yahoo.es", "telefonica.net"],
    "it": ["libero.it", "gmail.com", "virgilio.it", "tiscali.it", "alice.it"],
    "nl": ["ziggo.nl", "kpnmail.nl", "gmail.com", "hotmail.nl", "xs4all.nl"],
    "pl": ["wp.pl", "onet.pl", "o2.pl", "gmail.com", "interia.pl"],
    "en-GB": ["btinternet.com", "gmail.com", "outlook.com", "yahoo.co.uk", "sky.com"],
    "en-IN": ["gmail.com", "yahoo.co.in", "rediffmail.com", "outlook.com"],
}


def email(first: str, last: str, locale: str, rng: random.Random) -> str:
    f, l_ = ascii_fold(first).replace(" ", ""), ascii_fold(last).replace(" ", "")
    local = rng.choice(
        [
            f"{f}.{l_}",
            f"{f[0]}.{l_}",
            f"{f}{l_}{rng.randint(1, 99)}",
            f"{l_}.{f}",
            f"{f}_{l_}",
            f"{f}{rng.randint(70, 99)}",
        ]
    )
    return f"{local}@{rng.choice(MAIL_DOMAINS[locale])}"


LOCALES: dict[str, tuple[str, Callable[[random.Random], str], Callable[[Faker, random.Random], str]]] = {
    "de": ("de_DE", phone_de, street_de),
    "fr": ("fr_FR", phone_fr, street_fr),
    "es": ("es_ES", phone_es, street_es),
    "it": ("it_IT", phone_it, street_it),
    "nl": ("nl_NL", phone_nl, street_nl),
    "pl": ("pl_PL", phone_pl, street_pl),
    "en-GB": ("en_GB", phone_gb, street_gb),
    "en-IN": ("en_IN", phone_in, street_in),
}


def values(f: Faker, locale: str, rng: random.Random) -> dict[str, Field]:
    _, phone, street_fn = LOCALES[locale]
    first, last = f.first_name(), f.last_name()
    first2, last2 = f.first_name(), f.last_name()
    street = " ".join(street_fn(f, rng).split())  # Faker leaves trailing spaces in some forms
    zip_, town = postcode(f, locale, rng), city(f, locale, rng)
    # Faker's de_DE, nl_NL, en_GB and en_IN numbers include invalid ones ("0005119117", unassigned area
    # codes); those locales use the numbering-plan generators above only
    use_faker_phone = locale in ("fr", "es", "it", "pl") and rng.random() < 0.25
    iban = ids.iban_print(f.iban(), rng) if locale != "en-IN" else ""
    return {
        "name": Field(f"{first} {last}", "PERSON"),
        "first": Field(first, "PERSON"),
        "last": Field(last, "PERSON"),
        "name2": Field(f"{first2} {last2}", "PERSON"),
        "email": Field(email(first, last, locale, rng), "EMAIL_ADDRESS"),
        "phone": Field(f.phone_number() if use_faker_phone else phone(rng), "PHONE_NUMBER"),
        "phone2": Field(phone(rng), "PHONE_NUMBER"),
        "street": Field(street, "STREET_ADDRESS"),
        "address": Field(full_address(street, zip_, town, locale, rng), "STREET_ADDRESS"),
        "zip": Field(zip_, "ZIP_CODE"),
        "city": Field(town, "GPE"),
        "iban": Field(iban, "IBAN_CODE"),
        "id": national_id(f, locale, rng, last),
        "order": Field(f"{rng.choice(['', '#', 'A-', 'BE'])}{rng.randint(100000, 9999999)}"),
        "amount": Field(f"{rng.randint(5, 900)},{rng.randint(0, 99):02d}"),
        "amount_dot": Field(f"{rng.randint(5, 900)}.{rng.randint(0, 99):02d}"),
    }


TEMPLATES: dict[str, list[str]] = {
    "de": [
        "Hallo, hier ist {name}. Meine Bestellung {order} ist immer noch nicht angekommen. Bitte rufen Sie mich unter {phone} zurück.",
        "Guten Tag,\nbitte ändern Sie meine Lieferadresse auf {address}.\nMit freundlichen Grüßen\n{name}",
        "Sehr geehrte Damen und Herren, bitte erstatten Sie die {amount} € auf mein Konto IBAN {iban} zurück. Danke, {name}",
        "Ich habe mein Passwort vergessen und komme nicht mehr in mein Konto. Die hinterlegte E-Mail ist {email}, erreichbar bin ich unter {phone}.",
        "Für die Rechnung brauche ich meine Steuer-ID bzw. Versicherungsnummer im Profil: {id}. Gruß {first}",
        "Paket bitte an {name}, {street} schicken, nicht an die alte Adresse. Rückfragen gern an {email}.",
        "Hi, das Konto hat damals {name2} eröffnet, jetzt läuft es auf mich, {name}. Können Sie die Handynummer auf {phone} ändern?",
        "Reklamation zu Auftrag {order}: Ware defekt. Bitte Gutschrift auf {iban} von meiner Sparkasse. Frau {last}, Tel. {phone2}",
        "Rückruf erbeten: {first} {last}, {phone}. Es geht um die Kündigung zum Monatsende.",
        "Neue Anschrift ab 1.3.:\n{street}\n{zip} {city}\nViele Grüße, {name}",
        "Anbei meine Daten für die Lohnabrechnung: {name}, Steuer-ID / RV-Nr. {id}, IBAN {iban}",
        "Können Sie bitte die Nummer {id} bei mir hinterlegen? Die alte war falsch. LG {first}",
        "Betreff: Korrektur Stammdaten\nName: {name}\nIdentifikationsnummer: {id}\nTelefon: {phone}",
    ],
    "fr": [
        "Bonjour, je suis {name} et ma commande {order} n'est toujours pas arrivée. Pouvez-vous me rappeler au {phone} ?",
        "Merci de livrer désormais au {address}. Cordialement, {name}",
        "Je souhaite être remboursée de {amount} € sur mon IBAN {iban} dès que possible. {name}",
        "Mon numéro de sécurité sociale {id} est mal saisi dans mon espace client, pouvez-vous le corriger ?",
        "Bonjour,\nj'ai changé d'adresse e-mail : {email}. L'ancienne ne fonctionne plus.\nBien à vous,\n{first} {last}",
        "Le colis doit être remis à {name2}, {street}, code de la porte 1234B. Mon portable : {phone}",
        "Madame {last} a appelé pour son abonnement, rappeler au {phone2} après 18h.",
        "Nouvelle adresse :\n{street}\n{zip} {city}\nMerci, {name}",
        "Je n'arrive plus à me connecter avec {email}, pouvez-vous réinitialiser mon compte ? — {first}",
        "Remboursement à faire sur le compte {iban} au nom de {name}, commande {order}.",
        "Pour mon dossier, voici mon n° de sécu : {id}. Merci de ne pas le communiquer. {name}",
        "Objet : attestation employeur\nNom : {name}\nN° INSEE {id}\nTél. {phone}",
        "Le numéro {id} est bien le mien, je confirme. {first}",
    ],
    "es": [
        "Hola, soy {name}. Mi pedido {order} no ha llegado todavía, ¿me podéis llamar al {phone}?",
        "Buenas tardes, por favor cambien la dirección de envío a {address}. Gracias, {name}",
        "Quiero la devolución de {amount} € a mi cuenta IBAN {iban} de la que pagué. Un saludo, {first}",
        "Mi DNI/NIE es {id} y no me deja completar el registro, ¿qué hago?",
        "He cambiado de correo, ahora es {email}. El teléfono sigue siendo {phone}. {name}",
        "El paquete es para {name2}, {street}. Si no hay nadie, dejadlo en portería.",
        "Llamar a la señora {last} al {phone2} por la incidencia del pedido {order}.",
        "Datos para la factura:\n{name}\nNIF: {id}\n{street}\n{zip} {city}",
        "No puedo entrar a mi cuenta con {email}, ¿podéis ayudarme? Gracias, {name}",
        "Reembolso pendiente: {iban} a nombre de {name}.",
        "Adjunto mis datos: {name}, documento {id}, teléfono {phone}.",
        "El titular es {name2} y su DNI es {id}, ¿podéis cambiarlo?",
        "Para la nómina: NIF {id}, cuenta {iban}. Gracias. {first}",
    ],
    "it": [
        "Buongiorno, sono {name}: il mio ordine {order} non è ancora arrivato. Potete richiamarmi al {phone}?",
        "Vi prego di cambiare l'indirizzo di consegna in {address}. Grazie, {name}",
        "Chiedo il rimborso di {amount} € sull'IBAN {iban} intestato a me. Cordiali saluti, {name}",
        "Il mio codice fiscale {id} risulta errato in fattura, potete correggerlo?",
        "Ho cambiato email: ora uso {email}. Il cellulare è sempre {phone}. {first}",
        "Il pacco va consegnato a {name2}, {street}, citofono {last}.",
        "Richiamare la signora {last} al {phone2} per il reso dell'ordine {order}.",
        "Dati per la fattura:\n{name}\nC.F. {id}\n{street}\n{zip} {city}",
        "Non riesco ad accedere con {email}, mi aiutate? Grazie mille, {name}",
        "Rimborso da effettuare su {iban} a nome di {name}, ordine {order}.",
        "Il codice fiscale di mia madre, {name2}, è {id}: va messo sulla sua fattura.",
        "Oggetto: cambio intestatario\nNome: {name}\nCF {id}\nTel {phone}",
        "Confermo codice fiscale {id} e IBAN {iban}. Saluti, {first}",
    ],
    "nl": [
        "Hallo, met {name}. Mijn bestelling {order} is nog steeds niet geleverd. Kunt u mij terugbellen op {phone}?",
        "Graag het afleveradres wijzigen naar {address}. Met vriendelijke groet, {name}",
        "Ik wil graag dat de {amount} euro wordt teruggestort op mijn rekening {iban}. Groet, {first}",
        "Mijn BSN {id} staat verkeerd in mijn account, kan dat aangepast worden?",
        "Mijn nieuwe e-mailadres is {email}, telefoon blijft {phone}. {name}",
        "Pakket is voor {name2}, {street}. Bij geen gehoor graag bij de buren afgeven.",
        "Mevrouw {last} terugbellen op {phone2} over retour {order}.",
        "Nieuw adres:\n{street}\n{zip} {city}\nGroeten, {name}",
        "Ik kan niet inloggen met {email}, kunnen jullie helpen? Bedankt, {name}",
        "Terugbetaling naar {iban} t.n.v. {name}, bestelling {order}.",
        "Voor de loonadministratie: {name}, burgerservicenummer {id}.",
        "Het BSN {id} hoort bij {name2}, niet bij mij. Kunt u dat splitsen?",
        "Onderwerp: gegevens wijzigen\nNaam: {name}\nBSN: {id}\nTel.: {phone}",
    ],
    "pl": [
        "Dzień dobry, tu {name}. Moje zamówienie {order} jeszcze nie dotarło. Proszę o kontakt pod numerem {phone}.",
        "Proszę zmienić adres dostawy na {address}. Pozdrawiam, {name}",
        "Proszę o zwrot {amount} zł na konto {iban} z którego płaciłem. {name}",
        "Mój PESEL {id} jest błędnie wpisany na fakturze, czy można to poprawić?",
        "Zmieniłam adres e-mail na {email}, telefon bez zmian: {phone}. {first}",
        "Paczka dla {name2}, {street}. Kod do domofonu podam telefonicznie.",
        "Oddzwonić do pani {last} na {phone2} w sprawie zwrotu {order}.",
        "Dane do faktury:\n{name}\nPESEL {id}\n{street}\n{zip} {city}",
        "Nie mogę się zalogować na {email}, proszę o pomoc. Dziękuję, {name}",
        "Zwrot na rachunek {iban} dla {name}, zamówienie {order}.",
        "W załączniku dane do umowy: {name}, PESEL {id}, tel. {phone}.",
        "PESEL {id} należy do mojego syna, {name2}. Proszę poprawić.",
        "Potwierdzam numer {id} oraz konto {iban}. {first}",
    ],
    "en-GB": [
        "Hi, it's {name} here. My order {order} still hasn't arrived, could you ring me back on {phone}?",
        "Please change my delivery address to {address}. Many thanks, {name}",
        "I'd like the refund of £{amount_dot} paid back to my account, IBAN {iban} from my Barclays card statement. Cheers, {first}",
        "My National Insurance number is {id}, the payslip shows the wrong one. Can HR fix it?",
        "I've changed my email to {email}. Mobile is still {phone}. {name}",
        "Parcel is for {name2}, {street}. Leave it with the neighbour at no. 12 if nobody's in.",
        "Mrs {last} called about return {order}, please call her back on {phone2} after 5pm.",
        "New address from next month:\n{street}\n{city}\n{zip}\nKind regards,\n{name}",
        "I can't log in with {email}, can you reset it? Thanks, {name}",
        "Refund to {iban} in the name of {name}, order {order}.",
        "For the payroll form: {name}, NI number {id}, sort code and IBAN {iban}.",
        "Hi, my NINO is {id} and my surname changed to {last} after I got married.",
        "Subject: update details\nName: {name}\nNI No: {id}\nTel: {phone}",
    ],
    "en-IN": [
        "Hello, this is {name}. My order {order} is not delivered yet, kindly call me on {phone}.",
        "Kindly update my delivery address to {address}. Regards, {name}",
        "Please share the refund status, amount Rs {amount_dot}. My PAN/Aadhaar for KYC is {id}. - {first}",
        "My Aadhaar/PAN {id} is showing wrong in the KYC form, please correct it at the earliest.",
        "I have changed my mail id to {email}. Mobile number is same, {phone}. {name}",
        "Parcel is for {name2}, {street}. Please call before coming.",
        "Mrs. {last} called regarding return {order}, call back on {phone2} after 6 pm.",
        "New address:\n{address}\nThanks and regards,\n{name}",
        "Unable to login with {email}, please do the needful. Thanks, {name}",
        "Hi team, {first} here, my number {phone} is not getting OTP for order {order}.",
        "KYC details: Name {name}, Aadhaar/PAN {id}, mobile {phone}.",
        "PAN/Aadhaar {id} belongs to my father {name2}, please link it to his account only.",
        "Please verify my documents, number {id}. Regards, {first}",
    ],
}


def generate() -> list[dict]:
    rows: list[dict] = []
    for index, (locale, (faker_locale, _, _)) in enumerate(LOCALES.items()):
        fake = Faker(faker_locale)
        fake.seed_instance(SEED + index)
        rng = random.Random(SEED + index)
        templates = TEMPLATES[locale]
        for i in range(ROWS_PER_LOCALE):
            template = templates[i % len(templates)]
            rows.append(render(template, values(fake, locale, rng), locale=locale, kind="support_ticket"))
    return rows
