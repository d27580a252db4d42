"""Street-address recognizer: address forms of several countries, blocks, and hard negatives."""

from __future__ import annotations

import pytest

from proxy.recognizers import consentry_recognizers
from proxy.recognizers.addresses import ENTITY, StreetAddressRecognizer

THRESHOLD = 0.4  # the default policy threshold
IGNORED = set(" \t\n\r,.-()")

recognizer = StreetAddressRecognizer()


def found(text: str) -> list[tuple[int, int, float]]:
    results = recognizer.analyze(text, [ENTITY], nlp_artifacts=None)
    assert all(r.entity_type == ENTITY for r in results)
    return [(r.start, r.end, r.score) for r in results if r.score >= THRESHOLD]


def uncovered(text: str, part: str) -> str:
    """The characters of `part` (inside `text`) that no detection covers, separators aside."""
    start = text.index(part)
    covered = bytearray(len(text))
    for s, e, _ in found(text):
        covered[s:e] = b"\x01" * (e - s)
    return "".join(
        ch for i, ch in enumerate(part, start) if not covered[i] and ch not in IGNORED and text[i] == ch
    )


POSITIVES = [
    # (text, the address in it)
    ("Send it to 1600 Pennsylvania Avenue NW, Washington, DC 20500 please.",
     "1600 Pennsylvania Avenue NW, Washington, DC 20500"),
    ("I live at 221B Baker Street, London NW1 6XE.", "221B Baker Street, London NW1 6XE"),
    ("Flat 3, 12 High Street, London SW1A 1AA, United Kingdom",
     "Flat 3, 12 High Street, London SW1A 1AA, United Kingdom"),
    ("Our office: 350 Fifth Avenue, New York, NY 10118", "350 Fifth Avenue, New York, NY 10118"),
    ("123 Main St., Suite 400, Chicago, IL 60601", "123 Main St., Suite 400, Chicago, IL 60601"),
    ("Apt 4B, 55 Water St, Brooklyn", "Apt 4B, 55 Water St, Brooklyn"),
    ("3rd Floor, 25 Old Broad Street, London EC2N 1HQ", "3rd Floor, 25 Old Broad Street, London EC2N 1HQ"),
    ("Hauptstraße 5, 10115 Berlin, Germany", "Hauptstraße 5, 10115 Berlin, Germany"),
    ("Please ship to Bahnhofstrasse 10, 8001 Zürich, Switzerland",
     "Bahnhofstrasse 10, 8001 Zürich, Switzerland"),
    ("Write to Leopold Strasse 47a in Munich", "Leopold Strasse 47a"),
    ("The shop is at Prinsengracht 263, 1016 GV Amsterdam", "Prinsengracht 263, 1016 GV Amsterdam"),
    ("Kungsgatan 12, 111 43 Stockholm", "Kungsgatan 12, 111 43 Stockholm"),
    ("Karl Johans gate 22, 0159 Oslo", "Karl Johans gate 22, 0159 Oslo"),
    ("Nørrebrogade 20, 2200 København N", "Nørrebrogade 20, 2200 København"),
    ("Laugavegur 26, 101 Reykjavík, Iceland", "Laugavegur 26, 101 Reykjavík, Iceland"),
    ("Mannerheimintie 5, 00100 Helsinki", "Mannerheimintie 5, 00100 Helsinki"),
    ("Billing: Piazza San Marco 1, 30124 Venezia VE, Italy", "Piazza San Marco 1, 30124 Venezia VE, Italy"),
    ("She lives at Via Giuseppe Verdi 14", "Via Giuseppe Verdi 14"),
    ("12 rue de la Paix, 75002 Paris, France", "12 rue de la Paix, 75002 Paris, France"),
    ("deliver to Calle de Alcalá 50, 28014 Madrid", "Calle de Alcalá 50, 28014 Madrid"),
    ("Rua Augusta 100, 1100-053 Lisboa", "Rua Augusta 100, 1100-053 Lisboa"),
    ("ul. Marszałkowska 10/12 m. 5, 00-590 Warszawa", "ul. Marszałkowska 10/12 m. 5, 00-590 Warszawa"),
    ("my address is Andrássy út 12, 1061 Budapest", "Andrássy út 12, 1061 Budapest"),
    ("Hungarian office: Petőfi Sándor utca 3.", "Petőfi Sándor utca 3."),
    ("Odos Ermou 15, Athens 105 63", "Odos Ermou 15, Athens 105 63"),
    ("P.O. Box 1234, Springfield, IL 62701", "P.O. Box 1234, Springfield, IL 62701"),
    ("Ship it to PSC 1234, Box 5678\nAPO AE 09123", "PSC 1234, Box 5678\nAPO AE 09123"),
    ("Mail goes to USS Constitution\nFPO AA 34090", "USS Constitution\nFPO AA 34090"),
    ("Pick me up at the corner of Market Street and 5th Avenue",
     "the corner of Market Street and 5th Avenue"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "address"), POSITIVES)
def test_addresses_are_covered(text: str, address: str) -> None:
    assert uncovered(text, address) == ""


def test_greek_script_street_with_unit_and_country() -> None:
    text = "New address: 12 Αθηνάς 45 Apt. 7, Λεμεσός, Cyprus 3025"
    assert uncovered(text, "12 Αθηνάς 45 Apt. 7, Λεμεσός, Cyprus 3025") == ""


def test_multi_line_block_is_masked_line_by_line() -> None:
    text = "Shipping address:\n John Smith\n 4 Privet Drive\n Apt. 2\n Little Whinging\n Surrey GU1 1AA\n UK"
    pieces = [text[s:e] for s, e, _ in found(text)]
    assert pieces == ["4 Privet Drive", "Apt. 2", "Little Whinging", "Surrey GU1 1AA", "UK"]


def test_escaped_line_breaks_keep_offsets_and_stay_unmasked() -> None:
    # A block pasted from JSON: the line breaks are a backslash and an "n".
    text = "Ms. Ada Weiss\\n\\n8 Lindenweg 14\\n Suite 3\\n Graz\\n Austria 8010"
    pieces = [text[s:e] for s, e, _ in found(text)]
    assert pieces == ["8 Lindenweg 14", "Suite 3", "Graz", "Austria 8010"]
    assert all("\\" not in p for p in pieces)


def test_us_block_with_city_state_zip_lines() -> None:
    text = "Please send it to 77 Juniper Road Apt. 12\nSpringfield\n, OR\n 97477 thanks"
    assert uncovered(text, "77 Juniper Road Apt. 12\nSpringfield\n, OR\n 97477") == ""
    assert "thanks" not in "".join(text[s:e] for s, e, _ in found(text))


def test_leading_unit_and_building_numbers_join_the_street() -> None:
    text = "Mrs. Lee Suite 210 4411 Oak Lane\nDover DE 19901"
    assert uncovered(text, "Suite 210 4411 Oak Lane\nDover DE 19901") == ""


def test_intersection_with_a_named_corner() -> None:
    text = "Meet me at Harbor and 12 Quayside Road"
    assert uncovered(text, "Harbor and 12 Quayside Road") == ""


def test_lower_case_text() -> None:
    text = "i live at 12 main street, springfield"
    assert uncovered(text, "12 main street, springfield") == ""
    text = "send the parcel to 48 maple avenue please"
    assert uncovered(text, "48 maple avenue") == ""


def test_bare_name_and_number_needs_evidence() -> None:
    # The same "Name 12" shape: an address with an address cue or block around it, not without.
    assert found("Ostrova 27") == []
    assert uncovered("He lives at Ostrova 27", "Ostrova 27") == ""
    assert uncovered("Ostrova 27, 10000 Zagreb, Croatia", "Ostrova 27, 10000 Zagreb, Croatia") == ""
    assert uncovered("Please use 340 Ostrova 27\nApt. 4", "340 Ostrova 27\nApt. 4") == ""


def test_context_raises_the_score() -> None:
    plain = recognizer.analyze("at 9 Kalnu 14", [ENTITY])
    cued = recognizer.analyze("my billing address is 9 Kalnu 14", [ENTITY])
    assert plain and cued
    assert max(r.score for r in cued) > max(r.score for r in plain)


HARD_NEGATIVES = [
    "Upgrade to version 2.3.1 before Friday.",
    "Your order 12345 shipped yesterday.",
    "Order 12345 shipped on Monday",
    "We run Redis 7 on port 6379 behind Nginx.",
    "Install Python 3.11 and Django 5.0 first.",
    "I loved the 2nd Street Fighter game",
    "Meet at 10:30 tomorrow",
    "It costs $25 or 30 EUR",
    "See Section 4 Chapter 12 for details.",
    "Read Section 4, Chapter 12",
    "Windows 11, Office 365 and Ubuntu 22.04 are supported.",
    "Grafana 10 dashboards for Kubernetes 1.29 clusters",
    "We migrated to Django 4 last year and then to Postgres 16.",
    "send the logs to Grafana 10",
    "The Top 10 Python Libraries for Data Science",
    "I read the Wall Street Journal every day.",
    "Call me at 555-1234 after 5 pm",
    "Step 3: run make install",
    "Step 1 Create Path variables",
    "Chapter 2 Event Loop",
    "The meeting is in Room 204.",
    "Deploy via Terraform 1.5 and Helm 3",
    "connect via SSH 2 to the box",
    "The IP address of Redis 7 is 10.0.0.5",
    "Place the file in /etc/nginx.",
    "Use GPT 4 and Claude 3 for that",
    "RFC 2616 defines HTTP 1.1",
    "Gate 12 at Terminal B",
    "Great list: 5 Bands Of The 80s You Forgot",
    "Monday 12 March 2024 at 14:00",
    "Kafka 3, Zookeeper 3.8, Spark 3.5",
    "Top 5 Central Park attractions",
    "2024-05-01 12:00:01 INFO Server started on port 8080",
    '{"id": 12, "retries": 3, "timeout": 30}',
    "Bug 4512 fixed in Release 3",
    "Server 2 is located at rack 14",
    "In 2019 the S&P 500 rose 29%",
]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives(text: str) -> None:
    assert found(text) == []


def pieces(text: str) -> list[str]:
    return [text[s:e] for s, e, _ in found(text)]


# Non-US forms (La Poste, Poste Italiane, Correos/CTT, Royal Mail, India Post conventions): the whole
# address is one span per line, postcode and town included, and nothing around it.
EXACT_SPANS = [
    # French: number before the street, with a comma or "bis"/"ter"; postcode and town after.
    ("Merci d'envoyer à 12, chemin des Vignes, 69003 Lyon avant lundi.",
     ["12, chemin des Vignes, 69003 Lyon"]),
    ("Adresse : 5 bis rue de la Paix\n75002 Paris", ["5 bis rue de la Paix", "75002 Paris"]),
    ("au 3 ter avenue Jean Jaurès, 31000 Toulouse.", ["3 ter avenue Jean Jaurès, 31000 Toulouse"]),
    ("14 impasse du Moulin 33000 Bordeaux", ["14 impasse du Moulin 33000 Bordeaux"]),
    ("le colis est au 27 bd Voltaire 75011 Paris", ["27 bd Voltaire 75011 Paris"]),
    ("8 allée des Tilleuls, 44000 Nantes", ["8 allée des Tilleuls, 44000 Nantes"]),
    ("lieu-dit Les Granges, 24200 Sarlat", ["lieu-dit Les Granges, 24200 Sarlat"]),
    ("Société Arnaud, BP 123, 69003 Lyon CEDEX 03", ["BP 123, 69003 Lyon CEDEX 03"]),
    ("Nouvelle adresse : 4 Rue Victor Hugo, Bât. B, 3e étage, 92100 Boulogne-Billancourt",
     ["4 Rue Victor Hugo, Bât. B, 3e étage, 92100 Boulogne-Billancourt"]),
    # Italian: number after the street, also after a comma; CAP, town and province code.
    ("Spedire a Via Roma 12, 20121 Milano (MI) entro venerdì", ["Via Roma 12, 20121 Milano (MI)"]),
    ("Via G. Garibaldi, 5 - 10122 Torino (TO)", ["Via G. Garibaldi, 5 - 10122 Torino (TO)"]),
    ("Viale Monza 45, int. 4, scala B, 20127 Milano MI",
     ["Viale Monza 45, int. 4, scala B, 20127 Milano MI"]),
    ("P.zza Duomo 3, 50122 Firenze", ["P.zza Duomo 3, 50122 Firenze"]),
    ("Località Case Sparse 12, 53024 Montalcino (SI)", ["Località Case Sparse 12, 53024 Montalcino (SI)"]),
    ("Lungotevere Marzio 3, 00186 Roma", ["Lungotevere Marzio 3, 00186 Roma"]),
    ("Strada Statale 1, km 25, 57022 Castagneto Carducci LI",
     ["Strada Statale 1, km 25, 57022 Castagneto Carducci LI"]),
    # Spanish and Portuguese: floor and door, "s/n", "nº", CEP.
    ("Calle Mayor 5, 3º B, 28013 Madrid", ["Calle Mayor 5, 3º B, 28013 Madrid"]),
    ("Calle de Serrano, 45, 2º izq., 28001 Madrid", ["Calle de Serrano, 45, 2º izq., 28001 Madrid"]),
    ("C/ Mayor, s/n, 28013 Madrid", ["C/ Mayor, s/n, 28013 Madrid"]),
    ("Rua Augusta, nº 100, 1100-053 Lisboa", ["Rua Augusta, nº 100, 1100-053 Lisboa"]),
    ("Av. Paulista, 1578 - Bela Vista, São Paulo - SP, 01310-200",
     ["Av. Paulista, 1578 - Bela Vista, São Paulo - SP, 01310-200"]),
    # German-speaking, Dutch, Greek: a bare name and number earns its place from postcode and town.
    ("Holzschachen 30, 6300 Zug", ["Holzschachen 30, 6300 Zug"]),
    ("Bahnhofstr. 3 8001 Zürich", ["Bahnhofstr. 3 8001 Zürich"]),
    ("Keizersgracht 123\n1015 CJ Amsterdam", ["Keizersgracht 123", "1015 CJ Amsterdam"]),
    ("Leoforos Vasilissis Sofias 12, 106 74 Athens", ["Leoforos Vasilissis Sofias 12, 106 74 Athens"]),
    # UK: flats, house names, locality, town, county and postcode after the street.
    ("Rose Cottage, Mill Lane, Little Snoring, Norfolk NR21 0AB",
     ["Rose Cottage, Mill Lane, Little Snoring, Norfolk NR21 0AB"]),
    ("Flat 2, Rose Court, 10 Park Road, Leeds LS6 2QW", ["Flat 2, Rose Court, 10 Park Road, Leeds LS6 2QW"]),
    ("The Old Rectory, 5 Church Lane, Great Shelford, Cambridge CB22 5EL",
     ["The Old Rectory, 5 Church Lane, Great Shelford, Cambridge CB22 5EL"]),
    ("Mr J Bloggs\nRose Cottage\nMill Lane\nLittle Snoring\nFakenham\nNR21 0AB",
     ["Rose Cottage", "Mill Lane", "Little Snoring", "Fakenham", "NR21 0AB"]),
    ("12a Church Road\nHove\nEast Sussex\nBN3 2AF", ["12a Church Road", "Hove", "East Sussex", "BN3 2AF"]),
    # A town whose first word labels numbers elsewhere ("Port 8080") is still a town.
    ("9 Dock Road\nPORT TALBOT\nSA13 1RB", ["9 Dock Road", "PORT TALBOT", "SA13 1RB"]),
    # India: labelled house numbers, building names, numbered crosses and mains, landmarks, PIN.
    ("Flat No. 204, Sai Residency, 12th Cross, 4th Main, Koramangala, Bengaluru 560034",
     ["Flat No. 204, Sai Residency, 12th Cross, 4th Main, Koramangala, Bengaluru 560034"]),
    ("H.No. 5-6-123, Gandhi Nagar, Hyderabad 500 001", ["H.No. 5-6-123, Gandhi Nagar, Hyderabad 500 001"]),
    ("Plot No. 45, Sector 15, Gurgaon, Haryana 122001", ["Plot No. 45, Sector 15, Gurgaon, Haryana 122001"]),
    ("House No. 12, near Hanuman Temple, Shastri Colony, Jaipur 302001",
     ["House No. 12, near Hanuman Temple, Shastri Colony, Jaipur 302001"]),
    ("22, MG Marg, Gangtok 737101", ["22, MG Marg, Gangtok 737101"]),
    ("No. 14, 2nd Cross Road, Indiranagar, Bengaluru 560038",
     ["No. 14, 2nd Cross Road, Indiranagar, Bengaluru 560038"]),
    ("B-12, Sector 62, Noida 201301", ["B-12, Sector 62, Noida 201301"]),
    ("Flat No. 204, Sai Residency\n12th Cross, 4th Main\nKoramangala\nBengaluru - 560034\nKarnataka",
     ["Flat No. 204, Sai Residency", "12th Cross, 4th Main", "Koramangala", "Bengaluru - 560034",
      "Karnataka"]),
    # Dutch and Belgian house-number marks, streets named after a date, provinces in brackets.
    ("Jan van Galenstraat 5-II, 1051 KM Amsterdam", ["Jan van Galenstraat 5-II, 1051 KM Amsterdam"]),
    ("Oudegracht 158 hs, 3511 AZ Utrecht", ["Oudegracht 158 hs, 3511 AZ Utrecht"]),
    ("Kerkstraat 12 bus 3, 2000 Antwerpen", ["Kerkstraat 12 bus 3, 2000 Antwerpen"]),
    ("ul. 3 Maja 5, 35-030 Rzeszów", ["ul. 3 Maja 5, 35-030 Rzeszów"]),
    ("Via 4 Novembre 12, 00187 Roma", ["Via 4 Novembre 12, 00187 Roma"]),
    ("C/ Gran Vía, 28, 28013 Madrid (Madrid)", ["C/ Gran Vía, 28, 28013 Madrid (Madrid)"]),
    ("Avda. Diagonal 640, 6ª planta, 08017 Barcelona", ["Avda. Diagonal 640, 6ª planta, 08017 Barcelona"]),
    # More UK and Indian shapes: "The" streets, postcodes that look like units, labelled PINs.
    ("12 The Crescent, Bath BA1 2LR", ["12 The Crescent, Bath BA1 2LR"]),
    ("Apartment 5, Riverside House, 2 Quay Street, Manchester M3 3JE",
     ["Apartment 5, Riverside House, 2 Quay Street, Manchester M3 3JE"]),
    ("A-12, Defence Colony, New Delhi 110024", ["A-12, Defence Colony, New Delhi 110024"]),
    ("#45, 1st Floor, 5th Cross, Malleshwaram, Bengaluru, Karnataka, PIN: 560003",
     ["#45, 1st Floor, 5th Cross, Malleshwaram, Bengaluru, Karnataka, PIN: 560003"]),
    ("Door No. 12-3-45, Opp. Bus Stand, Vijayawada - 520001",
     ["Door No. 12-3-45, Opp. Bus Stand, Vijayawada - 520001"]),
    ("Flat 12, Green Park Apartments, Sector 5, Dwarka, New Delhi 110075",
     ["Flat 12, Green Park Apartments, Sector 5, Dwarka, New Delhi 110075"]),
    ("House 45, Shanti Colony, Ajmer Road, Jaipur - 302006",
     ["House 45, Shanti Colony, Ajmer Road, Jaipur - 302006"]),
    # Spanish floors without numbers, "C. de", Italian building units, Polish dotted prefixes.
    ("Calle Mayor 5, bajo, 28013 Madrid", ["Calle Mayor 5, bajo, 28013 Madrid"]),
    ("C. de Alcalá 20, 2º izda., 28014 Madrid", ["C. de Alcalá 20, 2º izda., 28014 Madrid"]),
    ("Avda. de América 12, ático B, 28028 Madrid", ["Avda. de América 12, ático B, 28028 Madrid"]),
    ("Via Garibaldi 7, Palazzina C, 00153 Roma", ["Via Garibaldi 7, Palazzina C, 00153 Roma"]),
    ("Kerkstraat 12, 1017  GC Amsterdam", ["Kerkstraat 12, 1017  GC Amsterdam"]),
    ("dostawa: al. Róż 3/5, 00-556 Warszawa", ["al. Róż 3/5, 00-556 Warszawa"]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), EXACT_SPANS)
def test_non_us_addresses_are_exact_spans(text: str, expected: list[str]) -> None:
    assert pieces(text) == expected


TECHNICAL_NEGATIVES = [
    "We run Redis 7 on port 8080.",
    "Install Python 3.11 first, then see Table 5 and Step 3.",
    "See Chapter 12, page 12, line 42.",
    "Windows 11 is needed; version 2 of the API.",
    "The meeting is in room 101.",
    "Use Route 53 for DNS and S3 for storage.",
    "Block 2, Tower 5, Wing A of the data model",
    "Symphony No. 5, Op. 67 in C minor",
    "Plot No. 3, the residuals look fine",
    "Issue No. 42, Vol. 7, pages 10-20",
    "Python 3, 2020 Edition",
    "Windows 10, 2016 Server and Java 17, 2021 Release",
    "Apache Kafka 3, 2000 Messages per second",
    "The 3rd Main Course was great",
    "The 12th Cross-validation fold",
    "Grid Layout 2 and Secure Enclave 3",
    "Level 3, Block B, Phase 2 of the rollout",
    "Set PIN 560034 for the device",
    "Set the Buffer 4096 Bytes, Timeout 30 Seconds",
    "Place 2 eggs in the bowl, then cook via method 3.",
    "Join at 10 via Zoom, agenda in the doc",
    "A-12, B-14 and C-3 are the test cases",
    "Take bus 3, then line 5 to the office",
    "Model T-1000, rev 2",
    "Use Plot 3, Figure 4, Table 2 for the report",
    "Room 5, Building 7, Floor 2",
    "Flat 3, the rent is due",
    "C. Ronaldo 7, Real Madrid",
]


@pytest.mark.parametrize("text", TECHNICAL_NEGATIVES)
def test_technical_text_with_numbers_is_not_an_address(text: str) -> None:
    assert found(text) == []


def test_lower_case_text_non_us_forms() -> None:
    text = "pls send to flat no. 204, sai residency, 12th cross, koramangala, bengaluru 560034"
    assert pieces(text) == ["flat no. 204, sai residency, 12th cross, koramangala, bengaluru 560034"]
    assert pieces("send it to 12, chemin des vignes, 69003 lyon") == ["12, chemin des vignes, 69003 lyon"]
    assert found("the 2nd main thing, 3rd cross check, and 4th main point") == []
    assert found("python 3, 2020 edition and java 17, 2021 release") == []


def test_rarer_street_types_after_a_house_number() -> None:
    # USPS suffixes such as Crossing, Bend, Hollow anchor only with a number, a name and evidence.
    text = "I'm staying at 45 Maple Crossing, Austin TX 78701"
    assert pieces(text) == ["45 Maple Crossing, Austin TX 78701"]
    assert found("We rode 3 Cedar Point rides yesterday") == []
    assert found("Found 2 Silver Lake. Then left.") == []


def test_et_al_is_no_polish_avenue() -> None:
    # "al." is Polish for "aleja", but after "et" and before a year it is a citation.
    assert found("Smith et al. Nature 2020, 12") == []


def test_other_entities_requested_only() -> None:
    assert recognizer.analyze("I live at 10 Downing Street, London SW1A 2AA", ["PERSON"]) == []


def test_registered_with_the_detector() -> None:
    assert any(isinstance(r, StreetAddressRecognizer) for r in consentry_recognizers())
    assert ENTITY in StreetAddressRecognizer().supported_entities


@pytest.mark.parametrize(
    "text",
    [
        "Enviar a Calle de Fuencarral 45, 3º A, 28004 Madrid",
        "Mi dirección: Avenida de la Constitución 12, 2ºB, 41001 Sevilla",
    ],
)
def test_spanish_floor_and_door_survive_the_normalised_view(text: str) -> None:
    """Detection reads NFKC, where "º" is "o": the floor and door still belong to the address."""
    from proxy.detection import scan_texts

    (spans,) = scan_texts([text])
    street = text[text.index(next(w for w in ("Calle", "Avenida") if w in text)) :]
    assert [text[s.start : s.end] for s in spans if s.entity_type == "STREET_ADDRESS"] == [street]
